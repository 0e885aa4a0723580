import type { Command } from 'commander';
import { migrations } from '../../state/postgres/migration-list.js';
import { migrateMetadata } from '../../state/metadata-backend.js';
import { metadataOf } from '../admin-support.js';
import { CliUsageError } from '../cli-error.js';
import { leaf } from '../command-kit.js';

/** `berth migrate --metadata postgres://...`: brings a shared metadata database to this Berth's schema. */
async function migrateCommand(command: Command): Promise<void> {
  const metadata = metadataOf(command);
  if (metadata.kind === 'file') {
    throw new CliUsageError('berth migrate is for a PostgreSQL metadata database: pass --metadata postgres://USER@HOST:PORT/DATABASE (or set BERTH_METADATA); state.json needs no migration');
  }
  const applied = await migrateMetadata(metadata);
  for (const migration of applied) console.log(`applied migration ${migration.id}: ${migration.name}`);
  const summary = applied.length === 0 ? 'already up to date' : `${applied.length} migration(s) applied`;
  console.log(`${metadata.target.url}: ${summary} (schema at migration ${migrations.length})`);
}

export function registerMigrateCommand(program: Command): void {
  leaf(
    program,
    'migrate',
    '--metadata postgres://USER@HOST:PORT/DATABASE',
    'Applies the pending schema migrations to the PostgreSQL database that Berth nodes share, and prints each one. ' +
      '"berth serve" does the same at start; several nodes starting at once migrate once. The password comes from ' +
      'PGPASSWORD, $BERTH_METADATA_PASSWORD_FILE or ~/.pgpass.',
  )
    .summary('bring the shared PostgreSQL metadata database up to date')
    .action((_options, command: Command) => migrateCommand(command));
}
