import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistry, type Registry, type RegistryOptions } from '../../registry/index.js';
import { silentLogger } from '../../registry/log.js';

/**
 * A real Berth registry on an ephemeral loopback port, for black-box HTTP tests.
 *
 * Layout of the temp folder (removed on close):
 *   <rootDir>/data        the registry's data directory
 *   <rootDir>/outside.txt a sentinel that path-traversal tests try to read; nothing else may appear in <rootDir>
 */
export type { Registry };

export interface RunningRegistry {
  /** Base URL without trailing slash, e.g. `http://127.0.0.1:43123`. Changes only if restart() could not reuse the port. */
  readonly url: string;
  readonly dataDir: string;
  /** Parent of dataDir: holds the sentinel file, so tests can check nothing escapes dataDir. */
  readonly rootDir: string;
  readonly sentinelPath: string;
  readonly sentinelText: string;
  readonly registry: Registry;
  /** The node:http server behind url (for tests of shutdown behaviour). */
  readonly server: Server;
  /** Closes the server and starts a new one on the same data dir (and the same port when it is still free). */
  restart(): Promise<void>;
  /** Stops the server and removes the temp folder. Safe to call twice. */
  close(): Promise<void>;
}

/** Anything with `after()`: a node:test TestContext; suites register `after(() => r.close())` themselves. */
export interface CleanupContext {
  after(fn: () => unknown): void;
}

export type StartOptions = Omit<RegistryOptions, 'dataDir'>;

export async function startRegistry(t?: CleanupContext, options: StartOptions = {}): Promise<RunningRegistry> {
  const rootDir = await mkdtemp(join(tmpdir(), 'berth-http-'));
  const dataDir = join(rootDir, 'data');
  await mkdir(dataDir);
  const sentinelPath = join(rootDir, 'outside.txt');
  const sentinelText = `berth-sentinel-${process.pid}-${Date.now()}`;
  await writeFile(sentinelPath, sentinelText);

  const boot = async (port: number): Promise<{ registry: Registry; url: string; server: Server }> => {
    const registry = await createRegistry({ logger: silentLogger(), ...options, dataDir });
    try {
      const { url, server } = await registry.listen({ host: '127.0.0.1', port });
      return { registry, server, url: url.replace(/\/+$/, '') };
    } catch (error) {
      await registry.close();
      throw error;
    }
  };

  let current = await boot(0);
  let closed = false;

  const running: RunningRegistry = {
    get url() {
      return current.url;
    },
    dataDir,
    rootDir,
    sentinelPath,
    sentinelText,
    get registry() {
      return current.registry;
    },
    get server() {
      return current.server;
    },
    async restart() {
      const port = Number(new URL(current.url).port);
      await closeQuickly(current);
      try {
        current = await boot(port);
      } catch (error) {
        // Another process may have grabbed the port in between; persistence is what matters, not the port.
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
        current = await boot(0);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await closeQuickly(current);
      } finally {
        await rm(rootDir, { recursive: true, force: true });
      }
    },
  };
  t?.after(() => running.close());
  return running;
}

/**
 * registry.close() with the test client's keep-alive sockets swept away. fetch keeps connections open,
 * and one whose last response the server has not yet marked finished is not "idle" when close() runs,
 * so close() would wait its whole grace period. base.test.ts checks close() itself handles this; the
 * harness sweeps anyway so that one such bug does not slow every test file down.
 */
async function closeQuickly(instance: { registry: Registry; server: Server }): Promise<void> {
  const sweep = setInterval(() => instance.server.closeIdleConnections(), 25);
  try {
    await instance.registry.close();
  } finally {
    clearInterval(sweep);
  }
}
