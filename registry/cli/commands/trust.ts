import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { isTlsError, tlsPaths, trustInstructions } from '../../tls/index.js';
import { CliUsageError } from '../cli-error.js';
import type { Command } from 'commander';
import { dataDirOf } from '../admin-support.js';
import { leaf, optionsOf } from '../command-kit.js';
import { notRunningNote, serverAddresses } from '../server-address.js';

/**
 * The address clients dial for the HTTPS listener, the running server's (else the settings'): a wildcard or loopback
 * address is reached as `localhost`, the name container tools look up in certs.d.
 */
async function httpsHost(dataDir: string): Promise<string> {
  const { running, https } = await serverAddresses(dataDir);
  if (!running) console.error(`berth: note: ${notRunningNote(dataDir)}`);
  if (https === undefined) {
    console.error('berth: note: the running Berth has no HTTPS listener (--tls-listen off): these steps apply once it has one');
    return 'localhost:5443';
  }
  const url = new URL(https);
  const local = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
  return `${local ? 'localhost' : url.hostname}:${url.port || '443'}`;
}

async function trust(command: Command): Promise<void> {
  const values = optionsOf<{ host?: string }>(command);
  const dataDir = dataDirOf(command);
  const caPath = resolve(tlsPaths(dataDir).caCert);
  const hostPort = values.host ?? (await httpsHost(dataDir));
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

export function registerTrustCommand(program: Command): void {
  leaf(
    program,
    'trust',
    '[--host HOST:PORT]',
    "Prints how to make Docker, containerd, Podman/Skopeo and the system trust Berth's local CA. Berth never runs " +
      'these commands itself (they need administrator rights): copy the ones for the clients you use.',
  )
    .summary("print how to make clients trust Berth's CA")
    .option('--host <HOST:PORT>', "the address clients use (default: the running Berth's HTTPS listener, else the saved one, localhost:5443)")
    .action((_options, command: Command) => trust(command));
}
