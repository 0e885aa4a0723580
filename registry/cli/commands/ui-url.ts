import { createSignInUrl, signInCodeTtlMs } from '../../admin/sign-in.js';
import { CliUsageError } from '../cli-error.js';
import type { Command } from 'commander';
import { dataDirOf, metadataOf, requireDataDir } from '../admin-support.js';
import { leaf, optionsOf } from '../command-kit.js';
import { serverAddresses } from '../server-address.js';

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

async function uiUrl(command: Command): Promise<void> {
  const values = optionsOf<{ https?: boolean; base?: string }>(command);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const base = values.base !== undefined ? parseBase(values.base) : await runningBaseUrl(dataDir, values.https === true);
  const { url } = await createSignInUrl(dataDir, base, metadataOf(command));
  console.log(url);
}

export function registerUiUrlCommand(program: Command): void {
  leaf(
    program,
    'ui-url',
    '[--https] [--base URL]',
    `Prints a one-time link that signs a browser in to the running Berth's web UI. The link works once, for ` +
      `${signInCodeTtlMs / 60_000} minutes; the session it opens lasts 30 days. Treat it like a password: whoever opens it first administers Berth.`,
  )
    .summary('print a one-time sign-in link for the GUI')
    .option('--https', 'link to the HTTPS listener instead of plain HTTP')
    .option('--base <URL>', "the server's address as your browser reaches it, e.g. https://berth.example.lan:5443")
    .action((_options, command: Command) => uiUrl(command));
}
