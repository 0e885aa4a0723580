import pg from 'pg';

/**
 * One PostgreSQL database holding Berth's shared metadata: a connection pool for queries and transactions,
 * and dedicated clients for LISTEN (a listener holds its connection for as long as it listens).
 */

/** Where the database is. The password is separate from the URL: it never has to be on a command line. */
export interface PostgresTarget {
  /** `postgres://user@host:port/database`, without a password. */
  readonly url: string;
  /** Absent: libpq's usual sources (PGPASSWORD) are left to pg. */
  readonly password?: string;
}

export interface PostgresDatabase {
  /** The URL without a password, for messages and `berth status`. */
  readonly label: string;
  readonly pool: pg.Pool;
  /** A connected client outside the pool; the caller ends it. */
  connectClient(): Promise<pg.Client>;
  /** Ends the pool's connections (waits for those in use to be released). Idempotent. */
  close(): Promise<void>;
}

export interface PostgresDatabaseOptions {
  /** Pool size. Default 10: Berth's transactions are short, and every node has its own pool. */
  readonly maxConnections?: number;
}

/**
 * The fields of the URL plus the password. Not `connectionString` with `password` beside it: pg lets what it
 * parses from the string override the other fields, so the separate password would be dropped.
 */
export function clientConfigOf(target: PostgresTarget): pg.ClientConfig {
  const url = new URL(target.url);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const sslmode = url.searchParams.get('sslmode');
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1') || undefined,
    port: url.port === '' ? undefined : Number(url.port),
    user: url.username === '' ? undefined : decodeURIComponent(url.username),
    database: database === '' ? undefined : database,
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(sslmode === 'require' || sslmode === 'verify-full' ? { ssl: { rejectUnauthorized: sslmode === 'verify-full' } } : {}),
    application_name: 'berth',
    // A database that does not answer must fail a start or a request, not hang it.
    connectionTimeoutMillis: 10_000,
    // A writer waits at most this long for the state lock (a stuck node must not stall every other one), and the
    // server ends a transaction left idle (a node that hangs or loses its way mid-update), releasing its locks.
    lock_timeout: 30_000,
    idle_in_transaction_session_timeout: 60_000,
  };
}

export function openPostgresDatabase(target: PostgresTarget, options: PostgresDatabaseOptions = {}): PostgresDatabase {
  const config = clientConfigOf(target);
  const pool = new pg.Pool({ ...config, max: options.maxConnections ?? 10, idleTimeoutMillis: 30_000 });
  // An idle pooled connection that the server drops (restart, failover) emits 'error' on the pool; without a
  // listener that would crash the process. The pool replaces the connection; the next query reports any outage.
  pool.on('error', () => undefined);
  let closing: Promise<void> | undefined;
  return {
    label: target.url,
    pool,
    async connectClient() {
      const client = new pg.Client(config);
      await client.connect();
      return client;
    },
    close() {
      closing ??= pool.end();
      return closing;
    },
  };
}

/**
 * Runs `work` in one transaction on one pooled connection: COMMIT when it resolves, ROLLBACK when it throws.
 * A pooled connection the server dropped while idle (a restart, an administrator) fails at BEGIN, before
 * anything ran: that one is thrown away and BEGIN tried once more on a new connection.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await beginOnFreshConnection(pool);
  let broken: Error | undefined;
  try {
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      // The connection is unusable (it dropped mid-transaction): the pool must not hand it out again.
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

async function beginOnFreshConnection(pool: pg.Pool): Promise<pg.PoolClient> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      return client;
    } catch (error) {
      client.release(error instanceof Error ? error : new Error(String(error)));
      if (attempt >= 2) throw error;
    }
  }
}
