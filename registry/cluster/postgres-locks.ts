import { createHash } from 'node:crypto';
import pg from 'pg';
import { clientConfigOf, type PostgresTarget } from '../state/postgres/database.js';
import { pollUntilAcquired, type ClusterLock, type ClusterLocks, type LockHolder, type OpenClusterLocksOptions } from './cluster-locks.js';

/**
 * ClusterLocks as PostgreSQL session-level advisory locks, all held on ONE dedicated connection per process. The
 * database is the arbiter every node already shares, and a session lock dies with its session: when a node is
 * killed (SIGKILL, a crash, a lost network) its connection closes and the server releases its locks at once, so
 * another node takes over within its next retry, without heartbeats or lease timeouts to tune.
 *
 * Only the non-blocking `pg_try_advisory_lock` is used, so one connection serves every lock of the process (a
 * blocking call would stall the others); `acquire` polls. Locks of one session stack, so the process keeps its own
 * set and refuses a second caller itself. The lock key is (class, hash of the name): the two-int form, a key space
 * apart from the bigint keys of the migration and storage-binding locks. The connection's application_name is the
 * node's name, which is how `holders` (and `berth status`) say who holds a lock: pg_locks joined to
 * pg_stat_activity, the database's own truth rather than a table that could go stale.
 */

/** "bert" in ASCII: the class of every Berth lock. */
const lockClass = 0x62657274;
/** application_name is cut at 63 bytes by the server: the prefix stays, the node's name may be shortened. */
const applicationPrefix = 'berth ';

/** The second key of a lock: 32 bits of the name's SHA-256, as a signed int4. */
export function lockKeyOf(name: string): number {
  return createHash('sha256').update(name).digest().readInt32BE(0);
}

interface Connection {
  readonly client: pg.Client;
  /** Aborted when the connection ends or fails: every lock taken on it is gone. */
  readonly ended: AbortController;
}

export function createPostgresLocks(target: PostgresTarget, options: OpenClusterLocksOptions): ClusterLocks {
  const config = clientConfigOf(target);
  /** Names held or being taken by this process. */
  const taken = new Set<string>();
  let connection: Promise<Connection> | undefined;
  let closed = false;

  function connect(): Promise<Connection> {
    if (connection) return connection;
    const client = new pg.Client({
      ...config,
      application_name: `${applicationPrefix}${options.node()}`.slice(0, 63),
      // A peer that vanishes without closing the socket (a cut network) is noticed by the OS, not only at the next query.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    const ended = new AbortController();
    let pending: Promise<Connection> | undefined;
    const drop = (error?: Error) => {
      if (ended.signal.aborted) return;
      ended.abort(error ?? new Error('the connection to the metadata database that held the cluster locks ended'));
      // The next caller connects again; the locks of this connection are the server's to release (and it did).
      if (connection === pending) connection = undefined;
    };
    client.on('error', drop);
    client.on('end', () => drop());
    pending = client.connect().then(
      () => ({ client, ended }),
      (error: unknown) => {
        drop(error as Error);
        throw error;
      },
    );
    connection = pending;
    return pending;
  }

  async function tryAcquire(name: string): Promise<ClusterLock | undefined> {
    if (closed) throw new Error('the cluster locks are closed');
    if (taken.has(name)) return undefined;
    taken.add(name);
    try {
      const { client, ended } = await connect();
      const key = lockKeyOf(name);
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::int4, $2::int4) AS ok', [lockClass, key]);
      if (rows[0]?.ok !== true) {
        taken.delete(name);
        return undefined;
      }
      const lost = new AbortController();
      const onEnded = () => {
        taken.delete(name);
        lost.abort(ended.signal.reason);
      };
      if (ended.signal.aborted) onEnded();
      else ended.signal.addEventListener('abort', onEnded, { once: true });
      let releasing: Promise<void> | undefined;
      return {
        name,
        lost: lost.signal,
        release() {
          releasing ??= (async () => {
            ended.signal.removeEventListener('abort', onEnded);
            // A lost lock is already released by the server; its name may have been taken again since.
            if (lost.signal.aborted) return;
            taken.delete(name);
            if (ended.signal.aborted) return;
            await client.query('SELECT pg_advisory_unlock($1::int4, $2::int4)', [lockClass, key]).catch(() => undefined);
          })();
          return releasing;
        },
      };
    } catch (error) {
      taken.delete(name);
      throw error;
    }
  }

  return {
    crossProcess: true,
    tryAcquire,
    heldHere: (name) => taken.has(name),
    acquire: (name, acquireOptions) => pollUntilAcquired(tryAcquire, name, acquireOptions?.signal),

    async holders(names) {
      if (names.length === 0) return [];
      const byKey = new Map(names.map((name) => [lockKeyOf(name) >>> 0, name]));
      const { client } = await connect();
      const { rows } = await client.query<{ objid: string; application_name: string; backend_start: Date | null }>(
        `SELECT l.objid::text AS objid, a.application_name, a.backend_start
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = $1::oid
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND l.objid = ANY($2::oid[])`,
        [lockClass, [...byKey.keys()]],
      );
      const holders: LockHolder[] = [];
      for (const row of rows) {
        const lock = byKey.get(Number(row.objid));
        if (lock === undefined) continue;
        const node = row.application_name.startsWith(applicationPrefix) ? row.application_name.slice(applicationPrefix.length) : row.application_name;
        holders.push({ lock, node, ...(row.backend_start ? { since: row.backend_start.toISOString() } : {}) });
      }
      return holders.sort((a, b) => names.indexOf(a.lock) - names.indexOf(b.lock));
    },

    async close() {
      closed = true;
      const open = connection;
      connection = undefined;
      taken.clear();
      if (!open) return;
      // Ending the session releases every lock it holds.
      await open.then(({ client }) => client.end()).catch(() => undefined);
    },
  };
}
