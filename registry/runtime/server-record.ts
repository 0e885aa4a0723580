import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { livenessOf, type ProcessIdentity } from './process-liveness.js';

/**
 * `<dataDir>/server.json`: what the running server (headless `berth serve` or the desktop app) really listens on,
 * written once its listeners are up and removed when it stops. It is the one source of truth for the CLI's
 * `status`, `ui-url`, `mirror-config` and `trust`: settings say what a server would use, this says what one does
 * (a `--listen` flag, a port taken over by the desktop app). A record whose process is gone (kill -9, a crash) is
 * recognised by its pid and start time and ignored. The file is the owner's only (0600), like the rest of the
 * data directory; it holds no secret.
 */
export interface ServerRecord {
  /** Record format, for readers of another version. */
  format: 1;
  process: ProcessIdentity;
  version: string;
  dataDir: string;
  auth: 'token' | 'none';
  /** The listeners that are up, as clients dial them: `http://127.0.0.1:5000`. */
  urls: { http?: string; https?: string };
  /** Upstream health as the server last saw it (updated on every change). */
  upstreams: UpstreamHealthRecord[];
  /** When the record was last written (ISO 8601). */
  updatedAt: string;
}

export interface UpstreamHealthRecord {
  name: string;
  online: boolean;
  lastError?: string;
}

export const serverRecordFileName = 'server.json';

export function serverRecordPath(dataDir: string): string {
  return join(dataDir, serverRecordFileName);
}

/** Writes the record atomically (a reader sees the old or the new one, never half). */
export async function writeServerRecord(dataDir: string, record: ServerRecord): Promise<void> {
  const path = serverRecordPath(dataDir);
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(record, null, 2)}\n`);
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/** Removes the record if it is this process's (a second server that failed to start must not remove the first's). */
export async function removeServerRecord(dataDir: string, pid = process.pid): Promise<void> {
  const found = await readRecordFile(dataDir);
  if (found?.process.pid !== pid) return;
  await unlink(serverRecordPath(dataDir)).catch(() => undefined);
}

/**
 * The server running on `dataDir` right now, or undefined when none does (no record, or its process is gone).
 * A record from another host (a data directory on a network share) is taken as running: only that host can tell.
 */
export async function findRunningServer(dataDir: string): Promise<ServerRecord | undefined> {
  const record = await readRecordFile(dataDir);
  if (!record) return undefined;
  return livenessOf(record.process) === 'gone' ? undefined : record;
}

async function readRecordFile(dataDir: string): Promise<ServerRecord | undefined> {
  let text: string;
  try {
    text = await readFile(serverRecordPath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<ServerRecord>;
    const identity = parsed.process;
    if (parsed.format !== 1 || typeof identity?.pid !== 'number' || typeof identity.host !== 'string' || typeof identity.startedAtMs !== 'number') {
      return undefined;
    }
    return { ...parsed, urls: parsed.urls ?? {}, upstreams: Array.isArray(parsed.upstreams) ? parsed.upstreams : [] } as ServerRecord;
  } catch {
    // Torn or hand-edited: no trustworthy server behind it.
    return undefined;
  }
}
