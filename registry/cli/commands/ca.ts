import { chmod, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createCertificateManager, exportCaCertificate, isTlsError, parseSubjectName } from '../../tls/index.js';
import type { Command } from 'commander';
import { auditAdmin, dataDirOf, metadataOf, openState, requireDataDir } from '../admin-support.js';
import { failUsage, group, leaf, optionsOf, repeatable } from '../command-kit.js';

async function exportCa(command: Command): Promise<void> {
  const values = optionsOf<{ out?: string }>(command);
  const dataDir = dataDirOf(command);
  let pem: string;
  try {
    pem = await exportCaCertificate(dataDir);
  } catch (error) {
    if (isTlsError(error) && error.code === 'BERTH_TLS_CA_MISSING') {
      throw new Error(`no CA certificate in ${resolve(dataDir)} yet: start "berth serve --data ${dataDir}" once to create it, then export again`);
    }
    throw error;
  }
  if (values.out === undefined) {
    process.stdout.write(pem);
    return;
  }
  const out = resolve(values.out);
  await writeFile(out, pem, { mode: 0o644 });
  // writeFile's mode applies only to a new file: an existing one keeps whatever mode it had.
  await chmod(out, 0o644);
  console.log(`Wrote Berth's CA certificate to ${out}`);
}

async function rotateCa(command: Command): Promise<void> {
  const values = optionsOf<{ tlsName?: string[] }>(command);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const added = (values.tlsName ?? []).map((name) => {
    try {
      return parseSubjectName(name).value;
    } catch (error) {
      return failUsage(command, `--tls-name: ${(error as Error).message}`);
    }
  });
  const state = await openState(dataDir, metadataOf(command));
  try {
    const saved = state.read().settings.tlsNames ?? [];
    const tlsNames = [...new Set([...saved, ...added])];
    // The certificates first, the setting second: a running server that sees the new names finds a CA for them.
    const certificates = createCertificateManager({ dataDir, names: tlsNames });
    const set = await certificates.rotateCa().finally(() => certificates.close());
    const newNames = tlsNames.filter((name) => !saved.includes(name));
    if (newNames.length > 0) await state.update((draft) => void (draft.settings.tlsNames = tlsNames));
    await auditAdmin(dataDir, metadataOf(command), { action: 'ca.rotate', detail: { fingerprint256: set.ca.fingerprint256, permits: set.caPermits, addedNames: newNames } });
    const permits = (set.caPermits ?? []).map((name) => name.replace(/^(DNS|IP):/, '')).join(', ');
    console.log(`Made a new local CA: ${set.paths.caCert}`);
    console.log(`  SHA-256 fingerprint ${set.ca.fingerprint256}`);
    console.log(`  valid until ${set.ca.notAfter.toISOString().slice(0, 10)}, signs only for: ${permits}`);
    if (newNames.length > 0) console.log(`Added TLS name(s): ${newNames.join(', ')}`);
    console.log('Issued a new server certificate from it; a running Berth serves it at once.');
    console.log('Every client that trusted the old CA must trust this one instead (replace the old ca.crt wherever you copied it): "berth trust" prints the steps.');
  } finally {
    await state.close();
  }
}

export function registerCaCommands(program: Command): void {
  const ca = group(program, 'ca', "export Berth's local CA certificate, or replace it (rotate)", "Berth's local certificate authority, which signs its HTTPS certificate.");
  leaf(
    ca,
    'export',
    '[--out FILE]',
    'Prints Berth\'s local CA certificate (PEM), or writes it to FILE (mode 0644: it is public). Add it to the trust store ' +
      'of every client that talks to Berth over HTTPS ("berth trust" shows how).',
  )
    .option('--out <FILE>', 'write to FILE instead of standard output')
    .action((_options, command: Command) => exportCa(command));
  leaf(
    ca,
    'rotate',
    '[--tls-name NAME]...',
    'Replaces the local CA with a new one, and the server certificate with one it signs. The CA may sign only for ' +
      "localhost, the loopback addresses, this host's name and the TLS names (its name constraints, fixed when it is " +
      'made): rotate to add a name outside them, or to replace a CA made by an older Berth without constraints. Every ' +
      'client that trusted the old CA must then trust the new one. A running Berth serves the new certificate at once.',
  )
    .option('--tls-name <NAME>', 'also add NAME (a DNS name or IP address) to the TLS names; repeatable', repeatable)
    .action((_options, command: Command) => rotateCa(command));
}
