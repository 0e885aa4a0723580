import { chmod, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { defaultDataDir } from '../../config/data-dir.js';
import { exportCaCertificate, isTlsError } from '../../tls/index.js';
import { CliUsageError } from '../cli-error.js';
import { dataDirOf, parseCommandArgs } from '../admin-support.js';

export const caUsage = `berth ca export [--out FILE] [--data DIR]

Prints Berth's local CA certificate (PEM), or writes it to FILE (mode 0644: it is public).
Add it to the trust store of every client that talks to Berth over HTTPS ("berth trust" shows how).
  --out FILE  write to FILE instead of standard output
  --data DIR  data directory (default: ${defaultDataDir()})`;

async function exportCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { data: { type: 'string' }, out: { type: 'string' } }, 'berth ca');
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}": use --out FILE to write a file`);
  const dataDir = dataDirOf(values);
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

export async function caCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'export') {
    throw new CliUsageError(`${sub ? `unknown ca command "${sub}"` : 'missing ca command'}: use "berth ca export"\n\n${caUsage}`);
  }
  await exportCommand(rest);
}
