import type { Command } from 'commander';
import { namespaceOf } from '../../core/names.js';
import { policyFor } from '../../lifecycle/policies.js';
import { runRetention, type RetentionReport } from '../../lifecycle/retention-run.js';
import { checkScope, describeRules, RetentionRuleError, setRetentionRules } from '../../lifecycle/retention-rules.js';
import { effectiveRetentionEveryHours, maxRetentionEveryHours } from '../../lifecycle/retention-schedule.js';
import { openAuditLog } from '../../state/metadata-backend.js';
import type { RetentionRules } from '../../state/index.js';
import { CliUsageError } from '../cli-error.js';
import { auditAdmin, dataDirOf, formatTable, metadataOf, openState, requireDataDir } from '../admin-support.js';
import { failUsage, group, jsonOption, leaf, optionsOf } from '../command-kit.js';
import { shortDigest } from '../format.js';
import { withRegistry } from './image.js';

/**
 * `berth retention set|show|run|schedule`: retention policies per namespace or repository (lifecycle/), read and
 * changed in the state the server shares, and runs over the same stores the server uses.
 */

interface SetOptions {
  keepNewest?: string;
  order?: string;
  untaggedDays?: string;
  unpulledDays?: string;
  clear?: boolean;
}

/** A whole number, or `off` (undefined: remove the rule). */
function numberOrOff(text: string | undefined, flag: string): number | undefined | null {
  if (text === undefined) return null;
  if (text === 'off') return undefined;
  if (!/^\d{1,9}$/.test(text)) throw new CliUsageError(`${flag} needs a whole number (or off to remove the rule), not "${text.slice(0, 40)}"`);
  return Number(text);
}

function scopeArgument(text: string): string {
  try {
    return checkScope(text);
  } catch (error) {
    throw new CliUsageError((error as Error).message);
  }
}

async function set(rawScope: string, command: Command): Promise<void> {
  const values = optionsOf<SetOptions>(command);
  const scope = scopeArgument(rawScope);
  const changes: Array<[keyof RetentionRules, number | string | undefined | null]> = [
    ['keepNewest', numberOrOff(values.keepNewest, '--keep-newest')],
    ['orderBy', values.order === undefined ? null : values.order === 'off' ? undefined : values.order],
    ['untaggedDays', numberOrOff(values.untaggedDays, '--untagged-days')],
    ['unpulledDays', numberOrOff(values.unpulledDays, '--unpulled-days')],
  ];
  if (!values.clear && changes.every(([, value]) => value === null)) {
    failUsage(command, 'nothing to set: give at least one of --keep-newest, --order, --untagged-days, --unpulled-days, or --clear');
  }
  const dataDir = dataDirOf(command);
  const metadata = metadataOf(command);
  const store = await openState(dataDir, metadata);
  let stored: RetentionRules | undefined;
  try {
    await store.update((draft) => {
      const rules: Record<string, unknown> = values.clear ? {} : { ...draft.policies.find((record) => record.scope === scope)?.retention };
      for (const [key, value] of changes) {
        if (value === null) continue;
        if (value === undefined) delete rules[key];
        else rules[key] = value;
      }
      stored = setRetentionRules(draft, scope, rules)?.retention;
    });
  } catch (error) {
    if (error instanceof RetentionRuleError) throw new CliUsageError(error.message);
    throw error;
  } finally {
    await store.close();
  }
  await auditAdmin(dataDir, metadata, { action: 'retention.set', namespace: namespaceOf(scope), detail: { scope, retention: stored ?? null } });
  console.log(`Retention of ${scope}: ${describeRules(stored)}. Preview what it removes with: berth retention run ${scope} --dry-run`);
}

async function show(rawScope: string | undefined, command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean }>(command);
  const scope = rawScope === undefined ? undefined : scopeArgument(rawScope);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const store = await openState(dataDir, metadataOf(command));
  try {
    const state = store.read();
    const everyHours = effectiveRetentionEveryHours(state.settings.retentionEveryHours);
    const records = state.policies
      .filter((record) => record.retention !== undefined && (scope === undefined || record.scope === scope || record.scope === namespaceOf(scope)))
      .sort((a, b) => (a.scope < b.scope ? -1 : 1));
    // A repository's rules are its namespace's, overridden by its own (lifecycle/policies.ts).
    const effective = scope?.includes('/') ? policyFor(state, scope).retention : undefined;
    if (values.json) {
      const json = { everyHours, policies: records.map(({ scope: name, retention, updatedAt }) => ({ scope: name, retention, updatedAt })), ...(scope?.includes('/') ? { effective: effective ?? {} } : {}) };
      console.log(JSON.stringify(json, null, 2));
      return;
    }
    if (records.length === 0) console.log(`No retention rules${scope ? ` for ${scope}` : ''}. Set some with: berth retention set ${scope ?? 'NAMESPACE'} --keep-newest 10 --untagged-days 14`);
    else console.log(formatTable(['SCOPE', 'RULES'], records.map((record) => [record.scope, describeRules(record.retention)])));
    if (scope?.includes('/')) console.log(`In effect for ${scope}: ${describeRules(effective)}`);
    console.log(everyHours === 0 ? 'Scheduled runs: off (berth retention schedule 24 turns them on).' : `Scheduled runs: every ${everyHours} h while berth serve runs.`);
  } finally {
    await store.close();
  }
}

async function run(rawScope: string | undefined, command: Command): Promise<void> {
  const values = optionsOf<{ dryRun?: boolean; json?: boolean; asOf?: string }>(command);
  const scope = rawScope === undefined ? undefined : scopeArgument(rawScope);
  const asOf = values.asOf === undefined ? undefined : asOfDate(values.asOf);
  const dataDir = dataDirOf(command);
  const metadata = metadataOf(command);
  const report = await withRegistry(command, async (registry) => {
    const state = await openState(dataDir, metadata);
    const audit = await openAuditLog(dataDir, metadata);
    try {
      return await runRetention(
        { repositories: registry.repositories, trash: registry.trash, pulls: registry.pulls, state, audit },
        { dryRun: values.dryRun === true, ...(scope !== undefined ? { scope } : {}), ...(asOf ? { now: asOf } : {}), actor: 'admin', client: 'cli' },
      );
    } finally {
      await audit.close();
      await state.close();
    }
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
}

/** `--as-of`: an ISO date or time (2030-01-31, 2030-01-31T12:00:00Z). */
function asOfDate(text: string): Date {
  const date = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) throw new CliUsageError(`--as-of needs a date such as 2030-01-31 or 2030-01-31T12:00:00Z, not "${text.slice(0, 40)}"`);
  return date;
}

/** The removals as a table (what went, or would go, and why), then what was spared or skipped. */
export function formatReport(report: RetentionReport): string {
  const lines: string[] = [];
  const target = (removal: { repository: string; kind: 'tag' | 'manifest'; reference: string; tags?: string[] }) =>
    removal.kind === 'tag' ? `${removal.repository}:${removal.reference}` : `${removal.repository}@${shortDigest(removal.reference)}${removal.tags ? ` (${removal.tags.join(', ')})` : ''}`;
  if (report.removals.length === 0) lines.push(report.dryRun ? 'Dry run: nothing to remove.' : 'Nothing removed.');
  else {
    lines.push(`${report.dryRun ? 'Dry run: would remove' : 'Removed'} ${report.removals.length} tag(s) and manifest(s):`);
    lines.push(formatTable(['REMOVE', 'RULE', 'WHY'], report.removals.map((removal) => [target(removal), removal.rule, removal.reason])));
  }
  if (report.spared.length > 0) {
    lines.push('', `Kept although a rule applies (${report.spared.length}):`);
    lines.push(formatTable(['KEEP', 'RULE', 'WHY'], report.spared.map((spared) => [`${spared.repository}${spared.reference.includes(':') ? '@' + shortDigest(spared.reference) : ':' + spared.reference}`, spared.rule, spared.why])));
  }
  if (report.skipped.length > 0) {
    lines.push('', `Left alone because they changed since the plan (${report.skipped.length}):`);
    lines.push(formatTable(['SKIPPED', 'WHY'], report.skipped.map((skipped) => [target(skipped), skipped.why])));
  }
  if (report.dryRun && report.removals.length > 0) lines.push('', 'Run without --dry-run to remove them.');
  else if (!report.dryRun && report.removals.length > 0) lines.push('', '"berth gc" frees the space of layers no other image uses.');
  return lines.join('\n');
}

async function schedule(hoursText: string, command: Command): Promise<void> {
  if (!/^\d{1,4}$/.test(hoursText) || Number(hoursText) > maxRetentionEveryHours) {
    throw new CliUsageError(`HOURS must be a whole number from 0 (off) to ${maxRetentionEveryHours}, not "${hoursText.slice(0, 40)}"`);
  }
  const everyHours = Number(hoursText);
  const dataDir = dataDirOf(command);
  const metadata = metadataOf(command);
  const store = await openState(dataDir, metadata);
  try {
    await store.update((draft) => {
      draft.settings.retentionEveryHours = everyHours;
    });
  } finally {
    await store.close();
  }
  await auditAdmin(dataDir, metadata, { action: 'retention.schedule', detail: { everyHours } });
  console.log(everyHours === 0 ? 'Scheduled retention runs are off; "berth retention run" still works.' : `Retention runs every ${everyHours} h while berth serve runs.`);
}

export function registerRetentionCommands(program: Command): void {
  const retention = group(
    program,
    'retention',
    'retention policies: keep the newest tags, remove old untagged manifests, evict unpulled mirror images',
    'Retention policies per namespace or repository (a repository\'s rules override its namespace\'s, rule by rule). ' +
      'Pinned images (berth pin) and immutable tags are never removed.',
  );
  leaf(retention, 'set', 'SCOPE [--keep-newest N] [--order pushed|semver] [--untagged-days T] [--unpulled-days D] [--clear]', 'Sets rules of a namespace (team) or a repository (team/app); rules not named stay as they were.')
    .argument('<SCOPE>', 'a namespace (team) or a repository (team/app)')
    .option('--keep-newest <N>', 'keep the newest N tags of each repository, remove older tags (their manifests stay until untagged-days); off removes the rule')
    .option('--order <ORDER>', 'what newest means: pushed (push time, the default) or semver (version tags only; latest and other names stay)')
    .option('--untagged-days <T>', 'remove manifests no tag points at, pushed more than T days ago; off removes the rule')
    .option('--unpulled-days <D>', 'mirror namespaces: evict images not pulled for D days; off removes the rule')
    .option('--clear', 'remove every rule first')
    .action((scope: string, _options, command: Command) => set(scope, command));
  leaf(retention, 'show', '[SCOPE] [--json]', 'Lists the retention rules (of one scope, and for a repository the rules in effect) and the schedule.')
    .argument('[SCOPE]', 'a namespace or repository')
    .addOption(jsonOption())
    .action((scope: string | undefined, _options, command: Command) => show(scope, command));
  leaf(retention, 'run', '[SCOPE] [--dry-run] [--json]', 'Applies the retention rules now (all scopes, or one namespace or repository); --dry-run lists what a run would remove.')
    .argument('[SCOPE]', 'a namespace or repository')
    .option('--dry-run', 'list what would be removed, remove nothing')
    .option('--as-of <DATE>', 'measure ages from DATE instead of now: with --dry-run, what a run on that day would remove')
    .addOption(jsonOption('print the report as JSON'))
    .action((scope: string | undefined, _options, command: Command) => run(scope, command));
  leaf(retention, 'schedule', 'HOURS', 'Sets how often a running Berth applies the rules (default every 24 h; 0 turns scheduled runs off).')
    .argument('<HOURS>', 'hours between runs, 0 for none')
    .action((hours: string, _options, command: Command) => schedule(hours, command));
}
