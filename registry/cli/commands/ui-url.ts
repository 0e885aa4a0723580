import { createSignInUrl, signInCodeTtlMs } from '../../admin/sign-in.js';
import { defaultDataDir } from '../../config/data-dir.js';
import { parseListenAddress } from '../../config/listen-address.js';
import { createStateStore } from '../../state/index.js';
import { CliUsageError } from '../cli-error.js';
import { dataDirOf, parseCommandArgs, requireDataDir } from '../admin-support.js';

export const uiUrlUsage = `berth ui-url [--https] [--base URL] [--data DIR]

Prints a one-time link that signs a browser in to Berth's web UI. The link works once, for ${signInCodeTtlMs / 60_000} minutes;
the session it opens lasts 30 days. Treat it like a password: whoever opens it first administers Berth.
  --https     link to the HTTPS listener (settings.tlsListen) instead of plain HTTP (settings.listen)
  --base URL  the server's address as your browser reaches it, e.g. https://berth.example.lan:5443
  --data DIR  data directory (default: ${defaultDataDir()}); works while "berth serve" runs on it`;

/** Where the browser finds the server: a HOST:PORT setting as a URL (`0.0.0.0` and `::` are not dialable). */
function urlOf(scheme: 'http' | 'https', address: string): string {
  const { host, port } = parseListenAddress(address);
  const dialable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `${scheme}://${dialable.includes(':') ? `[${dialable}]` : dialable}:${port}`;
}

/** The base URL from the saved settings, with startBerth's defaults. */
export async function defaultBaseUrl(dataDir: string, https: boolean): Promise<string> {
  const state = await createStateStore(dataDir);
  try {
    const settings = state.read().settings;
    if (https) return urlOf('https', typeof settings.tlsListen === 'string' && settings.tlsListen ? settings.tlsListen : '127.0.0.1:5443');
    return urlOf('http', typeof settings.listen === 'string' && settings.listen ? settings.listen : '127.0.0.1:5000');
  } finally {
    await state.close();
  }
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
  let base = values.base;
  if (base !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(base);
    } catch {
      throw new CliUsageError(`invalid --base "${base.slice(0, 80)}": a URL such as http://127.0.0.1:5000`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliUsageError('--base must start with http:// or https://');
    base = parsed.origin;
  }
  const { url } = await createSignInUrl(dataDir, base ?? (await defaultBaseUrl(dataDir, values.https === true)));
  console.log(url);
}
