import { openPostgresDatabase, type PostgresDatabase } from '../../registry/state/postgres/database.js';
import { migrate } from '../../registry/state/postgres/migrations.js';
import { openPostgresUsageStore } from '../../registry/storage/postgres-usage-store.js';
import { postgresSkipReason, startPostgres } from '../support/services/postgres.js';
import { describeUsageStoreContract } from './usage-store-contract.js';

// A throwaway server for the suite, a fresh migrated database per test; "another instance" is a second pool on
// the same database (another node).
describeUsageStoreContract(
  'postgres',
  async () => {
    const server = await startPostgres();
    const pools: PostgresDatabase[] = [];
    const pool = (target: { url: string; password: string }) => {
      const database = openPostgresDatabase(target, { maxConnections: 4 });
      pools.push(database);
      return database.pool;
    };
    return {
      async fresh() {
        const info = await server.createDatabase();
        const target = { url: info.url, password: info.connection.password };
        const first = pool(target);
        await migrate(first);
        return { store: openPostgresUsageStore(first), another: async () => openPostgresUsageStore(pool(target)) };
      },
      async close() {
        await Promise.all(pools.map((database) => database.close()));
        await server.stop();
      },
    };
  },
  { skip: postgresSkipReason() },
);
