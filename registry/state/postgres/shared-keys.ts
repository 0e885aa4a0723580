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
 * (tokens from one node refused by another, upstream passwords that no longer open). The encryption master key ring
 * is one more row, sealed the same way (shared-key-ring.ts).
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
 * 32 random bytes). Nodes starting together agree on one key (storeSealedOnce).
 */
export async function loadOrCreateSharedKey(
  pool: pg.Pool,
  masterKey: MasterKey,
  name: string,
  initial: () => Promise<Buffer> = async () => randomBytes(32),
): Promise<Buffer> {
  const existing = await readSealedSecret(pool, name);
  if (existing !== undefined) return keyOf(name, openSharedSecret(masterKey, name, existing.sealed));
  const candidate = await initial();
  if (candidate.length !== 32) throw new SharedKeyError(`a shared key is 256 bits, not ${candidate.length * 8}`);
  const stored = await storeSealedOnce(pool, masterKey, name, sealSharedSecret(masterKey, name, candidate.toString('base64url')));
  return keyOf(name, openSharedSecret(masterKey, name, stored.sealed));
}

/** A row of berth_secrets: the sealed text, and its revision (grows with every change of the secret, migration 9). */
export interface SealedSecret {
  readonly sealed: string;
  readonly revision: string;
}

/** The row `name`, or undefined when no node has stored it yet. */
export async function readSealedSecret(pool: pg.Pool, name: string): Promise<SealedSecret | undefined> {
  try {
    const { rows } = await pool.query<{ sealed: string; revision: string }>('SELECT sealed, revision FROM berth_secrets WHERE name = $1', [name]);
    return rows[0] ? { sealed: rows[0].sealed, revision: String(rows[0].revision) } : undefined;
  } catch (error) {
    throw explainMissingTable(error);
  }
}

/**
 * Stores `sealed` as `name` unless a row is there already, and returns the row that won: each node inserts its
 * candidate with ON CONFLICT DO NOTHING, then reads the row, in one transaction (the insert waits for a concurrent
 * one to commit), so nodes starting together agree on one. A master key that does not open the rows already in the
 * table is refused first: what it sealed, no other node could open.
 */
export async function storeSealedOnce(pool: pg.Pool, masterKey: MasterKey, name: string, sealed: string): Promise<SealedSecret> {
  const stored = await inTransaction(pool, async (client) => {
    const { rows: others } = await client.query<{ name: string; sealed: string }>('SELECT name, sealed FROM berth_secrets WHERE name <> $1 ORDER BY name LIMIT 1', [name]);
    const other = others[0];
    if (other) openSharedSecret(masterKey, other.name, other.sealed);
    await client.query('INSERT INTO berth_secrets (name, sealed) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, sealed]);
    const { rows } = await client.query<{ sealed: string; revision: string }>('SELECT sealed, revision FROM berth_secrets WHERE name = $1', [name]);
    return rows[0];
  }).catch((error: unknown) => {
    throw explainMissingTable(error);
  });
  if (stored === undefined) throw new SharedKeyError(`the shared secret "${name}" was not stored`);
  return { sealed: stored.sealed, revision: String(stored.revision) };
}

/** An undefined-table error is a database this Berth's migrations have not reached: say what to run. */
export function explainMissingTable(error: unknown): unknown {
  const code = (error as { code?: string }).code;
  const what = code === '42P01' ? 'has no berth_secrets table' : code === '42703' ? "has a berth_secrets table without revisions" : undefined;
  if (what === undefined) return error;
  // 42P01: a database from before migration 6; 42703 (no such column): from before migration 9.
  return new SharedKeyError(`the database ${what} (its schema is older than this Berth): run "berth migrate" with the same --metadata first`, { cause: error });
}

/**
 * The secret box's sealed form of `text` under the master key, the row's name as associated data (a value copied to
 * another name does not open there). Every row of berth_secrets is sealed this way: one crypto path for all.
 */
export function sealSharedSecret(masterKey: MasterKey, name: string, text: string): string {
  return secretBoxWithKey(masterKey.bytes()).seal(text, name);
}

/** The text of row `name`; a master key that does not open it is SharedKeyError saying so. */
export function openSharedSecret(masterKey: MasterKey, name: string, sealed: string): string {
  try {
    return secretBoxWithKey(masterKey.bytes()).open(sealed, name);
  } catch (error) {
    throw new SharedKeyError(
      `the master key from ${masterKey.source} does not open the shared key "${name}": every node needs the master key ` +
        'the cluster was set up with (a different one is refused, never used to make new keys)',
      { cause: error },
    );
  }
}

function keyOf(name: string, text: string): Buffer {
  const key = Buffer.from(text, 'base64url');
  if (key.length !== 32) throw new SharedKeyError(`the shared key "${name}" in the database is not a 256-bit key`);
  return key;
}

export interface ResealResult {
  /** Rows now sealed with the new master key by this call. */
  readonly resealed: readonly string[];
  /** Rows that were sealed with the new master key already (a rotation run again after it succeeded). */
  readonly already: readonly string[];
  /** Keys no node had needed yet, made now under the new master key. */
  readonly created: readonly string[];
}

/**
 * Re-seals every stored key with a new master key, keeping the keys themselves (tokens and sealed passwords stay
 * valid), and makes those of `names` that no node has needed yet, sealed the new way (else a node still on the old
 * master key could create one afterwards, and the table would be sealed two ways). All or nothing, in one
 * transaction that holds off a node inserting a key meanwhile. A row that opens with neither master key stops it.
 */
export async function resealSharedKeys(pool: pg.Pool, from: MasterKey, to: MasterKey, names: readonly string[]): Promise<ResealResult> {
  if (from.bytes().equals(to.bytes())) throw new SharedKeyError(`the new master key (${to.source}) is the one in use (${from.source})`);
  return inTransaction(pool, async (client) => {
    // SHARE ROW EXCLUSIVE conflicts with INSERT: a node starting now waits, then finds its key sealed the new way.
    await client.query('LOCK TABLE berth_secrets IN SHARE ROW EXCLUSIVE MODE').catch((error: unknown) => {
      throw explainMissingTable(error);
    });
    const { rows } = await client.query<{ name: string; sealed: string }>('SELECT name, sealed FROM berth_secrets ORDER BY name');
    const resealed: string[] = [];
    const already: string[] = [];
    for (const { name, sealed } of rows) {
      let text: string;
      try {
        text = openSharedSecret(from, name, sealed);
      } catch {
        if (!opensWith(to, name, sealed)) {
          throw new SharedKeyError(`the shared key "${name}" opens with neither the master key in use (${from.source}) nor the new one (${to.source}): nothing was changed`);
        }
        already.push(name);
        continue;
      }
      // The revision stays: the secret is the same (a node polling the key ring's revision must not re-read it).
      await client.query('UPDATE berth_secrets SET sealed = $2 WHERE name = $1', [name, sealSharedSecret(to, name, text)]);
      resealed.push(name);
    }
    const created: string[] = [];
    for (const name of names.filter((wanted) => !rows.some((row) => row.name === wanted))) {
      await client.query('INSERT INTO berth_secrets (name, sealed) VALUES ($1, $2)', [name, sealSharedSecret(to, name, randomBytes(32).toString('base64url'))]);
      created.push(name);
    }
    return { resealed, already, created };
  });
}

function opensWith(masterKey: MasterKey, name: string, sealed: string): boolean {
  try {
    openSharedSecret(masterKey, name, sealed);
    return true;
  } catch {
    return false;
  }
}
