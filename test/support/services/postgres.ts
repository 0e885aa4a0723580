import { after, before } from 'node:test';
import { chown, writeFile, appendFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { userInfo } from 'node:os';
import { createDaemonSandbox } from '../daemons/sandbox.js';
import { startDaemonProcess, type DaemonProcess } from '../daemons/daemon-process.js';
import { freePort } from '../net.js';
import { requireTools, runOk, toolSkipReason, type ToolRequirement } from '../tools.js';

/**
 * A throwaway PostgreSQL 15 cluster for tests (Debian 12's `postgresql` package), listening on 127.0.0.1 on a
 * port picked at start, with a role and a database both named `berth`. Everything lives in one daemon sandbox
 * (a temp directory): `stop()` shuts the server down and removes it; the sandbox's exit hook and the next run's
 * sweep clean up after a killed test process. Outside CI it is skipped when PostgreSQL is not installed
 * (`postgresSkipReason`); in CI `requirePostgres` fails.
 *
 * PostgreSQL refuses to run as root: as root, initdb and the server run as the `postgres` user (created by the
 * package) through runuser, and the directory is handed to that user. Durability is off (fsync, synchronous
 * commit, full page writes): the data is thrown away.
 */

const binDir = '/usr/lib/postgresql/15/bin';

export const postgresTools: readonly ToolRequirement[] = [
  { name: `${binDir}/initdb`, debianPackage: 'postgresql' },
  { name: `${binDir}/postgres`, debianPackage: 'postgresql' },
  { name: `${binDir}/psql`, debianPackage: 'postgresql' },
];

/** node:test's `skip` option: a reason naming the Debian package outside CI when PostgreSQL is missing. */
export function postgresSkipReason(): string | undefined {
  return toolSkipReason(...postgresTools);
}

/** Throws (failing the test; in CI nothing is skipped) when PostgreSQL is missing. */
export function requirePostgres(): void {
  requireTools(...postgresTools);
}

export interface PostgresServer {
  /** `postgres://berth@127.0.0.1:PORT/berth`, without a password: pass `password` separately (PGPASSWORD). */
  readonly url: string;
  /** The `berth` role's password (random per cluster). */
  readonly password: string;
  /**
   * For `new pg.Pool(...)` / `new pg.Client(...)`. Separate fields, not `connectionString` plus `password`:
   * pg lets what it parses from a connection string override the other fields, the password included.
   */
  readonly connection: { readonly host: string; readonly port: number; readonly user: string; readonly database: string; readonly password: string };
  readonly port: number;
  /** Wall time from the call to a server that accepts connections. */
  readonly startupMs: number;
  /** Creates another empty database owned by `berth` (a random name when none is given): one per test. */
  createDatabase(name?: string): Promise<PostgresDatabaseInfo>;
  /** Runs SQL as the superuser over the unix socket (psql, ON_ERROR_STOP); resolves with psql's stdout. */
  psql(sql: string, database?: string): Promise<string>;
  /** The last lines of the server's output, for assertion messages. */
  logTail(): string;
  /** Stops the server (fast shutdown, SIGKILL if that takes too long) and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

export interface PostgresDatabaseInfo {
  readonly name: string;
  /** `postgres://berth@127.0.0.1:PORT/NAME`, without a password. */
  readonly url: string;
  readonly connection: { readonly host: string; readonly port: number; readonly user: string; readonly database: string; readonly password: string };
}

export interface PostgresOptions {
  /** Limit for the whole start. Default 60 s. */
  readonly startTimeoutMs?: number;
}

const runAsUser = 'postgres';

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  requirePostgres();
  const started = performance.now();
  const sandbox = await createDaemonSandbox('pg');
  const asRoot = userInfo().uid === 0;
  // As root, every PostgreSQL binary runs as the postgres user; otherwise as ourselves.
  const command = (bin: string, args: readonly string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', runAsUser, '--', `${binDir}/${bin}`, ...args]] : [`${binDir}/${bin}`, [...args]];
  const data = sandbox.path('data');
  let server: DaemonProcess | undefined;
  const stopServer = async (): Promise<void> => {
    if (!server) return;
    // SIGINT to the postmaster is PostgreSQL's fast shutdown: it ends the backends and removes its shared memory
    // (a SIGKILL would leak the SysV segment). The process group gets SIGKILL if it takes more than 10 s.
    const postmaster = server;
    const timer = setTimeout(() => void postmaster.kill(), 10_000);
    try {
      process.kill(-postmaster.pid, 'SIGINT');
    } catch {
      // already gone
    }
    await postmaster.exited;
    clearTimeout(timer);
    await postmaster.kill();
  };
  try {
    if (asRoot) {
      const { stdout } = await runOk('id', ['-u', runAsUser]);
      const uid = Number(stdout.trim());
      const { stdout: gidOut } = await runOk('id', ['-g', runAsUser]);
      await chown(sandbox.dir, uid, Number(gidOut.trim()));
    }
    const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
    const remaining = (): number => Math.max(deadline - Date.now(), 1000);
    await runOk(...command('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync']), {
      timeoutMs: remaining(),
    });
    const port = await freePort();
    await appendFile(
      `${data}/postgresql.conf`,
      [
        "listen_addresses = '127.0.0.1'",
        `port = ${port}`,
        // The sandbox path is short, so the socket path stays under the 108-byte limit.
        `unix_socket_directories = '${sandbox.dir}'`,
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        'shared_buffers = 32MB',
        'max_connections = 100',
        'logging_collector = off',
        '',
      ].join('\n'),
    );
    // TCP clients must give the password (so tests exercise the real path); the superuser comes in over the socket.
    await writeFile(`${data}/pg_hba.conf`, ['local all postgres trust', 'host all all 127.0.0.1/32 scram-sha-256', ''].join('\n'));
    const [serverCommand, serverArgs] = command('postgres', ['-D', data]);
    server = await startDaemonProcess({
      name: 'postgres',
      command: serverCommand,
      args: serverArgs,
      sandbox,
      isReady: () => accepts(port),
      startTimeoutMs: remaining(),
    });
    const psql = async (sql: string, database = 'postgres'): Promise<string> =>
      (
        await runOk(...command('psql', ['-h', sandbox.dir, '-p', String(port), '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1', '-qAt']), {
          input: sql,
          timeoutMs: 30_000,
        })
      ).stdout;
    // Ready means the port is open; the first psql may still see "the database system is starting up".
    const password = randomPassword();
    await retryUntil(deadline, () =>
      psql(`CREATE ROLE berth LOGIN PASSWORD '${password}';\nCREATE DATABASE berth OWNER berth;\n`),
    );
    const postmaster = server;
    const url = `postgres://berth@127.0.0.1:${port}/berth`;
    let stopping: Promise<void> | undefined;
    return {
      url,
      password,
      connection: { host: '127.0.0.1', port, user: 'berth', database: 'berth', password },
      port,
      startupMs: performance.now() - started,
      psql,
      createDatabase: async (name = `berth_${randomPassword().slice(0, 12)}`) => {
        if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain database name: ${name}`);
        await psql(`CREATE DATABASE ${name} OWNER berth;\n`);
        return { name, url: `postgres://berth@127.0.0.1:${port}/${name}`, connection: { host: '127.0.0.1', port, user: 'berth', database: name, password } };
      },
      logTail: () => postmaster.logTail(30),
      stop: () => {
        stopping ??= (async () => {
          await stopServer();
          await sandbox.remove();
        })();
        return stopping;
      },
    };
  } catch (error) {
    const tail = server?.logTail(30) ?? '';
    await stopServer().catch(() => undefined);
    await sandbox.remove();
    throw new Error(`postgres did not start: ${error instanceof Error ? error.message : String(error)}\n${tail}`, { cause: error });
  }
}

function randomPassword(): string {
  // Hex only: no quoting issues inside the CREATE ROLE statement.
  return [...crypto.getRandomValues(new Uint8Array(18))].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** True once something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

async function retryUntil(deadline: number, attempt: () => Promise<unknown>): Promise<void> {
  for (;;) {
    try {
      await attempt();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * One throwaway server shared by the tests of a file: started before them (unless PostgreSQL is missing outside CI,
 * see postgresSkipReason), stopped after them. `skip` goes into each test's options; `server()` is the running one.
 */
export function postgresForFile(): { readonly skip: string | undefined; server(): PostgresServer } {
  const skip = postgresSkipReason();
  let server: PostgresServer | undefined;
  before(async () => {
    if (skip) return;
    requirePostgres();
    server = await startPostgres();
  });
  after(() => server?.stop());
  return {
    skip,
    server: () => {
      if (!server) throw new Error('the PostgreSQL server of this file did not start');
      return server;
    },
  };
}
