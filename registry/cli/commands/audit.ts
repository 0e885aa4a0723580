import {
  defaultAuditRetentionDays,
  effectiveAuditRetentionDays,
  maxAuditRetentionDays,
  type AuditEvent,
  type AuditQueryResult,
} from '../../auth/index.js';
import { openAuditLog } from '../../state/metadata-backend.js';
import { DurationError, parseDuration, parsePointInTime } from '../../core/duration.js';
import { CliUsageError } from '../cli-error.js';
import type { Command } from 'commander';
import { dataDirOf, formatTable, metadataOf, openState, requireDataDir } from '../admin-support.js';
import { group, jsonOption, leaf, optionsOf, runnableGroup } from '../command-kit.js';

const dayMs = 86_400_000;

function parseKeep(text: string): number {
  const range = `from 1d to ${maxAuditRetentionDays}d, e.g. 90d, 12w or 1y`;
  const usage = `invalid --keep "${text.slice(0, 40)}": a whole number of days ${range}`;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    if (!(error instanceof DurationError)) throw error;
    throw new CliUsageError(usage);
  }
  // Day files are whole days: "36h" would silently mean 1 or 2 days, so it is refused rather than rounded.
  if (ms % dayMs !== 0 || ms / dayMs > maxAuditRetentionDays) throw new CliUsageError(usage);
  return ms / dayMs;
}

async function prune(command: Command): Promise<void> {
  const values = optionsOf<{ keep?: string }>(command);
  const explicit = values.keep === undefined ? undefined : parseKeep(values.keep);
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  let keepDays = explicit;
  if (keepDays === undefined) {
    const state = await openState(dataDir, metadataOf(command));
    try {
      keepDays = effectiveAuditRetentionDays(state.read().settings.auditRetentionDays);
    } finally {
      await state.close();
    }
  }
  const audit = await openAuditLog(dataDir, metadataOf(command));
  let deleted: string[];
  try {
    deleted = await audit.prune({ keepDays, client: 'cli' });
  } finally {
    await audit.close();
  }
  if (deleted.length === 0) {
    console.log(`No audit day files older than ${keepDays} days.`);
    return;
  }
  const range = deleted.length === 1 ? deleted[0] : `${deleted[0]} … ${deleted.at(-1)}`;
  console.log(`Deleted ${deleted.length} audit day file(s) older than ${keepDays} days (${range}).`);
}

function parseSince(text: string, now: number): Date {
  try {
    return parsePointInTime(text, now);
  } catch (error) {
    if (!(error instanceof DurationError)) throw error;
    throw new CliUsageError(`invalid --since "${text.slice(0, 40)}": use a duration such as 24h or 7d, or a date such as 2030-01-31`);
  }
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return 100;
  if (!/^\d{1,7}$/.test(text) || Number(text) < 1) throw new CliUsageError(`invalid --limit "${text.slice(0, 20)}": a whole number from 1, e.g. --limit 50`);
  return Number(text);
}

/** What the event was about, in one cell: `team/app:1.0`, `team/app@sha256:…`, or a token's name. */
function targetOf(event: AuditEvent): string {
  if (event.repository) {
    if (event.reference) return `${event.repository}:${event.reference}`;
    if (event.digest) return `${event.repository}@${event.digest.slice(0, 19)}…`;
    return event.repository;
  }
  const detail = event.detail as { name?: unknown } | undefined;
  if (detail && typeof detail === 'object' && typeof detail.name === 'string') return detail.name;
  return event.namespace ?? '-';
}

interface AuditOptions {
  since?: string;
  namespace?: string;
  action?: string;
  actor?: string;
  limit?: string;
  json?: boolean;
}

async function show(command: Command): Promise<void> {
  const values = optionsOf<AuditOptions>(command);
  const limit = parseLimit(values.limit);
  const since = values.since === undefined ? undefined : parseSince(values.since, Date.now());
  const dataDir = dataDirOf(command);
  requireDataDir(dataDir);
  const audit = await openAuditLog(dataDir, metadataOf(command));
  let result: AuditQueryResult;
  try {
    result = await audit.query({ since, namespace: values.namespace, action: values.action, actor: values.actor, limit });
  } finally {
    await audit.close();
  }
  const { events, total } = result;
  if (values.json) {
    // One write: a large trail piped into `head` must not interleave partial lines.
    if (events.length > 0) process.stdout.write(`${events.map((event) => JSON.stringify(event)).join('\n')}\n`);
    return;
  }
  if (events.length === 0) {
    console.log('No matching audit events.');
    return;
  }
  const rows = events.map((event) => [
    event.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    event.action,
    event.actor,
    event.namespace ?? '-',
    targetOf(event),
    event.outcome,
    event.client,
  ]);
  console.log(formatTable(['TIME', 'ACTION', 'ACTOR', 'NAMESPACE', 'TARGET', 'OUTCOME', 'CLIENT'], rows));
  if (total > events.length) console.log(`(${events.length} newest of ${total} matching events; use --limit or --since to see others)`);
}

export function registerAuditCommands(program: Command): void {
  const audit = runnableGroup(
    group(program, 'audit', 'show the audit trail', 'Shows the audit trail (token and namespace changes, pushes, deletes, refused requests), oldest first.'),
  )
    .usage('[--since DURATION|DATE] [--namespace NS] [--action ACTION] [--actor NAME] [--limit N] [--json]')
    .option('--since <WHEN>', 'how far back: 24h, 7d, ... or a date such as 2030-01-31 (default: everything)')
    .option('--namespace <NS>', 'only events in this namespace')
    .option('--action <ACTION>', 'an action (push, token.create, auth.denied, ...) or a family such as token.*')
    .option('--actor <NAME>', 'only events by this token name (or anonymous, admin)')
    .option('--limit <N>', 'the newest N matching events (default 100)')
    .addOption(jsonOption('one JSON object per line (JSON Lines), for jq and scripts'))
    .allowExcessArguments(false)
    .action((_options, command: Command) => show(command));
  leaf(
    audit,
    'prune',
    '[--keep DURATION]',
    "deletes the audit trail's day files older than the retention (a running Berth also does this daily)",
  )
    .option('--keep <DURATION>', `how much to keep, in whole days: 90d, 12w, 1y (default: the auditRetentionDays setting, else ${defaultAuditRetentionDays}d)`)
    .action((_options, command: Command) => prune(command));
}
