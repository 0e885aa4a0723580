import type { Command } from 'commander';
import {
  enableEncryption,
  encryptionStatus,
  rotateMasterKey,
  type EnableResult,
  type EncryptionStatus,
  type RotateResult,
} from '../../storage/encryption/encryption-operations.js';
import { auditAdmin, dataDirOf, metadataOf, requireDataDir, storageOf, withStorage } from '../admin-support.js';
import { group, jsonOption, leaf, optionsOf } from '../command-kit.js';
import { formatBytes } from '../format.js';

/**
 * `berth encryption status|enable|rotate`: encryption at rest of the storage this command opens (--storage, or the
 * data directory). Each works online, beside a running server: see storage/encryption/encryption-operations.ts.
 */

async function run<T>(command: Command, work: Parameters<typeof withStorage<T>>[3]): Promise<T> {
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  return withStorage(dataDir, storageOf(command), metadataOf(command), work);
}

export function formatStatus(status: EncryptionStatus): string {
  const lines = [
    status.enabled
      ? `Encryption at rest: on (since ${status.enabledAt ?? '?'}).`
      : `Encryption at rest: off${status.offChosenAt ? ` (chosen with --encryption off at the first start, ${status.offChosenAt})` : ''} (enable it with "berth encryption enable").`,
    `Master keys: ${status.keyRing.activeKey ? `${status.keyRing.activeKey} active` : 'none yet'}${status.keyRing.retiredKeys.length > 0 ? `, ${status.keyRing.retiredKeys.join(', ')} retired` : ''} (${status.keyRing.source}).`,
    `Blobs: ${status.blobs.encrypted} encrypted, ${status.blobs.plaintext} plaintext.`,
  ];
  if (status.enabled && status.blobs.plaintext > 0) lines.push('Run "berth encryption enable" again to encrypt the plaintext ones.');
  return lines.join('\n');
}

export function formatEnable(result: EnableResult): string {
  const lines = [
    `${result.createdKeyRing ? 'Made a new master key ring' : 'Using the master key ring'} (active key ${result.activeKey}); new content is written encrypted.`,
    `Encrypted ${result.encrypted} existing blob${result.encrypted === 1 ? '' : 's'} (${formatBytes(result.bytes)}); ${result.alreadyEncrypted} were encrypted already.`,
  ];
  if (result.createdKeyRing) lines.push(`Back up the key ring (${result.keyRing}) apart from the data: without it the content cannot be read.`);
  if (result.damaged.length > 0) lines.push(`Left as they are (stored bytes do not match their digest): ${result.damaged.join(', ')}`);
  return lines.join('\n');
}

export function formatRotate(result: RotateResult): string {
  const lines = [`New master key ${result.activeKey} (was ${result.previousKey}); re-wrapped ${result.rewrapped} of ${result.dataKeys} data keys (no blob was rewritten).`];
  if (result.dropped.length > 0) lines.push(`Dropped from the ring: ${result.dropped.join(', ')}.`);
  if (result.kept.length > 0) lines.push(`Still retired in the ring (data keys use them): ${result.kept.join(', ')}; run rotate again later.`);
  return lines.join('\n');
}

export function registerEncryptionCommands(program: Command): void {
  const encryption = group(
    program,
    'encryption',
    'encryption at rest of image content: status, enable, rotate the master key',
    'Encrypts blobs, manifests and upload data with AES-256-GCM, each with its own data key wrapped by a master key ' +
      'kept outside the data: with --metadata postgres:// in the database (sealed with the master key, shared by every node), ' +
      'else in BERTH_ENCRYPTION_KEY_FILE (default ~/.config/berth/encryption-keys.json).',
  );
  leaf(encryption, 'status', '[--json]', 'Whether new content is written encrypted, the master key ids, and how many blobs are encrypted.')
    .addOption(jsonOption('print the status as JSON'))
    .action(async (_options, command: Command) => {
      const status = await run(command, (driver) => encryptionStatus(driver));
      console.log(optionsOf<{ json?: boolean }>(command).json ? JSON.stringify(status, null, 2) : formatStatus(status));
    });
  leaf(
    encryption,
    'enable',
    '[--json]',
    'Turns encryption on (a running Berth writes new content encrypted within seconds) and encrypts the existing ' +
      'blobs in place, one at a time, while pulls and pushes go on. Makes the master key ring when there is none.',
  )
    .addOption(jsonOption('print the figures as JSON'))
    .action(async (_options, command: Command) => {
      const result = await run(command, (driver) => enableEncryption(driver));
      await auditAdmin(dataDirOf(command), metadataOf(command), { action: 'storage.encryption.enable', detail: { encrypted: result.encrypted, bytes: result.bytes, activeKey: result.activeKey } });
      console.log(optionsOf<{ json?: boolean }>(command).json ? JSON.stringify(result, null, 2) : formatEnable(result));
    });
  leaf(
    encryption,
    'rotate',
    '[--json]',
    'Makes a new master key and re-wraps every data key with it (only the small key files are rewritten), while ' +
      'pulls and pushes go on; the old key leaves the ring once nothing uses it.',
  )
    .addOption(jsonOption('print the figures as JSON'))
    .action(async (_options, command: Command) => {
      const result = await run(command, (driver) => rotateMasterKey(driver));
      await auditAdmin(dataDirOf(command), metadataOf(command), { action: 'storage.encryption.rotate', detail: { activeKey: result.activeKey, previousKey: result.previousKey, rewrapped: result.rewrapped } });
      console.log(optionsOf<{ json?: boolean }>(command).json ? JSON.stringify(result, null, 2) : formatRotate(result));
    });
}
