import type { MasterKey } from '../../registry/state/master-key.js';
import type { MetadataBackend } from '../../registry/state/metadata-backend.js';
import { openPostgresDatabase } from '../../registry/state/postgres/database.js';
import { migrate } from '../../registry/state/postgres/migrations.js';
import type { PostgresDatabaseInfo, PostgresServer } from '../support/services/postgres.js';

/** A new database on `server` with every migration applied, as `berth serve` leaves it at its first start. */
export async function migratedDatabase(server: PostgresServer): Promise<PostgresDatabaseInfo> {
  const info = await server.createDatabase();
  const setup = openPostgresDatabase({ url: info.url, password: info.connection.password });
  try {
    await migrate(setup.pool);
  } finally {
    await setup.close();
  }
  return info;
}

/** The metadata backend a node opens for `info` with the operator master key `key`. */
export function postgresBackendOf(info: PostgresDatabaseInfo, key: MasterKey): MetadataBackend {
  return { kind: 'postgres', target: { url: info.url, password: info.connection.password }, masterKey: key };
}
