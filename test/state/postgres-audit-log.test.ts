import { createPostgresAuditLog } from '../../registry/auth/postgres-audit-log.js';
import { openPostgresDatabase } from '../../registry/state/postgres/database.js';
import { migrate } from '../../registry/state/postgres/migrations.js';
import { auditLogContract } from '../contract/audit-log-contract.js';
import { postgresForFile } from '../support/services/postgres.js';

const postgres = postgresForFile();
const { skip } = postgres;

auditLogContract({
  name: 'postgres',
  skip,
  fresh: async () => {
    const info = await postgres.server().createDatabase();
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
