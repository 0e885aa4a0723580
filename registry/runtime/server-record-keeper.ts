import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { currentProcessIdentity, pidExists } from './process-liveness.js';
import {
  findRunningServer,
  removeServerRecord,
  serverRecordFileName,
  serverRecordPath,
  writeServerRecord,
  type ServerRecord,
  type UpstreamHealthRecord,
} from './server-record.js';

export interface ServerRecordKeeperOptions {
  dataDir: string;
  version: string;
  auth: ServerRecord['auth'];
  urls: () => ServerRecord['urls'];
  upstreams: () => UpstreamHealthRecord[];
  log: Logger;
}

export interface ServerRecordKeeper {
  /** Writes the record now (the listeners are up). */
  publish(): Promise<void>;
  /** Rewrites the record soon (upstream health changed); writes are coalesced. */
  changed(): void;
  /** Removes the record; no write happens after this. */
  close(): Promise<void>;
}

export class ServerAlreadyRunningError extends Error {
  readonly code = 'BERTH_ALREADY_RUNNING';
  constructor(readonly record: ServerRecord) {
    const where = record.urls.http ?? record.urls.https ?? 'no listener';
    super(`Berth already runs on ${record.dataDir} (pid ${record.process.pid}, ${where}): stop it first, or pick another data directory with --data`);
    this.name = 'ServerAlreadyRunningError';
  }
}

/** Coalesces bursts of health changes (an upstream flapping) into one write. */
const rewriteDelayMs = 100;

/**
 * Claims the data directory for this server process: refuses when another live server has it, removes what a
 * killed server left behind, and keeps `server.json` current until close().
 */
export async function claimServerRecord(options: ServerRecordKeeperOptions): Promise<ServerRecordKeeper> {
  const { dataDir, log } = options;
  const running = await findRunningServer(dataDir);
  if (running && running.process.pid !== process.pid) throw new ServerAlreadyRunningError(running);
  await removeAbandonedTempFiles(dataDir);
  const identity = currentProcessIdentity();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let writing: Promise<void> = Promise.resolve();

  const write = (): Promise<void> => {
    writing = writing
      .then(() => {
        if (closed) return;
        return writeServerRecord(dataDir, {
          format: 1,
          process: identity,
          version: options.version,
          dataDir,
          auth: options.auth,
          urls: options.urls(),
          upstreams: options.upstreams(),
          updatedAt: new Date().toISOString(),
        });
      })
      .catch((error: unknown) => log.warn({ err: error, path: serverRecordPath(dataDir) }, 'could not record the running server'));
    return writing;
  };

  return {
    publish: write,
    changed() {
      if (closed || timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        void write();
      }, rewriteDelayMs);
      timer.unref();
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await writing;
      await removeServerRecord(dataDir);
    },
  };
}

/** `server.json.<pid>.<random>.tmp` of a process that died between writing and renaming. */
async function removeAbandonedTempFiles(dataDir: string): Promise<void> {
  const pattern = new RegExp(`^${serverRecordFileName.replace('.', '\\.')}\\.(\\d+)\\.[0-9a-f]+\\.tmp$`);
  const names = await readdir(dataDir).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1]);
    if (!pid || pidExists(pid)) continue;
    await unlink(join(dataDir, name)).catch(() => undefined);
  }
}
