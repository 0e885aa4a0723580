import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { secretBoxWithKey } from '../../auth/secret-box.js';
import type { MasterKey } from '../master-key.js';
import { inTransaction } from './database.js';

/**
 * The keys every node of a cluster must hold alike (the JWT signing key, the secret box's key), kept in the
 * metadata database's `berth_secrets` table sealed with the operator's master key: AES-256-GCM with a random
 * nonce and the row's name as associated data (the secret box's sealed form). A node that does not hold the same
 * master key is refused with a message saying so; it never makes itself a new key, which would split the cluster
 * (tokens from one node refused by another, upstream passwords that no longer open).
 */

export class SharedKeyError extends Error {
  readonly code = 'BERTH_SHARED_KEY';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SharedKeyError';
  }
}

/**
 * The 256-bit key stored as `name`, opened with the master key; the first caller stores `initial()` (by default
 * 32 random bytes). Nodes starting together agree on one key: each inserts its candidate with ON CONFLICT DO
 * NOTHING, then reads the row that won, in one transaction (the insert waits for a concurrent one to commit).
 */
export async function loadOrCreateSharedKey(
  pool: pg.Pool,
  masterKey: MasterKey,
  name: string,
  initial: () => Promise<Buffer> = async () => randomBytes(32),
): Promise<Buffer> {
  const existing = await readSealed(pool, name);
  if (existing !== undefined) return unseal(masterKey, name, existing);
  const candidate = await initial();
  if (candidate.length !== 32) throw new SharedKeyError(`a shared key is 256 bits, not ${candidate.length * 8}`);
  const sealed = secretBoxWithKey(masterKey.bytes()).seal(candidate.toString('base64url'), name);
  const stored = await inTransaction(pool, async (client) => {
    await client.query('INSERT INTO berth_secrets (name, sealed) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, sealed]);
    const { rows } = await client.query<{ sealed: string }>('SELECT sealed FROM berth_secrets WHERE name = $1', [name]);
    return rows[0]?.sealed;
  });
  if (stored === undefined) throw new SharedKeyError(`the shared key "${name}" was not stored`);
  return unseal(masterKey, name, stored);
}

async function readSealed(pool: pg.Pool, name: string): Promise<string | undefined> {
  try {
    const { rows } = await pool.query<{ sealed: string }>('SELECT sealed FROM berth_secrets WHERE name = $1', [name]);
    return rows[0]?.sealed;
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') {
      throw new SharedKeyError('the database has no berth_secrets table (its schema is older than this Berth): run "berth migrate" with the same --metadata first', { cause: error });
    }
    throw error;
  }
}

function unseal(masterKey: MasterKey, name: string, sealed: string): Buffer {
  let text: string;
  try {
    text = secretBoxWithKey(masterKey.bytes()).open(sealed, name);
  } catch (error) {
    throw new SharedKeyError(
      `the master key from ${masterKey.source} does not open the shared key "${name}": every node needs the master key ` +
        'the cluster was set up with (a different one is refused, never used to make new keys)',
      { cause: error },
    );
  }
  const key = Buffer.from(text, 'base64url');
  if (key.length !== 32) throw new SharedKeyError(`the shared key "${name}" in the database is not a 256-bit key`);
  return key;
}
