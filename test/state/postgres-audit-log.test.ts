import { after, before } from 'node:test';
import { createPostgresAuditLog } from '../../registry/auth/postgres-audit-log.js';
import { openPostgresDatabase } from '../../registry/state/postgres/database.js';
import { migrate } from '../../registry/state/postgres/migrations.js';
import { auditLogContract } from '../contract/audit-log-contract.js';
import { postgresSkipReason, requirePostgres, startPostgres, type PostgresServer } from '../support/services/postgres.js';

const skip = postgresSkipReason();
let server: PostgresServer;

before(async () => {
  if (skip) return;
  requirePostgres();
  server = await startPostgres();
});
after(() => server?.stop());

auditLogContract({
  name: 'postgres',
  skip,
  fresh: async () => {
    const info = await server.createDatabase();
    const target = { url: info.url, password: info.connection.password };
    const setup = openPostgresDatabase(target);
    try {
      await migrate(setup.pool);
    } finally {
      await setup.close();
    }
    return {
      open: async () => {
        const database = openPostgresDatabase(target, { maxConnections: 4 });
        return createPostgresAuditLog(database, { onClose: () => database.close() });
      },
    };
  },
});
