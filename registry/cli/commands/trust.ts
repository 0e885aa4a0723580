import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { defaultDataDir } from '../../config/data-dir.js';
import { parseListenAddress } from '../../config/listen-address.js';
import { stateFileName } from '../../state/index.js';
import { isTlsError, tlsPaths, trustInstructions } from '../../tls/index.js';
import { CliUsageError } from '../cli-error.js';
import { dataDirOf, parseCommandArgs } from '../admin-support.js';

const defaultTlsListen = '127.0.0.1:5443';

export const trustUsage = `berth trust [--host HOST:PORT] [--data DIR]

Prints how to make Docker, containerd, Podman/Skopeo and the system trust Berth's local CA. Berth never runs
these commands itself (they need administrator rights): copy the ones for the clients you use.
  --host HOST:PORT  the address clients use (default: Berth's HTTPS listener, localhost:5443)
  --data DIR        data directory (default: ${defaultDataDir()})`;

/**
 * The address clients dial, from the server's configured HTTPS listener: a wildcard or loopback bind address is
 * reached as `localhost`, the name container tools look up in certs.d.
 */
async function configuredHost(dataDir: string): Promise<string> {
  let tlsListen = defaultTlsListen;
  try {
    // Read, not opened as a store: printing instructions must not create or lock anything.
    const state = JSON.parse(await readFile(join(dataDir, stateFileName), 'utf8')) as { settings?: { tlsListen?: unknown } };
    if (typeof state.settings?.tlsListen === 'string') tlsListen = state.settings.tlsListen;
  } catch {
    // No state yet, or unreadable: the default listener is what a fresh "berth serve" uses.
  }
  try {
    const { host, port } = parseListenAddress(tlsListen);
    const local = ['127.0.0.1', '0.0.0.0', '::', '::1', 'localhost'].includes(host);
    return `${local ? 'localhost' : host.includes(':') ? `[${host}]` : host}:${port}`;
  } catch {
    return 'localhost:5443';
  }
}

export async function trustCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { data: { type: 'string' }, host: { type: 'string' } }, 'berth trust');
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}": the address goes in --host HOST:PORT`);
  const dataDir = dataDirOf(values);
  const caPath = resolve(tlsPaths(dataDir).caCert);
  const hostPort = values.host ?? (await configuredHost(dataDir));
  let text: string;
  try {
    text = trustInstructions({ caPath, hostPort });
  } catch (error) {
    if (isTlsError(error) && error.code === 'BERTH_TLS_NAME_INVALID') throw new CliUsageError(`--host: ${error.message}`);
    throw error;
  }
  if (!existsSync(caPath)) {
    console.error(`berth: note: ${caPath} does not exist yet: start "berth serve --data ${dataDir}" once to create it.`);
  }
  process.stdout.write(text);
}
