import type { Command } from 'commander';
import { readMasterKeyFile } from '../../state/master-key.js';
import { rotateMasterKey } from '../../state/metadata-backend.js';
import { auditAdmin, dataDirOf, metadataOf } from '../admin-support.js';
import { CliUsageError } from '../cli-error.js';
import { group, leaf, optionsOf, requireOption } from '../command-kit.js';

/**
 * `berth secrets rotate-master --new-key-file FILE`: the keys the nodes share (in the PostgreSQL metadata
 * database) re-sealed with a new master key. The keys stay the same, so running nodes, issued tokens and sealed
 * upstream passwords are not disturbed; only a node that starts afterwards needs the new master key.
 */
async function rotateMaster(command: Command): Promise<void> {
  const values = optionsOf<{ newKeyFile?: string }>(command);
  const metadata = metadataOf(command);
  if (metadata.kind === 'file') {
    throw new CliUsageError('berth secrets rotate-master is for a PostgreSQL metadata database: pass --metadata postgres://USER@HOST:PORT/DATABASE (or set BERTH_METADATA); the file backend keeps its keys in the data directory');
  }
  const path = requireOption(command, values.newKeyFile, '--new-key-file');
  const next = readMasterKeyFile(path, '--new-key-file');
  const result = await rotateMasterKey(metadata, next);
  const changed = [...result.resealed, ...result.created];
  await auditAdmin(dataDirOf(command), metadata, { action: 'secrets.rotate-master', detail: { resealed: result.resealed, created: result.created } });
  if (changed.length === 0) {
    console.log(`Every shared key was sealed with the master key in ${path} already: nothing to do.`);
    return;
  }
  console.log(`Sealed ${changed.length} shared key(s) with the master key in ${path}: ${changed.join(', ')}.`);
  console.log('The keys themselves are unchanged: running nodes, issued tokens and upstream passwords keep working.');
  console.log(`Give every node the new file (BERTH_MASTER_KEY_FILE=${path}, or the file's content in place of the old one) before it next starts: a node started with the old master key is now refused.`);
}

export function registerSecretsCommands(program: Command): void {
  const secrets = group(
    program,
    'secrets',
    'the keys the nodes share (PostgreSQL metadata): re-seal them with a new master key (rotate-master)',
    'The keys every node of a cluster shares (bearer-token signing, upstream passwords), kept in the metadata database sealed with the master key.',
  );
  leaf(
    secrets,
    'rotate-master',
    '--new-key-file FILE',
    'Re-seals the shared keys in the PostgreSQL metadata database with the master key in FILE (owner-only, 32 bytes ' +
      'raw or base64: openssl rand -base64 32 > FILE && chmod 600 FILE), opening them with the current one ' +
      '($BERTH_MASTER_KEY_FILE or $BERTH_MASTER_KEY). All or nothing. The keys stay the same: nothing running is ' +
      'disturbed, and every node needs the new master key before it next starts.',
  )
    .option('--new-key-file <FILE>', 'the new master key')
    .action((_options, command: Command) => rotateMaster(command));
}
