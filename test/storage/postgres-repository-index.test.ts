import { openPostgresDatabase, type PostgresDatabase } from '../../registry/state/postgres/database.js';
import { migrate } from '../../registry/state/postgres/migrations.js';
import { openPostgresRepositoryIndex } from '../../registry/storage/postgres-repository-index.js';
import { postgresSkipReason, startPostgres } from '../support/services/postgres.js';
import { describeRepositoryIndexContract } from './repository-index-contract.js';

// A throwaway server for the suite, a fresh migrated database per test; "another instance" is a second pool on
// the same database (another node).
describeRepositoryIndexContract(
  'postgres',
  async () => {
    const server = await startPostgres();
    const pools: PostgresDatabase[] = [];
    const node = (target: { url: string; password: string }) => {
      const database = openPostgresDatabase(target, { maxConnections: 4 });
      pools.push(database);
      return openPostgresRepositoryIndex(database.pool);
    };
    return {
      async fresh() {
        const info = await server.createDatabase();
        const target = { url: info.url, password: info.connection.password };
        const first = openPostgresDatabase(target, { maxConnections: 4 });
        pools.push(first);
        await migrate(first.pool);
        return { index: openPostgresRepositoryIndex(first.pool), another: async () => node(target) };
      },
      async close() {
        await Promise.all(pools.map((database) => database.close()));
        await server.stop();
      },
    };
  },
  { skip: postgresSkipReason() },
);
