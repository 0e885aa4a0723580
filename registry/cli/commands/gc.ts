import { hostname } from 'node:os';
import { lockNames, openClusterLocks, runExclusive } from '../../cluster/cluster-locks.js';
import { formatDuration, parseDuration } from '../../core/duration.js';
import { collectGarbage, type GarbageCollectionResult } from '../../storage/garbage-collector.js';
import { trashCollectionRoots } from '../../lifecycle/trash.js';
import type { TrashEntry } from '../../lifecycle/trash-store.js';
import { openIndexStores } from '../../storage/metadata-index-stores.js';
import { CliUsageError } from '../cli-error.js';
import type { Command } from 'commander';
import { auditAdmin, dataDirOf, requireDataDir, metadataOf, storageOf, withStorage } from '../admin-support.js';
import { jsonOption, leaf, optionsOf } from '../command-kit.js';
import { formatBytes } from '../format.js';

interface GcOptions {
  dryRun?: boolean;
  grace: string;
  json?: boolean;
}

async function gc(command: Command): Promise<void> {
  const values = optionsOf<GcOptions>(command);
  const graceMs = graceOf(values.grace);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  // The metadata index the server shares (SQLite in the data directory, or the --metadata database): collection
  // marks from it (and first brings it up to date with the files).
  const storage = storageOf(command);
  const metadata = metadataOf(command);
  const { index, usage, trash: trashStore } = await openIndexStores(dataDir, metadata);
  await usage.close();
  // What the trash still holds is kept; its expired entries are dropped and freed by this run.
  const expired: TrashEntry[] = [];
  const trash = {
    async collectionRoots(at: Date, dryRun: boolean) {
      const found = await trashCollectionRoots(trashStore, at, dryRun);
      if (!dryRun) expired.push(...found.expired);
      return found;
    },
  };
  // With a shared database, under the cluster's gc lock: refused, naming the node, while a node collects (its
  // schedule or the GUI's "reclaim now"), and no node starts one while this runs.
  const locks = await openClusterLocks(metadata, { node: () => `${hostname()} berth gc pid ${process.pid}` });
  let result: GarbageCollectionResult;
  try {
    // The storage the index describes (checked against the database's binding): sweeping another would delete content the index never saw.
    // This process does nothing but the collection: its tens of thousands of stats and listings run inline, not
    // through the thread pool (about half the time of the index check).
    result = await runExclusive(locks, lockNames.gc, 'a garbage collection', () =>
      withStorage(dataDir, storage, metadata, (driver) => collectGarbage(driver, index, { graceMs, dryRun: values.dryRun === true, trash }), { inlineReads: true }),
    );
  } finally {
    await index.close();
    await trashStore.close();
    await locks.close();
  }
  if (!result.dryRun && (result.blobsDeleted > 0 || result.layerLinksRemoved > 0 || result.trashEntriesExpired > 0)) {
    await auditAdmin(dataDir, metadataOf(command), { action: 'storage.gc', detail: auditDetail(result) });
  }
  // As the server audits the entries its collections drop: gone for good.
  for (const entry of expired) {
    await auditAdmin(dataDir, metadataOf(command), { action: 'trash.expire', namespace: entry.namespace, repository: entry.repository, detail: { trashEntry: entry.id } });
  }
  console.log(values.json ? JSON.stringify(result, null, 2) : formatGcResult(result));
}

export function registerGcCommand(program: Command): void {
  leaf(
    program,
    'gc',
    '[--dry-run] [--grace 1h] [--json]',
    'Frees the disk space of deleted images: removes blobs (layers, configs, manifests) that no manifest of any ' +
      'repository references any more. Tagged and untagged manifests are kept (an untagged one is still pullable by ' +
      'digest): to free an image, delete its manifest by digest first (berth image rm REPO@DIGEST, or the GUI). ' +
      'Deleted images stay in the trash (restorable) until their entry expires or "berth trash empty" drops it.',
  )
    .summary('free the disk space of deleted images (garbage collection)')
    .option('--dry-run', 'report what would be freed, delete nothing')
    .option('--grace <DURATION>', 'spare what was uploaded or linked less than DURATION ago, so pushes in progress are safe; 0 collects everything unreferenced: only when nothing is pushing', '1h')
    .addOption(jsonOption('print the figures as JSON'))
    .action((_options, command: Command) => gc(command));
}

function graceOf(text: string): number {
  if (/^0+[smhdwy]?$/.test(text.trim())) return 0;
  try {
    return parseDuration(text);
  } catch (error) {
    throw new CliUsageError(`--grace: ${(error as Error).message}`);
  }
}

export function auditDetail(result: GarbageCollectionResult): Record<string, number> {
  const { blobsDeleted, bytesFreed, layerLinksRemoved, graceMs, trashEntriesExpired } = result;
  return { blobsDeleted, bytesFreed, layerLinksRemoved, graceMs, trashEntriesExpired };
}

/** What a person wants to read after a run: what went (or would go), what stays, and anything spared. */
export function formatGcResult(result: GarbageCollectionResult): string {
  const verb = result.dryRun ? 'would free' : 'Freed';
  const lines = [
    `${result.dryRun ? 'Dry run: ' : ''}${verb} ${formatBytes(result.bytesFreed)} in ${plural(result.blobsDeleted, 'blob')}` +
      ` (${plural(result.layerLinksRemoved, 'unreferenced layer link')} ${result.dryRun ? 'to remove' : 'removed'}).`,
    `Kept ${formatBytes(result.bytesKept)} in ${plural(result.blobsKept, 'blob')}, ${plural(result.manifestsKept, 'manifest')}` +
      ` in ${plural(result.repositories, 'repository', 'repositories')}.`,
  ];
  if (result.trashManifestsKept > 0) {
    lines.push(`Kept ${plural(result.trashManifestsKept, 'deleted manifest')} of the trash (restorable until the entry expires).`);
  }
  if (result.trashEntriesExpired > 0) {
    lines.push(`${plural(result.trashEntriesExpired, 'expired trash entry', 'expired trash entries')} ${result.dryRun ? 'would be' : result.trashEntriesExpired === 1 ? 'was' : 'were'} dropped for good.`);
  }
  if (result.youngSpared > 0) {
    const spared = plural(result.youngSpared, 'unreferenced blob or link', 'unreferenced blobs or links');
    lines.push(`Spared ${spared} younger than ${formatDuration(result.graceMs)} (pushes in progress).`);
  }
  if (result.unreadableManifests > 0) {
    lines.push(`Warning: ${plural(result.unreadableManifests, 'unreadable manifest')}: every layer of their repositories was kept.`);
  }
  if (result.dryRun && result.blobsDeleted > 0) lines.push('Run without --dry-run to delete them.');
  return lines.join('\n');
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
