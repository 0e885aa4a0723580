import type pg from 'pg';
import {
  encryptionKeyFileEnv,
  KeyRingConflictError,
  parseRingText,
  ringText,
  type KeyRingStore,
  type MasterKeyEntry,
} from '../../storage/encryption/key-ring.js';
import type { MasterKey } from '../master-key.js';
import { explainMissingTable, openSharedSecret, readSealedSecret, sealSharedSecret, storeSealedOnce } from './shared-keys.js';

/**
 * The encryption master key ring of a cluster (storage/encryption/key-ring.ts), kept where its other shared keys are:
 * one row of `berth_secrets`, the ring's JSON sealed with the operator's master key exactly as those keys are
 * (shared-keys.ts). Every node and every CLI command with the same --metadata uses this one ring, so a cluster turns
 * encryption on, and rotates, from any node, with no file to copy.
 *
 * - Creation: INSERT ... ON CONFLICT DO NOTHING, then the row that won is read (storeSealedOnce), so nodes enabling
 *   at once agree on one ring. A node whose master key does not open the rows already there is refused, never given
 *   a ring of its own.
 * - Changes are a compare-and-swap: `UPDATE ... WHERE sealed = <what was loaded>`. The sealed text changes with every
 *   save (a fresh nonce) and with a re-seal under a new master key (`berth secrets rotate-master`), so a rotation
 *   computed from a stale ring, or by a node whose master key is out of date, writes nothing and is computed again.
 * - version() is the row's revision (migration 9), which grows with every change of the ring and not with a
 *   re-seal: read at most once per `pollMs` (1 s), so a rotation on one node is followed by the others within about
 *   a second (rotateMasterKey waits 2 s before its second pass for exactly those), at one small query a second.
 */

export const keyRingSecretName = 'encryption-key-ring';
export const keyRingPollMs = 1000;

export interface SharedKeyRingOptions {
  /** The database, for messages: `postgres://berth@db:5432/berth`. */
  readonly label: string;
  /**
   * The operator's master key, asked for only when the ring is opened or written: a command that never needs it
   * (`berth gc` on an unencrypted cluster) runs without one. Throws, saying how to set one, when there is none.
   */
  readonly masterKey: () => MasterKey;
  /**
   * A ring kept before rings were shared (the node's ring file, when the storage is encrypted already): stored as the
   * first ring when the database has none, so a cluster that mounted one ring file on every node keeps reading.
   */
  readonly earlierRing?: () => Promise<readonly MasterKeyEntry[] | undefined>;
  /** How long a version read is reused. Default keyRingPollMs. */
  readonly pollMs?: number;
}

export function sharedKeyRingStore(pool: pg.Pool, options: SharedKeyRingOptions): KeyRingStore {
  const name = keyRingSecretName;
  const source = `the metadata database ${options.label} (berth_secrets "${name}")`;
  const pollMs = options.pollMs ?? keyRingPollMs;
  /** The last version read (or being read: concurrent callers share one query), and when. */
  let polled: { version: Promise<string>; at: number } | undefined;
  const remember = (revision: string): void => {
    polled = { version: Promise.resolve(revision), at: Date.now() };
  };

  async function readRevision(): Promise<string> {
    try {
      const { rows } = await pool.query<{ revision: string }>('SELECT revision FROM berth_secrets WHERE name = $1', [name]);
      return rows[0] ? String(rows[0].revision) : 'none';
    } catch (error) {
      throw explainMissingTable(error);
    }
  }

  return {
    source,
    missingHint:
      'the ring lives in the metadata database: restore its berth_secrets rows with the rest of the database, or, for a cluster ' +
      `that kept its ring in a file before, set ${encryptionKeyFileEnv} to that file on the first node to start (the file is then stored here)`,

    async load() {
      let row = await readSealedSecret(pool, name);
      if (!row) {
        const earlier = await options.earlierRing?.();
        if (!earlier) return undefined;
        const masterKey = options.masterKey();
        row = await storeSealedOnce(pool, masterKey, name, sealSharedSecret(masterKey, name, ringText(earlier)));
      }
      // The compare-and-swap's basis is the sealed text itself (see above).
      return { entries: parseRingText(openSharedSecret(options.masterKey(), name, row.sealed), source), revision: row.sealed };
    },

    async save(entries, basis) {
      const masterKey = options.masterKey();
      const sealed = sealSharedSecret(masterKey, name, ringText(entries));
      if (basis === undefined) {
        const stored = await storeSealedOnce(pool, masterKey, name, sealed);
        // Another node's ring won the insert: nothing of ours was stored.
        if (stored.sealed !== sealed) throw new KeyRingConflictError(source);
        remember(stored.revision);
        return;
      }
      let updated: { revision: string } | undefined;
      try {
        const { rows } = await pool.query<{ revision: string }>(
          'UPDATE berth_secrets SET sealed = $2, revision = revision + 1 WHERE name = $1 AND sealed = $3 RETURNING revision',
          [name, sealed, basis],
        );
        updated = rows[0];
      } catch (error) {
        throw explainMissingTable(error);
      }
      if (!updated) throw new KeyRingConflictError(source);
      remember(String(updated.revision));
    },

    version() {
      if (polled && Date.now() - polled.at < pollMs) return polled.version;
      const version = readRevision();
      polled = { version, at: Date.now() };
      // A failed read is not reused: the next call asks again.
      version.catch(() => {
        if (polled?.version === version) polled = undefined;
      });
      return version;
    },
  };
}
