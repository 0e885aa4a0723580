import { writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { createDaemonSandbox } from '../daemons/sandbox.js';
import { startDaemonProcess, type DaemonProcess } from '../daemons/daemon-process.js';
import { freePort } from '../net.js';
import { findTool, knownTools, requireTools, runOk, toolSkipReason, type ToolRequirement } from '../tools.js';

/**
 * A throwaway load balancer for multi-node tests: Debian's haproxy (2.6) in the foreground, its config and stats
 * socket in one daemon sandbox, a frontend on 127.0.0.1 at a port picked at start, round-robin over the given
 * backends. Outside CI it is skipped when haproxy is not installed (`haproxySkipReason`); in CI it fails.
 *
 * What the config does, and why:
 * - `balance roundrobin` with `option http-server-close`: every request is balanced on its own, so the consecutive
 *   requests of one keep-alive client (a chunked push's POST, PATCHes and PUT) land on different nodes. That is the
 *   point of the cluster tests; `balance source` or sticky sessions would hide a node-local state bug.
 * - Health checks `GET /v2/` over HTTP/1.0 without Host (Berth takes that as addressed to the connection's own
 *   address), where 401 counts as up: a node with token auth answers an anonymous `/v2/` with 401.
 *   Checked every 300 ms, down after 2 failures: a killed node leaves the rotation within a second.
 * - `option redispatch 1` with `retries`: a request whose connection to a dead node fails is sent to another one at
 *   its first retry; haproxy never resends a request whose bytes a node already received.
 * - `timeout client/server 1h`: a big layer may stream for a long time; Berth has its own idle limits.
 * - With `rewriteRealm`, the realm of Berth's Bearer challenges is rewritten to the frontend's URL: a node names its
 *   own listener's port there (auth/token-realm.ts), which clients behind a balancer cannot or should not reach.
 *   The README's haproxy.cfg does the same for the public name.
 */

export const haproxyTool: ToolRequirement = {
  // /usr/sbin is not on a non-root user's PATH on Debian.
  name: findTool('haproxy') ?? '/usr/sbin/haproxy',
  debianPackage: knownTools.haproxy ?? 'haproxy',
};

/** node:test's `skip` option: a reason naming the Debian package outside CI when haproxy is missing. */
export function haproxySkipReason(): string | undefined {
  return toolSkipReason(haproxyTool);
}

/** Throws (failing the test; in CI nothing is skipped) when haproxy is missing. */
export function requireHaproxy(): void {
  requireTools(haproxyTool);
}

/** One server of the backend, as haproxy's stats socket reports it. */
export interface HaproxyServerStats {
  /** `node0`, `node1`, ... in the order the backends were given. */
  readonly name: string;
  /** `127.0.0.1:PORT`, as given. */
  readonly address: string;
  /** haproxy's health status: `UP`, `DOWN`, `UP 1/2`, `MAINT`, ... */
  readonly status: string;
  /** HTTP requests this server answered (health checks are not counted). */
  readonly requests: number;
  /** Sessions open to this server now: a request in flight (with http-server-close, none between requests). */
  readonly current: number;
}

export interface HaproxyServer {
  /** `http://127.0.0.1:PORT`: the frontend. */
  readonly url: string;
  /** `127.0.0.1:PORT`, for image references. */
  readonly host: string;
  /** Wall time from the call until every backend was up. */
  readonly startupMs: number;
  /** Per backend server, in the order given. */
  stats(): Promise<readonly HaproxyServerStats[]>;
  /** Resolves once the server named `name` has `status` (`UP` or `DOWN`); rejects after timeoutMs (default 10 s). */
  waitForStatus(name: string, status: 'UP' | 'DOWN', timeoutMs?: number): Promise<void>;
  /** The generated haproxy.cfg, for messages. */
  readonly config: string;
  /** The last lines of haproxy's output, for assertion messages. */
  logTail(): string;
  /** Stops haproxy (its whole process group) and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

export interface HaproxyOptions {
  /** `HOST:PORT` of each backend server (at least one). */
  readonly backends: readonly string[];
  /** Rewrite the realm of Bearer challenges to the frontend's own URL, so clients fetch tokens through haproxy too. */
  readonly rewriteRealm?: boolean;
  /**
   * The frontend's port, when the backends must know it beforehand (their --public-url). Default: a free one (and
   * another if that is taken before haproxy binds it).
   */
  readonly port?: number;
  /** Wait at start until every backend is up (default true); false when some are expected to be down. */
  readonly waitForBackends?: boolean;
  /** Limit for the whole start. Default 20 s. */
  readonly startTimeoutMs?: number;
}

const backendName = 'berth';

/** The haproxy.cfg for a frontend on 127.0.0.1:`port` over `backends`, with the stats socket at `statsSocket`. */
export function haproxyConfig(options: { port: number; backends: readonly string[]; statsSocket: string; realmUrl?: string }): string {
  checkBackends(options.backends);
  if (options.realmUrl !== undefined && !/^https?:\/\/[A-Za-z0-9.[\]:-]+$/.test(options.realmUrl)) throw new Error(`not a base URL: ${JSON.stringify(options.realmUrl)}`);
  return [
    'global',
    '  maxconn 1024',
    `  stats socket ${options.statsSocket} mode 600 level operator`,
    '',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout http-request 60s',
    '  timeout check 2s',
    '  option http-server-close',
    '  option redispatch 1',
    '  retries 3',
    '',
    'frontend registry',
    `  bind 127.0.0.1:${options.port}`,
    ...(options.realmUrl !== undefined
      ? [`  http-response replace-header WWW-Authenticate '^(Bearer realm=")[^"]*(/token".*)$' '\\1${options.realmUrl}\\2'`]
      : []),
    `  default_backend ${backendName}`,
    '',
    `backend ${backendName}`,
    '  balance roundrobin',
    '  option httpchk GET /v2/',
    '  http-check expect status 200,401',
    '  default-server check inter 300ms fall 2 rise 1',
    ...options.backends.map((backend, index) => `  server node${index} ${backend}`),
    '',
  ].join('\n');
}

/** Throws unless every backend is a plain `HOST:PORT` (a line break would smuggle config lines in). */
function checkBackends(backends: readonly string[]): void {
  if (backends.length === 0) throw new Error('haproxy needs at least one backend');
  for (const backend of backends) {
    if (!/^[A-Za-z0-9.[\]:-]+:\d+$/.test(backend)) throw new Error(`not a HOST:PORT backend: ${JSON.stringify(backend)}`);
  }
}

export async function startHaproxy(options: HaproxyOptions): Promise<HaproxyServer> {
  requireHaproxy();
  checkBackends(options.backends);
  const started = performance.now();
  const sandbox = await createDaemonSandbox('haproxy');
  const statsSocket = sandbox.path('stats.sock');
  const configPath = sandbox.path('haproxy.cfg');
  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  const stats = async (): Promise<readonly HaproxyServerStats[]> => parseStats(await statsCommand(statsSocket, 'show stat'), options.backends);
  let daemon: DaemonProcess | undefined;
  let config = '';
  try {
    // The port was free a moment ago; another process may take it first, and haproxy then exits: pick another.
    for (let attempt = 1; ; attempt += 1) {
      const port = options.port ?? (await freePort());
      const realmUrl = options.rewriteRealm ? `http://127.0.0.1:${port}` : undefined;
      config = haproxyConfig({ port, backends: options.backends, statsSocket, ...(realmUrl !== undefined ? { realmUrl } : {}) });
      await writeFile(configPath, config, { mode: 0o600 });
      await runOk(haproxyTool.name, ['-c', '-q', '-f', configPath], { timeoutMs: 10_000 });
      try {
        daemon = await startDaemonProcess({
          name: 'haproxy',
          command: haproxyTool.name,
          // -db: foreground, no daemon mode; the sandbox owns its process group.
          args: ['-db', '-f', configPath],
          sandbox,
          isReady: async () => (await stats()).length === options.backends.length,
          startTimeoutMs: Math.max(deadline - Date.now(), 1000),
        });
        break;
      } catch (error) {
        if (options.port !== undefined || attempt >= 3 || !/exited while starting/.test(String(error))) throw error;
      }
    }
    const port = Number(/bind 127\.0\.0\.1:(\d+)/.exec(config)?.[1]);
    const waitForStatus = async (name: string, status: 'UP' | 'DOWN', timeoutMs = 10_000): Promise<void> => {
      const until = Date.now() + timeoutMs;
      let last: readonly HaproxyServerStats[] = [];
      for (;;) {
        last = await stats();
        if (last.find((server) => server.name === name)?.status === status) return;
        if (Date.now() > until) {
          throw new Error(`haproxy did not see ${name} ${status} within ${timeoutMs} ms: ${last.map((server) => `${server.name} ${server.status}`).join(', ')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    if (options.waitForBackends ?? true) {
      for (let index = 0; index < options.backends.length; index += 1) await waitForStatus(`node${index}`, 'UP', Math.max(deadline - Date.now(), 1000));
    }
    const running = daemon as DaemonProcess;
    let stopping: Promise<void> | undefined;
    return {
      url: `http://127.0.0.1:${port}`,
      host: `127.0.0.1:${port}`,
      startupMs: performance.now() - started,
      stats,
      waitForStatus,
      config,
      logTail: () => running.logTail(30),
      stop: () => {
        stopping ??= (async () => {
          await running.stop();
          await sandbox.remove();
        })();
        return stopping;
      },
    };
  } catch (error) {
    const tail = daemon?.logTail(30) ?? '';
    await daemon?.kill();
    await sandbox.remove();
    throw new Error(`haproxy did not start: ${error instanceof Error ? error.message : String(error)}\n${tail}\n--- haproxy.cfg ---\n${config}`, { cause: error });
  }
}

/** Sends one command to haproxy's stats socket and resolves with the whole answer (haproxy closes after it). */
function statsCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let answer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer to "${command}" on ${socketPath} within ${timeoutMs} ms`)));
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

/** The backend's server rows of `show stat` (CSV with a `# ` header line), in the order the backends were given. */
export function parseStats(csv: string, backends: readonly string[]): HaproxyServerStats[] {
  const [header, ...rows] = csv.split('\n').filter((line) => line.trim() !== '');
  if (!header?.startsWith('# ')) throw new Error(`not haproxy stats CSV: ${csv.slice(0, 200)}`);
  const columns = header.slice(2).split(',');
  const column = (name: string): number => {
    const index = columns.indexOf(name);
    if (index < 0) throw new Error(`haproxy stats have no ${name} column`);
    return index;
  };
  const [proxy, server, status, requests, current] = [column('pxname'), column('svname'), column('status'), column('req_tot'), column('scur')];
  const result: HaproxyServerStats[] = [];
  for (const row of rows) {
    const fields = row.split(',');
    const name = fields[server] ?? '';
    const match = /^node(\d+)$/.exec(name);
    if (fields[proxy] !== backendName || !match) continue;
    result.push({
      name,
      address: backends[Number(match[1])] ?? '',
      status: fields[status] ?? '',
      requests: Number(fields[requests] || 0),
      current: Number(fields[current] || 0),
    });
  }
  return result.sort((a, b) => Number(a.name.slice(4)) - Number(b.name.slice(4)));
}
