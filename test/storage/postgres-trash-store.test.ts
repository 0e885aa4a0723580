import { openPostgresTrashStore } from '../../registry/lifecycle/postgres-trash-store.js';
import { openPostgresDatabase, type PostgresDatabase } from '../../registry/state/postgres/database.js';
import { migrate } from '../../registry/state/postgres/migrations.js';
import { postgresSkipReason, startPostgres } from '../support/services/postgres.js';
import { describeTrashStoreContract } from './trash-store-contract.js';

// A throwaway server for the suite, a fresh migrated database per test; "another instance" is a second pool on
// the same database (another node).
describeTrashStoreContract(
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
        return { store: openPostgresTrashStore(first), another: async () => openPostgresTrashStore(pool(target)) };
      },
      async close() {
        await Promise.all(pools.map((database) => database.close()));
        await server.stop();
      },
    };
  },
  { skip: postgresSkipReason() },
);
