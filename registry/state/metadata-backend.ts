import { join } from 'node:path';
import { openPostgresDatabase, type PostgresTarget } from './postgres/database.js';
import { migrate, type AppliedMigration } from './postgres/migrations.js';
import { createPostgresStateStore } from './postgres/postgres-state-store.js';
import { createStateStore, stateFileName, type StateStore } from './state-store.js';
import { readOwnerOnlySecretFile } from '../config/secret-file.js';
import { createAuditLog, type AuditLog } from '../auth/audit-log.js';
import { createPostgresAuditLog } from '../auth/postgres-audit-log.js';

/**
 * Where a Berth instance keeps its shared metadata (the app state), chosen once where the instance is composed:
 * `state.json` in the data directory (the desktop default), or a PostgreSQL database that several Berth nodes
 * share (`--metadata postgres://user@host:port/db`, or `BERTH_METADATA`). Nothing else branches on the backend.
 *
 * The database password never has to be on a command line: a URL that carries one is refused. It comes from
 * PGPASSWORD, from a file named by BERTH_METADATA_PASSWORD_FILE (owner-only, like an ssh key), or from ~/.pgpass
 * (PGPASSFILE), in that order.
 */

export type MetadataBackend =
  | { readonly kind: 'file' }
  | { readonly kind: 'postgres'; readonly target: PostgresTarget };

/** A mistake in `--metadata`/`BERTH_METADATA`: said in the option's terms; the CLI exits 2 on it. */
export class MetadataOptionError extends Error {
  readonly code = 'BERTH_METADATA_OPTION';
  constructor(message: string) {
    super(message);
    this.name = 'MetadataOptionError';
  }
}

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
  // Without a password here, pg looks in PGPASSFILE / ~/.pgpass itself.
  return { kind: 'postgres', target: { url: url.href, ...(password !== undefined ? { password } : {}) } };
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

/** The one place a StateStore is opened for an instance or a CLI command. */
export async function openStateStore(dataDir: string, backend: MetadataBackend, options: OpenStateOptions = {}): Promise<StateStore> {
  if (backend.kind === 'file') return createStateStore(dataDir);
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
  const database = openPostgresDatabase(backend.target, { maxConnections: 4 });
  return createPostgresAuditLog(database, { onClose: () => database.close() });
}

/** `berth migrate`: applies what is pending and says what. The file backend has no migrations. */
export async function migrateMetadata(backend: MetadataBackend): Promise<AppliedMigration[]> {
  if (backend.kind === 'file') return [];
  const database = openPostgresDatabase(backend.target);
  try {
    return await migrate(database.pool);
  } catch (error) {
    throw new Error(`metadata database ${backend.target.url}: ${(error as Error).message}`, { cause: error });
  } finally {
    await database.close();
  }
}
