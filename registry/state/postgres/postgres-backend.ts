/**
 * Everything metadata-backend.ts needs from the PostgreSQL side, in one module it imports on demand: the desktop
 * default (state.json) never loads the `pg` client.
 */
export { openPostgresDatabase } from './database.js';
export { migrate } from './migrations.js';
export { createPostgresStateStore } from './postgres-state-store.js';
export { loadOrCreateSharedKey, resealSharedKeys } from './shared-keys.js';
export { sharedKeyRingStore } from './shared-key-ring.js';
export { createPostgresAuditLog } from '../../auth/postgres-audit-log.js';
