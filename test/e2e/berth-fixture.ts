import { startBerth, type BerthExit, type BerthProcess } from '../support/berth-process.js';
import { createTempDir, removeDir, type AfterHook } from '../support/temp-dir.js';

/**
 * One `berth serve` child process per test, on its own temp data dir, that can be stopped (gracefully or with
 * SIGKILL) and started again on the same data dir and port: image references like `127.0.0.1:PORT/app:1`
 * stay valid across restarts, which is what a client retrying a push sees in real life.
 */
export interface TestServer {
  readonly dataDir: string;
  /** `127.0.0.1:PORT`, for image references; the same after restart(). */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The current process (a new one after each restart). */
  readonly berth: BerthProcess;
  /** Stops the current process with `signal` and starts a new one on the same data dir and port. */
  restart(signal?: NodeJS.Signals): Promise<BerthExit>;
  /** Stops the current process with `signal` (no restart); returns how it exited. */
  stop(signal?: NodeJS.Signals): Promise<BerthExit>;
  /** Starts a process again after stop(). */
  start(): Promise<void>;
}

/** Starts Berth on a fresh data dir; after the test the server is stopped first, then the dir removed. */
export async function startTestServer(t: AfterHook): Promise<TestServer> {
  const dataDir = await createTempDir('berth-e2e-');
  let berth: BerthProcess | undefined;
  // One hook doing both, in this order: removing the dir under a live server would race its writes.
  t.after(async () => {
    await berth?.stop('SIGKILL');
    await removeDir(dataDir);
  });
  berth = await startBerth({ dataDir });
  const host = berth.host;

  const start = async (): Promise<void> => {
    // The port was free a moment ago (we just released it); a bind race would show as a clear start failure.
    berth = await startBerth({ dataDir, listen: host });
  };
  const stop = (signal: NodeJS.Signals = 'SIGTERM'): Promise<BerthExit> => {
    if (!berth) throw new Error('server not started');
    if (signal !== 'SIGKILL') return berth.stop(signal);
    berth.kill();
    return berth.exited;
  };
  return {
    dataDir,
    host,
    url: `http://${host}`,
    get berth() {
      if (!berth) throw new Error('server not started');
      return berth;
    },
    stop,
    start,
    async restart(signal: NodeJS.Signals = 'SIGTERM') {
      const exit = await stop(signal);
      await start();
      return exit;
    },
  };
}
