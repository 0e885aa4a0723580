import { hostname } from 'node:os';
import { openClusterLocks, schedulerLockNames, type LockHolder } from '../../cluster/cluster-locks.js';
import { formatDuration } from '../../core/duration.js';
import type { UpstreamRecord } from '../../state/index.js';
import { describeMetadata, type MetadataBackend } from '../../state/metadata-backend.js';
import type { Command } from 'commander';
import { dataDirOf, metadataOf, openState, requireDataDir, storageOf } from '../admin-support.js';
import { describeStorage, type StorageBackend } from '../../storage/storage-backend.js';
import { createFilesystemDriver } from '../../storage/filesystem-driver.js';
import { pathFor } from '../../storage/paths.js';
import { jsonOption, leaf, optionsOf } from '../command-kit.js';
import { serverAddresses, type ServerAddresses } from '../server-address.js';
import { formatBytes } from '../format.js';

/** systemd's and LSB's "program is not running" status code, so scripts can tell "stopped" from "broken". */
export const notRunningExitCode = 3;

export interface StatusReport {
  dataDir: string;
  /** Where the shared metadata lives: `<dataDir>/state.json`, or the PostgreSQL URL (no password). */
  metadata: string;
  running: boolean;
  pid?: number;
  version?: string;
  startedAt?: string;
  uptimeSeconds?: number;
  auth?: 'token' | 'none';
  /** Where the running server listens; with none running, where its settings say it would. */
  listeners: { http?: string; https?: string };
  upstreams: Array<{ name: string; url: string; isDefault: boolean; online?: boolean; lastError?: string }>;
  /** Where image content lives: `filesystem <dataDir>`, or the `s3://` URL (which holds no secret). */
  storageBackend: string;
  /** Bytes and blobs in the data directory; absent with S3 storage (the bucket's metrics tell, a listing would be slow). */
  storage?: { bytes: number; blobs: number };
  /**
   * With a shared database: which node holds each scheduler lock (gc-scheduler, sync-scheduler) and whether a
   * garbage collection runs (gc), as the database's advisory locks say. Locks nobody holds are absent.
   */
  clusterLocks?: LockHolder[];
}

export async function statusReport(
  dataDir: string,
  metadata: MetadataBackend = { kind: 'file' },
  storage: StorageBackend = { kind: 'filesystem' },
): Promise<StatusReport> {
  const addresses = await serverAddresses(dataDir);
  const store = await openState(dataDir, metadata);
  let upstreams: readonly UpstreamRecord[];
  try {
    upstreams = store.read().upstreams;
  } finally {
    await store.close();
  }
  const usage = storage.kind === 'filesystem' ? await createFilesystemDriver(dataDir).usage(pathFor({ kind: 'blobsRoot' })) : undefined;
  const clusterLocks = metadata.kind === 'postgres' ? await lockHolders(metadata) : undefined;
  return {
    dataDir,
    metadata: describeMetadata(metadata, dataDir),
    running: addresses.running !== undefined,
    ...runningFacts(addresses),
    listeners: { http: addresses.http, https: addresses.https },
    upstreams: upstreams.map((record) => {
      const health = addresses.running?.upstreams.find((entry) => entry.name === record.name);
      return { name: record.name, url: record.url, isDefault: record.isDefault, online: health?.online, lastError: health?.lastError };
    }),
    storageBackend: describeStorage(storage, dataDir),
    ...(usage ? { storage: { bytes: usage.bytes, blobs: usage.files } } : {}),
    ...(clusterLocks ? { clusterLocks } : {}),
  };
}

async function lockHolders(metadata: MetadataBackend): Promise<LockHolder[]> {
  const locks = await openClusterLocks(metadata, { node: () => `${hostname()} berth status pid ${process.pid}` });
  try {
    return await locks.holders(schedulerLockNames);
  } finally {
    await locks.close();
  }
}

function runningFacts({ running }: ServerAddresses): Partial<StatusReport> {
  if (!running) return {};
  return {
    pid: running.process.pid,
    version: running.version,
    startedAt: new Date(running.process.startedAtMs).toISOString(),
    uptimeSeconds: Math.max(0, Math.floor((Date.now() - running.process.startedAtMs) / 1000)),
    auth: running.auth,
  };
}

export function formatStatus(report: StatusReport): string {
  const lines: string[] = [];
  if (report.running) {
    lines.push(`Berth ${report.version} is running on ${report.dataDir} (pid ${report.pid}, up ${formatDuration((report.uptimeSeconds ?? 0) * 1000)})`);
  } else {
    lines.push(`No Berth server is running on ${report.dataDir}. Start it with: berth serve --data ${report.dataDir}   (or npm start)`);
  }
  const verb = report.running ? '' : ' (from the settings; nothing listens yet)';
  lines.push('', `Listeners${verb}:`);
  lines.push(`  registry, HTTP   ${report.listeners.http ?? 'off'}`);
  lines.push(`  registry, HTTPS  ${report.listeners.https ?? 'off'}`);
  if (report.auth) lines.push(`  access           ${report.auth === 'token' ? 'access tokens required (berth token create)' : 'open to everyone on loopback (--auth none)'}`);
  if (report.running) lines.push('  GUI              berth ui-url prints a one-time sign-in link');
  lines.push('', `Metadata: ${report.metadata}`);
  lines.push('', 'Upstreams:');
  if (report.upstreams.length === 0) lines.push('  none (berth upstream add)');
  const width = Math.max(0, ...report.upstreams.map((upstream) => upstream.name.length));
  for (const upstream of report.upstreams) {
    const health = upstream.online === undefined ? (report.running ? 'not contacted yet' : '-') : upstream.online ? 'online' : 'OFFLINE';
    const problem = upstream.lastError ? `  last problem: ${upstream.lastError}` : '';
    lines.push(`  ${upstream.name.padEnd(width)}  ${health.padEnd(17)} ${upstream.url}${upstream.isDefault ? ' (default)' : ''}${problem}`);
  }
  const used = report.storage ? `: ${formatBytes(report.storage.bytes)} in ${report.storage.blobs} blob(s)` : '';
  lines.push('', `Storage: ${report.storageBackend}${used}`);
  if (report.clusterLocks) {
    lines.push('', 'Cluster schedulers (the node holding each lock runs it):');
    const holderOf = (lock: string) => report.clusterLocks?.find((holder) => holder.lock === lock);
    const what: Record<(typeof schedulerLockNames)[number], [string, string]> = {
      'gc-scheduler': ['scheduled garbage collection', 'no node (none running)'],
      'sync-scheduler': ['sync schedule', 'no node (none running)'],
      gc: ['garbage collection running', 'none now'],
    };
    for (const lock of schedulerLockNames) {
      const holder = holderOf(lock);
      const [label, nobody] = what[lock];
      lines.push(`  ${label.padEnd(28)} ${holder ? `${holder.node}${holder.since ? ` (connected since ${holder.since})` : ''}` : nobody}`);
    }
  }
  return lines.join('\n');
}

async function status(command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean }>(command);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const report = await statusReport(dataDir, metadataOf(command), storageOf(command));
  console.log(values.json ? JSON.stringify(report, null, 2) : formatStatus(report));
  if (!report.running) process.exitCode = notRunningExitCode;
}

export function registerStatusCommand(program: Command): void {
  leaf(
    program,
    'status',
    '[--json]',
    'Shows whether a Berth server runs on the data directory and what it really listens on (after --listen flags and ' +
      "the desktop app's settings), its pid and uptime, each upstream's health as the server last saw it, and the " +
      'storage used. Exits 0 when a server runs, 3 when none does.',
  )
    .summary('show whether Berth runs, where it listens, upstream health and storage')
    .addOption(jsonOption('the same as one JSON object'))
    .action((_options, command: Command) => status(command));
}
