import { after, test, type TestContext } from 'node:test';
import { openPostgresDatabase } from '../../registry/state/postgres/database.js';
import { migrate } from '../../registry/state/postgres/migrations.js';
import { openPostgresRepositoryIndex } from '../../registry/storage/postgres-repository-index.js';
import type { RepositoryIndex } from '../../registry/storage/repository-index.js';
import { openSqliteRepositoryIndex } from '../../registry/storage/sqlite-repository-index.js';
import { postgresSkipReason, startPostgres, type PostgresServer } from './services/postgres.js';
import { makeTempDir, type AfterHook } from './temp-dir.js';

/**
 * The metadata index backends, for tests of what sits above the RepositoryIndex interface (the store's write
 * order, the builder, the collector) that must hold on every backend: SQLite in a temp directory, and a fresh
 * database on one throwaway PostgreSQL server per test file (started on first use, stopped after the file).
 */
export interface IndexBackendUnderTest {
  readonly name: 'sqlite' | 'postgres';
  /** node:test's skip reason when the backend's tools are missing (never in CI: requirePostgres fails there). */
  readonly skip: string | undefined;
  /**
   * A fresh, empty index store for test `t`; the function returned opens an instance over it (a fresh process, or
   * another node), closed after the test.
   */
  fresh(t: AfterHook): Promise<() => Promise<RepositoryIndex>>;
}

export function indexBackends(): readonly IndexBackendUnderTest[] {
  let server: Promise<PostgresServer> | undefined;
  after(async () => {
    await (await server?.catch(() => undefined))?.stop();
  });
  return [
    {
      name: 'sqlite',
      skip: undefined,
      async fresh(t) {
        const dir = await makeTempDir(t, 'berth-index-');
        return async () => {
          const index = openSqliteRepositoryIndex(dir);
          t.after(() => index.close());
          return index;
        };
      },
    },
    {
      name: 'postgres',
      skip: postgresSkipReason(),
      async fresh(t) {
        server ??= startPostgres();
        const info = await (await server).createDatabase();
        const target = { url: info.url, password: info.connection.password };
        return async () => {
          const database = openPostgresDatabase(target, { maxConnections: 4 });
          t.after(() => database.close());
          await migrate(database.pool);
          return openPostgresRepositoryIndex(database.pool);
        };
      },
    },
  ];
}

/** Registers `fn` as one test per backend, named after it. */
export function testOnEachIndex(title: string, fn: (t: TestContext, backend: IndexBackendUnderTest) => Promise<void>, backends = sharedBackends()): void {
  for (const backend of backends) test(`${title} [${backend.name}]`, { skip: backend.skip }, (t) => fn(t, backend));
}

let shared: readonly IndexBackendUnderTest[] | undefined;
/** One set of backends (one PostgreSQL server) per test file. */
function sharedBackends(): readonly IndexBackendUnderTest[] {
  shared ??= indexBackends();
  return shared;
}
