import { readFileSync, statSync } from 'node:fs';
import { inspect } from 'node:util';
import { MetadataOptionError } from './metadata-option-error.js';

/**
 * The operator's key-encryption key for a shared metadata database: it seals the keys every node must hold alike
 * (state/postgres/shared-keys.ts), so the database alone (a dump, a backup, a read-only role) never yields them.
 * It comes from a file named by BERTH_MASTER_KEY_FILE (owner-only, like an ssh key: 32 random bytes, raw or
 * base64) or from BERTH_MASTER_KEY (base64); never from the command line. The file backend does not use it.
 */

export const masterKeyFileEnv = 'BERTH_MASTER_KEY_FILE';
export const masterKeyEnv = 'BERTH_MASTER_KEY';

/** How to make one, pasteable; every message that asks for a master key says it. */
export const masterKeyRecipe =
  'openssl rand -base64 32 > /etc/berth/master.key && chmod 600 /etc/berth/master.key, ' +
  `then give every node the same file and set ${masterKeyFileEnv}=/etc/berth/master.key`;

/** The 32 key bytes, kept out of JSON, util.inspect and logs (a logged MetadataBackend shows only where it came from). */
export class MasterKey {
  readonly #bytes: Buffer;
  /** `BERTH_MASTER_KEY_FILE /etc/berth/master.key` or `BERTH_MASTER_KEY`: for messages. */
  readonly source: string;

  constructor(bytes: Buffer, source: string) {
    if (bytes.length !== 32) throw new MetadataOptionError(`${source}: a master key is 32 bytes, not ${bytes.length}`);
    this.#bytes = Buffer.from(bytes);
    this.source = source;
  }

  bytes(): Buffer {
    return this.#bytes;
  }

  toJSON(): string {
    return `[master key from ${this.source}]`;
  }

  [inspect.custom](): string {
    return this.toJSON();
  }
}

/**
 * 44 characters of base64 (with or without the final `=`): what `openssl rand -base64 32` prints. Node's base64
 * decoder also takes the URL-safe alphabet.
 */
const base64Key = /^[A-Za-z0-9+/_-]{43}=?$/;

/** The master key from the environment, or undefined when none is set; a set one that is unusable is refused here. */
export function readMasterKey(env: NodeJS.ProcessEnv = process.env): MasterKey | undefined {
  const file = env[masterKeyFileEnv] ?? '';
  const inline = env[masterKeyEnv] ?? '';
  if (file !== '' && inline !== '') {
    throw new MetadataOptionError(`both ${masterKeyFileEnv} and ${masterKeyEnv} are set: set one (the file is safer: the environment is inherited by child processes)`);
  }
  if (file !== '') return readMasterKeyFile(file, masterKeyFileEnv);
  if (inline !== '') {
    const text = inline.trim();
    if (!base64Key.test(text)) {
      throw new MetadataOptionError(`${masterKeyEnv} is not 32 bytes in base64 (44 characters, as "openssl rand -base64 32" prints them)`);
    }
    return new MasterKey(Buffer.from(text, 'base64'), masterKeyEnv);
  }
  return undefined;
}

/** A master key file (owner-only; 32 bytes raw or base64); `label` names where the path came from in messages. */
export function readMasterKeyFile(path: string, label: string): MasterKey {
  return new MasterKey(readKeyFileBytes(path, label), `${label} ${path}`);
}

function readKeyFileBytes(path: string, label: string): Buffer {
  let mode: number;
  let isFile: boolean;
  try {
    const stats = statSync(path);
    mode = stats.mode;
    isFile = stats.isFile();
  } catch (error) {
    throw new MetadataOptionError(`${label}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (!isFile) throw new MetadataOptionError(`${label}: ${path} is not a file`);
  if ((mode & 0o077) !== 0) {
    throw new MetadataOptionError(`${label}: ${path} is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 ${path}`);
  }
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (error) {
    throw new MetadataOptionError(`${label}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  // Text first: 32 raw bytes are never 43-44 base64 characters, so the two forms cannot be mistaken for each other.
  const text = content.toString('latin1').trim();
  if (base64Key.test(text)) return Buffer.from(text, 'base64');
  if (content.length === 32) return content;
  throw new MetadataOptionError(
    `${label}: ${path} holds ${content.length} bytes, not a master key (32 random bytes, raw or base64): make one with ${masterKeyRecipe}`,
  );
}
