import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { masterKeyEnv, masterKeyFileEnv, masterKeyRecipe, readMasterKey, type MasterKey } from './master-key.js';
import { MetadataOptionError } from './metadata-option-error.js';
import type { PostgresTarget } from './postgres/database.js';
import type { AppliedMigration } from './postgres/migrations.js';
import type { ResealResult } from './postgres/shared-keys.js';
import { createStateStore, stateFileName, type StateStore } from './state-store.js';
import { readOwnerOnlySecretFile } from '../config/secret-file.js';
import { createAuditLog, type AuditLog } from '../auth/audit-log.js';
import { jwtKeyRelativePath } from '../auth/jwt.js';
import { secretBoxWithKey, secretsKeyRelativePath, type SecretBox } from '../auth/secret-box.js';
import { loadOrCreateSecretKey, readSecretKeyFile } from '../auth/secret-key.js';
import { defaultKeyRingPath, fileKeyRingStore, type KeyRingStore, type MasterKeyEntry } from '../storage/encryption/key-ring.js';

/**
 * Where a Berth instance keeps its shared metadata (the app state), chosen once where the instance is composed:
 * `state.json` in the data directory (the desktop default), or a PostgreSQL database that several Berth nodes
 * share (`--metadata postgres://user@host:port/db`, or `BERTH_METADATA`). Nothing else branches on the backend.
 *
 * The database password never has to be on a command line: a URL that carries one is refused. It comes from
 * PGPASSWORD, from a file named by BERTH_METADATA_PASSWORD_FILE (owner-only, like an ssh key), or from ~/.pgpass
 * (PGPASSFILE), in that order.
 *
 * The keys every node must share (the bearer-token signing key, the secret box's key, the encryption master key
 * ring) follow the backend too: files (in the data directory; the ring in BERTH_ENCRYPTION_KEY_FILE), or rows of the
 * database sealed with the operator's master key (state/master-key.ts).
 */

export type MetadataBackend =
  | { readonly kind: 'file' }
  | {
      readonly kind: 'postgres';
      readonly target: PostgresTarget;
      /** From BERTH_MASTER_KEY_FILE or BERTH_MASTER_KEY; required only where a shared key is opened (checkMasterKey). */
      readonly masterKey?: MasterKey;
    };

export { MetadataOptionError };

export const metadataEnv = 'BERTH_METADATA';
export const metadataPasswordFileEnv = 'BERTH_METADATA_PASSWORD_FILE';

/**
 * The backend from the `--metadata` value (which wins) or BERTH_METADATA; neither, or `file`, is state.json.
 * Reads the password file when one is named, so every mistake surfaces before anything starts.
 */
export function parseMetadataOption(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): MetadataBackend {
  const source = flag !== undefined ? '--metadata' : metadataEnv;
  const value = (flag ?? env[metadataEnv] ?? '').trim();
  if (value === '' || value === 'file') return { kind: 'file' };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new MetadataOptionError(`${source} "${value.slice(0, 80)}" is not a URL: use file, or postgres://USER@HOST:PORT/DATABASE`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new MetadataOptionError(`${source}: unsupported backend "${url.protocol.replace(/:$/, '')}" (use file, or postgres://USER@HOST:PORT/DATABASE)`);
  }
  if (url.password !== '') {
    throw new MetadataOptionError(
      `${source}: the URL contains a password, which would show in the process list and shell history: remove it from the URL ` +
        `and put it in PGPASSWORD, in a file named by ${metadataPasswordFileEnv} (mode 0600), or in ~/.pgpass`,
    );
  }
  if (url.hostname === '') throw new MetadataOptionError(`${source}: the URL names no host (postgres://USER@HOST:PORT/DATABASE)`);
  if (url.pathname.replace(/^\//, '') === '') throw new MetadataOptionError(`${source}: the URL names no database (postgres://USER@HOST:PORT/DATABASE)`);
  const password = env.PGPASSWORD ?? readPasswordFile(env[metadataPasswordFileEnv]);
  // Read now when set, so a loose file or a malformed key is said before anything starts; only the commands that
  // sign or seal insist on one (checkMasterKey): `berth migrate` or `berth token list` have no use for it.
  const masterKey = readMasterKey(env);
  // Without a password here, pg looks in PGPASSFILE / ~/.pgpass itself.
  return { kind: 'postgres', target: { url: url.href, ...(password !== undefined ? { password } : {}) }, ...(masterKey ? { masterKey } : {}) };
}

function readPasswordFile(path: string | undefined): string | undefined {
  if (path === undefined || path === '') return undefined;
  const password = readOwnerOnlySecretFile(metadataPasswordFileEnv, path, (message) => new MetadataOptionError(message))
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (password === '') throw new MetadataOptionError(`${metadataPasswordFileEnv}: ${path} is empty`);
  return password;
}

/** For `berth status` and the start log: `state.json in /data`, or the database URL (never a password). */
export function describeMetadata(backend: MetadataBackend, dataDir: string): string {
  return backend.kind === 'file' ? join(dataDir, stateFileName) : backend.target.url;
}

export interface OpenStateOptions {
  /** Apply pending migrations first (`berth serve`); otherwise a database without Berth's tables is refused. */
  readonly migrate?: boolean;
}

/** The PostgreSQL side, loaded the first time a postgres:// backend is used. */
const postgres = () => import('./postgres/postgres-backend.js');

/** The one place a StateStore is opened for an instance or a CLI command. */
export async function openStateStore(dataDir: string, backend: MetadataBackend, options: OpenStateOptions = {}): Promise<StateStore> {
  if (backend.kind === 'file') return createStateStore(dataDir);
  const { openPostgresDatabase, migrate, createPostgresStateStore } = await postgres();
  const database = openPostgresDatabase(backend.target);
  try {
    if (options.migrate) await migrate(database.pool);
    return await createPostgresStateStore(database, { onClose: () => database.close() });
  } catch (error) {
    await database.close();
    throw new Error(`metadata database ${backend.target.url}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The audit trail that goes with the backend: day files in the data directory, or the database's table, which
 * every node writes and reads (so `berth audit` on any node shows them all). Its own small pool: audit writes
 * must not wait behind state transactions.
 */
export async function openAuditLog(dataDir: string, backend: MetadataBackend): Promise<AuditLog> {
  if (backend.kind === 'file') return createAuditLog(dataDir);
  const { openPostgresDatabase, createPostgresAuditLog } = await postgres();
  const database = openPostgresDatabase(backend.target, { maxConnections: 4 });
  return createPostgresAuditLog(database, { onClose: () => database.close() });
}

/**
 * The keys every node must share, by what they are for: the file that holds each with the file backend (created
 * on first use, as it always was), and its row name in the database's berth_secrets table.
 */
const sharedKeys = {
  jwt: { file: jwtKeyRelativePath, row: 'jwt-signing-key' },
  secretBox: { file: secretsKeyRelativePath, row: 'secret-box-key' },
} as const;

export type SharedKeyName = keyof typeof sharedKeys;

/**
 * Throws, saying how to make one, when the backend needs a master key and none is set. `berth serve` calls it
 * first thing, so a node without one fails at start, before it migrates or listens.
 */
export function checkMasterKey(backend: MetadataBackend): void {
  if (backend.kind === 'postgres') masterKeyOf(backend);
}

function masterKeyOf(backend: Extract<MetadataBackend, { kind: 'postgres' }>): MasterKey {
  if (backend.masterKey) return backend.masterKey;
  throw new MetadataOptionError(
    `--metadata postgres:// needs the master key that seals the keys every node shares (bearer-token signing, upstream ` +
      `passwords), and neither ${masterKeyFileEnv} nor ${masterKeyEnv} is set: ${masterKeyRecipe}`,
  );
}

/**
 * The one place a shared key is opened for an instance or a CLI command: the data directory's file, or the
 * database's row (created by the first node that needs it). A node that already had the file from before its
 * cluster shared keys (an older README had them copied to every node) offers that one as the first, so tokens and
 * sealed upstream passwords keep working across the upgrade; otherwise the first is random.
 */
export async function openSharedKey(dataDir: string, backend: MetadataBackend, which: SharedKeyName): Promise<Buffer> {
  const { file, row } = sharedKeys[which];
  if (backend.kind === 'file') return loadOrCreateSecretKey(dataDir, file);
  const masterKey = masterKeyOf(backend);
  const { openPostgresDatabase, loadOrCreateSharedKey } = await postgres();
  const database = openPostgresDatabase(backend.target, { maxConnections: 1 });
  try {
    return await loadOrCreateSharedKey(database.pool, masterKey, row, async () => (await readSecretKeyFile(dataDir, file)) ?? randomBytes(32));
  } catch (error) {
    throw new Error(`metadata database ${backend.target.url}: ${(error as Error).message}`, { cause: error });
  } finally {
    await database.close();
  }
}

/** The secret box that seals upstream passwords, over the backend's shared key (`auth/secrets.key` with the file backend). */
export async function openSecretBox(dataDir: string, backend: MetadataBackend): Promise<SecretBox> {
  return secretBoxWithKey(await openSharedKey(dataDir, backend, 'secretBox'));
}

/** The encryption key ring's store, and close() for what it holds open. */
export interface OpenKeyRing {
  readonly store: KeyRingStore;
  close(): Promise<void>;
}

/**
 * Where the encryption master key ring is kept, by the backend, with no exception: the ring file
 * (BERTH_ENCRYPTION_KEY_FILE, default ~/.config/berth/encryption-keys.json) with the file backend; one row of the
 * database with PostgreSQL (state/postgres/shared-key-ring.ts), which every node and CLI shares. There a ring file is
 * only ever `earlierRing`'s source: the ring a cluster shared as a file before, stored once as the first.
 */
export async function openKeyRing(backend: MetadataBackend, options: { earlierRing?: () => Promise<readonly MasterKeyEntry[] | undefined> } = {}): Promise<OpenKeyRing> {
  if (backend.kind === 'file') return { store: fileKeyRingStore(defaultKeyRingPath()), close: async () => undefined };
  const { openPostgresDatabase, sharedKeyRingStore } = await postgres();
  // Its own small pool: a version poll or a ring read must not wait behind state transactions.
  const database = openPostgresDatabase(backend.target, { maxConnections: 2 });
  const store = sharedKeyRingStore(database.pool, {
    label: database.label,
    masterKey: () => masterKeyOf(backend),
    ...(options.earlierRing ? { earlierRing: options.earlierRing } : {}),
  });
  return { store, close: () => database.close() };
}

/** `berth secrets rotate-master`: every shared key sealed with `next` instead of the master key in use, the keys themselves kept. */
export async function rotateMasterKey(backend: MetadataBackend, next: MasterKey): Promise<ResealResult> {
  if (backend.kind === 'file') throw new MetadataOptionError('the file backend has no master key: its keys are files in the data directory');
  const current = masterKeyOf(backend);
  const { openPostgresDatabase, resealSharedKeys } = await postgres();
  const database = openPostgresDatabase(backend.target, { maxConnections: 1 });
  try {
    return await resealSharedKeys(database.pool, current, next, Object.values(sharedKeys).map((key) => key.row));
  } catch (error) {
    throw new Error(`metadata database ${backend.target.url}: ${(error as Error).message}`, { cause: error });
  } finally {
    await database.close();
  }
}

/** `berth migrate`: applies what is pending and says what. The file backend has no migrations. */
export async function migrateMetadata(backend: MetadataBackend): Promise<AppliedMigration[]> {
  if (backend.kind === 'file') return [];
  const { openPostgresDatabase, migrate } = await postgres();
  const database = openPostgresDatabase(backend.target);
  try {
    return await migrate(database.pool);
  } catch (error) {
    throw new Error(`metadata database ${backend.target.url}: ${(error as Error).message}`, { cause: error });
  } finally {
    await database.close();
  }
}
