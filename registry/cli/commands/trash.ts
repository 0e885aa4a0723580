import type { Command } from 'commander';
import { isRepositoryName } from '../../core/names.js';
import { defaultTrashDays, namespacePolicy } from '../../lifecycle/policies.js';
import { maxTrashDays, setTrashDays } from '../../lifecycle/trash-days.js';
import { isTrashError } from '../../lifecycle/trash-errors.js';
import { isTrashEntryId, type TrashEntry } from '../../lifecycle/trash-store.js';
import { CliUsageError } from '../cli-error.js';
import { auditAdmin, dataDirOf, formatTable, formatTime, metadataOf, openState, requireDataDir } from '../admin-support.js';
import { group, jsonOption, leaf, optionsOf } from '../command-kit.js';
import { formatBytes, shortDigest } from '../format.js';
import { withRegistry } from './image.js';

/**
 * `berth trash list|restore|empty|days`: what deletes put in the trash (lifecycle/trash.ts), through the same stores
 * the server uses, so a running server serves a restored image on its next request.
 */

function checkNamespace(name: string): string {
  if (name.includes('/') || !isRepositoryName(name)) throw new CliUsageError(`invalid namespace "${name.slice(0, 80)}": one name component such as team`);
  return name;
}

/** A refused restore says what to do (its hint) after what happened. */
function withHint<T>(work: Promise<T>): Promise<T> {
  return work.catch((error: unknown) => {
    if (isTrashError(error)) throw new Error(error.hint ? `${error.message}: ${error.hint}` : error.message);
    throw error;
  });
}

/** `team/app:1`, `team/app@sha256:abcdef012345…`, or `team/app (repository, 3 manifests)`: what was deleted. */
export function deletedWhat(entry: TrashEntry): string {
  switch (entry.deleted.kind) {
    case 'tag':
      return `${entry.repository}:${entry.deleted.tag}`;
    case 'manifest': {
      const tags = entry.manifests[0]?.tags ?? [];
      return `${entry.repository}@${shortDigest(entry.deleted.digest)}…${tags.length > 0 ? ` (${tags.join(', ')})` : ''}`;
    }
    case 'repository':
      return `${entry.repository} (repository, ${entry.manifests.length} manifest${entry.manifests.length === 1 ? '' : 's'})`;
  }
}

async function list(namespace: string | undefined, command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean }>(command);
  if (namespace !== undefined) checkNamespace(namespace);
  await withRegistry(command, async (registry) => {
    const entries = await registry.trash.list(namespace === undefined ? {} : { namespace });
    const now = Date.now();
    if (values.json) {
      console.log(JSON.stringify(entries.map((entry) => ({ ...entry, expired: Date.parse(entry.expiresAt) <= now })), null, 2));
      return;
    }
    if (entries.length === 0) {
      console.log(`The trash${namespace ? ` of ${namespace}` : ''} is empty.`);
      return;
    }
    const rows = entries.map((entry) => [
      entry.id,
      deletedWhat(entry),
      formatBytes(entry.manifests.reduce((sum, manifest) => sum + manifest.size, 0)),
      entry.manifests.length > 1 && entry.deleted.kind !== 'repository' ? String(entry.manifests.length - 1) : '-',
      `${formatTime(entry.deletedAt)} by ${entry.deletedBy}`,
      Date.parse(entry.expiresAt) <= now ? 'expired' : formatTime(entry.expiresAt),
    ]);
    console.log(formatTable(['ID', 'DELETED', 'MANIFEST SIZE', 'REFERRERS', 'WHEN', 'EXPIRES'], rows));
  });
}

async function restore(id: string, command: Command): Promise<void> {
  const values = optionsOf<{ as?: string; force?: boolean }>(command);
  if (!isTrashEntryId(id)) throw new CliUsageError(`"${id.slice(0, 40)}" is not a trash entry id (16 hex characters): see "berth trash list"`);
  await withRegistry(command, async (registry, dataDir) => {
    const result = await withHint(registry.trash.restore(id, { ...(values.as !== undefined ? { as: values.as } : {}), force: values.force === true }));
    const { entry } = result;
    await auditAdmin(dataDir, metadataOf(command), {
      action: 'trash.restore',
      namespace: entry.namespace,
      repository: entry.repository,
      ...(entry.deleted.kind === 'manifest' ? { digest: entry.deleted.digest } : {}),
      detail: { trashEntry: entry.id, tags: result.tags, manifestsRestored: result.manifestsRestored, force: values.force === true },
    });
    const tags = result.tags.length > 0 ? `: ${result.tags.map((tag) => `${entry.repository}:${tag}`).join(', ')}` : ` (untagged: pull it by digest ${entry.repository}@${entry.manifests[0]?.digest ?? ''})`;
    console.log(`Restored ${deletedWhat(entry)}${tags}.`);
  });
}

async function empty(command: Command): Promise<void> {
  const values = optionsOf<{ expiredOnly?: boolean; namespace?: string }>(command);
  const namespace = values.namespace === undefined ? undefined : checkNamespace(values.namespace);
  await withRegistry(command, async (registry, dataDir) => {
    const expiredOnly = values.expiredOnly === true;
    const removed = await registry.trash.empty({ ...(namespace !== undefined ? { namespace } : {}), expiredOnly });
    if (removed.length > 0) {
      await auditAdmin(dataDir, metadataOf(command), {
        action: 'trash.empty',
        ...(namespace !== undefined ? { namespace } : {}),
        detail: { removed: removed.length, expiredOnly, entries: removed.slice(0, 100).map((entry) => entry.id) },
      });
    }
    const what = `${removed.length} ${expiredOnly ? 'expired ' : ''}trash entr${removed.length === 1 ? 'y' : 'ies'}`;
    console.log(removed.length === 0 ? 'Nothing to drop: the trash holds no such entries.' : `Dropped ${what} for good. "berth gc" frees their space.`);
  });
}

async function days(namespace: string, text: string | undefined, command: Command): Promise<void> {
  checkNamespace(namespace);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const state = await openState(dataDir, metadataOf(command));
  try {
    if (text === undefined) {
      console.log(`Deletes in ${namespace} stay in the trash for ${namespacePolicy(state.read(), namespace)?.trashDays ?? defaultTrashDays} day(s).`);
      return;
    }
    if (!/^\d{1,4}$/.test(text) || Number(text) > maxTrashDays) throw new CliUsageError(`DAYS must be a whole number from 0 to ${maxTrashDays}, not "${text.slice(0, 20)}"`);
    const value = Number(text);
    const { was } = await withHint(setTrashDays(state, namespace, value));
    if (was !== value) await auditAdmin(dataDir, metadataOf(command), { action: 'trash.days', namespace, detail: { days: value, was } });
    const meaning = value === 0 ? 'freed by the next garbage collection' : `restorable for ${value} day(s)`;
    console.log(`Deletes in ${namespace} are now ${meaning}${was === value ? ' (unchanged)' : ` (was ${was})`}. Entries already in the trash keep their expiry.`);
  } finally {
    await state.close();
  }
}

export function registerTrashCommands(program: Command): void {
  const trash = group(
    program,
    'trash',
    'list, restore and empty deleted images',
    'Every delete (docker/skopeo/oras DELETE, "berth image rm", the GUI) puts what it removed in the trash: gone for ' +
      'clients at once, restorable with its tags and referrers until it expires (30 days unless "berth trash days" says ' +
      'otherwise). Garbage collection keeps its bytes until then.',
  );
  trash.addHelpText('after', `
Examples:
  berth trash list team
  berth trash restore 3f9c2a7d1b0e4c55 --as 1-restored
  berth trash empty --expired-only
  berth trash days team 7`);
  leaf(trash, 'list', '[NAMESPACE] [--json]', 'entries, newest first: what was deleted, by whom, when it expires')
    .alias('ls')
    .argument('[NAMESPACE]', 'only this namespace (team)')
    .addOption(jsonOption())
    .action((namespace: string | undefined, _options, command: Command) => list(namespace, command));
  leaf(trash, 'restore', 'ID [--as TAG] [--force]', 'brings an entry back: its manifests, their layers, tags and referrers')
    .argument('<ID>', 'the entry, as "berth trash list" shows it')
    .option('--as <TAG>', 'restore the tag(s) as this tag instead')
    .option('--force', 'move a tag that now names another image back to the restored one')
    .action((id: string, _options, command: Command) => restore(id, command));
  leaf(trash, 'empty', '[--expired-only] [--namespace NAME]', 'drops entries for good; "berth gc" then frees their space')
    .option('--expired-only', 'only entries whose time is up')
    .option('--namespace <NAME>', 'only this namespace')
    .action((_options, command: Command) => empty(command));
  leaf(trash, 'days', 'NAMESPACE [DAYS]', `how long deletes in a namespace stay restorable (0 to ${maxTrashDays}; default 30); without DAYS, prints it`)
    .argument('<NAMESPACE>', 'the namespace, e.g. team')
    .argument('[DAYS]', 'whole days; 0 frees deletes at the next garbage collection')
    .action((namespace: string, value: string | undefined, _options, command: Command) => days(namespace, value, command));
}
