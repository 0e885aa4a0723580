import { chmod, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { exportCaCertificate, isTlsError } from '../../tls/index.js';
import type { Command } from 'commander';
import { dataDirOf } from '../admin-support.js';
import { group, leaf, optionsOf } from '../command-kit.js';

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

export function registerCaCommands(program: Command): void {
  const ca = group(program, 'ca', "export Berth's local CA certificate", "Berth's local certificate authority, which signs its HTTPS certificate.");
  leaf(
    ca,
    'export',
    '[--out FILE]',
    'Prints Berth\'s local CA certificate (PEM), or writes it to FILE (mode 0644: it is public). Add it to the trust store ' +
      'of every client that talks to Berth over HTTPS ("berth trust" shows how).',
  )
    .option('--out <FILE>', 'write to FILE instead of standard output')
    .action((_options, command: Command) => exportCa(command));
}
