import type { Command } from 'commander';
import { formatBytes, parseByteSize } from '../../core/byte-size.js';
import { isRepositoryName } from '../../core/names.js';
import { namespacePolicy, updatePolicy } from '../../lifecycle/policies.js';
import type { QuotaLimits } from '../../state/index.js';
import { CliUsageError } from '../cli-error.js';
import { auditAdmin, dataDirOf, formatTable, metadataOf, openState, requireDataDir } from '../admin-support.js';
import { group, jsonOption, leaf, optionsOf } from '../command-kit.js';
import { namespaceUsages } from '../namespace-usage.js';

function checkNamespace(name: string): string {
  if (name.includes('/') || !isRepositoryName(name)) {
    throw new CliUsageError(`invalid namespace "${name.slice(0, 80)}": one lowercase name component like team or my-org (a-z 0-9 . _ -)`);
  }
  return name;
}

/** `10GiB`, `500MB`, a number of bytes, or `none` (no limit; not null, which commander turns into ''). */
function sizeOption(flag: string): (text: string) => number | 'none' {
  return (text) => {
    if (text.trim().toLowerCase() === 'none') return 'none';
    const bytes = parseByteSize(text);
    if (bytes === undefined) throw new CliUsageError(`${flag} "${text.slice(0, 40)}" is not a size: use e.g. 10GiB, 500MB, 1048576, or none for no limit`);
    return bytes;
  };
}

const shown = (bytes: number | undefined) => (bytes === undefined ? 'none' : formatBytes(bytes));

async function set(rawName: string, command: Command): Promise<void> {
  const name = checkNamespace(rawName);
  const values = optionsOf<{ maxStorage?: number | 'none'; pullsPerMonth?: number | 'none' }>(command);
  // `--storage` is every command's storage backend (s3://...): a size there was meant as the quota.
  const backend = (values as { storage?: unknown }).storage;
  if (typeof backend === 'string' && (parseByteSize(backend) !== undefined || backend === 'none')) {
    throw new CliUsageError(`--storage names where images live (s3://...); the storage quota is --max-storage ${backend}`);
  }
  if (values.maxStorage === undefined && values.pullsPerMonth === undefined) {
    throw new CliUsageError('nothing to set: give --max-storage SIZE and/or --pulls-per-month SIZE (none removes a limit)');
  }
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
  let was: QuotaLimits = {};
  let quota: QuotaLimits = {};
  try {
    await store.update((draft) => {
      if (!draft.namespaces.some((ns) => ns.name === name)) throw new Error(`no namespace "${name}": create it with "berth namespace create ${name}" (or push to it once)`);
      was = { ...namespacePolicy(draft, name)?.quota };
      quota = { ...was };
      for (const [field, value] of [['storageBytes', values.maxStorage], ['pullBytesPerMonth', values.pullsPerMonth]] as const) {
        if (value === 'none') delete quota[field];
        else if (value !== undefined) quota[field] = value;
      }
      updatePolicy(draft, name, { quota: Object.keys(quota).length > 0 ? quota : undefined });
    });
  } finally {
    await store.close();
  }
  await auditAdmin(dataDir, metadataOf(command), { action: 'quota.update', namespace: name, detail: { quota, was } });
  console.log(`Namespace "${name}": storage quota ${shown(quota.storageBytes)}, pull quota ${shown(quota.pullBytesPerMonth)} per month.`);
}

async function show(rawName: string | undefined, command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean }>(command);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
  let state;
  try {
    state = store.read();
  } finally {
    await store.close();
  }
  const name = rawName === undefined ? undefined : checkNamespace(rawName);
  const names = state.namespaces.map((ns) => ns.name).filter((ns) => name === undefined || ns === name).sort();
  if (name !== undefined && names.length === 0) throw new Error(`no namespace "${name}": see "berth namespace list"`);
  const usages = await namespaceUsages(command, state, names);
  const rows = names.map((ns) => ({ namespace: ns, quota: { ...namespacePolicy(state, ns)?.quota }, usage: usages.get(ns) }));
  if (values.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  if (rows.length === 0) {
    console.log('No namespaces yet: a first push creates one, or "berth namespace create NAME".');
    return;
  }
  console.log(formatTable(['NAMESPACE', 'STORAGE USED', 'STORAGE QUOTA', 'PULLED THIS MONTH', 'PULL QUOTA'], rows.map(quotaColumns)));
}

/** Shared with `berth namespace list`. */
export function quotaColumns(row: { quota: QuotaLimits; usage?: { storageBytes: number; pullBytesThisMonth: number }; namespace?: string }): string[] {
  // Without usage (the stores could not be read), '?' rather than a 0 that would look like an empty namespace.
  const used = row.usage?.storageBytes;
  const limit = row.quota.storageBytes;
  const percent = limit === undefined || used === undefined ? '' : ` (${Math.round((used / limit) * 100)}%)`;
  return [
    ...(row.namespace === undefined ? [] : [row.namespace]),
    used === undefined ? '?' : formatBytes(used),
    limit === undefined ? 'none' : `${formatBytes(limit)}${percent}`,
    row.usage === undefined ? '?' : formatBytes(row.usage.pullBytesThisMonth),
    shown(row.quota.pullBytesPerMonth),
  ];
}

export function registerQuotaCommands(program: Command): void {
  const quota = group(
    program,
    'quota',
    'show and set the storage and pull-traffic quotas of namespaces',
    'A storage quota limits the unique bytes a namespace references (a layer shared by two of its images counted once): ' +
      'a push that would pass it is refused (DENIED) before a byte of it is stored. A pull quota limits the blob bytes ' +
      'pulled from it per calendar month (UTC): once used up, pulls are refused until the month ends.',
  );
  quota.addHelpText('after', `
Examples:
  berth quota set team --max-storage 10GiB --pulls-per-month 100GiB
  berth quota set team --max-storage none
  berth quota show team`);
  leaf(quota, 'set', 'NAMESPACE [--max-storage SIZE|none] [--pulls-per-month SIZE|none]', 'sets or removes a namespace\'s quotas')
    .argument('<NAMESPACE>', 'the namespace, one name component such as team')
    .option('--max-storage <SIZE>', 'unique bytes the namespace may reference (10GiB, 500MB; none: no limit)', sizeOption('--max-storage'))
    .option('--pulls-per-month <SIZE>', 'blob bytes that may be pulled from it per calendar month (none: no limit)', sizeOption('--pulls-per-month'))
    .action((name: string, _options, command: Command) => set(name, command));
  leaf(quota, 'show', '[NAMESPACE] [--json]', 'usage and quotas of every namespace, or of one')
    .argument('[NAMESPACE]', 'only this namespace')
    .addOption(jsonOption())
    .action((name: string | undefined, _options, command: Command) => show(name, command));
}
