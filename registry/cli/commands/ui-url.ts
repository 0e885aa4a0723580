import { createSignInUrl, signInCodeTtlMs } from '../../admin/sign-in.js';
import { defaultDataDir } from '../../config/data-dir.js';
import { CliUsageError } from '../cli-error.js';
import { dataDirOf, parseCommandArgs, requireDataDir } from '../admin-support.js';
import { serverAddresses } from '../server-address.js';

export const uiUrlUsage = `berth ui-url [--https] [--base URL] [--data DIR]

Prints a one-time link that signs a browser in to the running Berth's web UI. The link works once, for
${signInCodeTtlMs / 60_000} minutes; the session it opens lasts 30 days. Treat it like a password: whoever opens it first administers Berth.
  --https     link to the HTTPS listener instead of plain HTTP
  --base URL  the server's address as your browser reaches it, e.g. https://berth.example.lan:5443
  --data DIR  data directory (default: ${defaultDataDir()})`;

/**
 * The running server's own address. Without a running server there is no link: a code sent to whatever listens on
 * the default port could be redeemed by someone else.
 */
async function runningBaseUrl(dataDir: string, https: boolean): Promise<string> {
  const addresses = await serverAddresses(dataDir);
  if (!addresses.running) {
    throw new Error(`no Berth server is running on ${dataDir}: start it with "berth serve --data ${dataDir}" (or npm start), then run berth ui-url again`);
  }
  const url = https ? addresses.https : (addresses.http ?? addresses.https);
  if (!url) throw new Error(`the running Berth has no ${https ? 'HTTPS' : 'HTTP'} listener: see "berth status --data ${dataDir}"`);
  return url;
}

function parseBase(base: string): string {
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw new CliUsageError(`invalid --base "${base.slice(0, 80)}": a URL such as http://127.0.0.1:5000`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliUsageError('--base must start with http:// or https://');
  return parsed.origin;
}

export async function uiUrlCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(
    argv,
    { data: { type: 'string' }, https: { type: 'boolean', default: false }, base: { type: 'string' } },
    'berth ui-url',
  );
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}": berth ui-url takes only options`);
  const dataDir = dataDirOf(values);
  requireDataDir(dataDir);
  const base = values.base !== undefined ? parseBase(values.base) : await runningBaseUrl(dataDir, values.https === true);
  const { url } = await createSignInUrl(dataDir, base);
  console.log(url);
}
