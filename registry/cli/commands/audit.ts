import {
  defaultAuditRetentionDays,
  effectiveAuditRetentionDays,
  maxAuditRetentionDays,
  pruneAudit,
  queryAudit,
  type AuditEvent,
} from '../../auth/index.js';
import { DurationError, parseDuration, parsePointInTime } from '../../core/duration.js';
import { defaultDataDir } from '../../config/data-dir.js';
import { CliUsageError } from '../cli-error.js';
import { dataDirOf, formatTable, openState, parseCommandArgs, requireDataDir } from '../admin-support.js';

export const auditUsage = `berth audit [--since DURATION|DATE] [--namespace NS] [--action ACTION] [--actor NAME] [--limit N] [--json] [--data DIR]

Shows the audit trail (token and namespace changes, pushes, deletes, refused requests), oldest first.
  --since      how far back: 24h, 7d, ... or a date such as 2030-01-31 (default: everything)
  --namespace  only events in this namespace
  --action     an action (push, token.create, auth.denied, ...) or a family such as token.*
  --actor      only events by this token name (or anonymous, admin)
  --limit N    the newest N matching events (default 100)
  --json       one JSON object per line (JSON Lines), for jq and scripts
  --data DIR   data directory (default: ${defaultDataDir()})

berth audit prune [--keep DURATION] [--data DIR]

Deletes the audit trail's day files older than the retention (a running Berth also does this daily).
  --keep       how much to keep, in whole days: 90d, 12w, 1y
               (default: the auditRetentionDays setting, else ${defaultAuditRetentionDays}d)`;

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

async function pruneCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, { data: { type: 'string' }, keep: { type: 'string' } }, 'berth audit');
  if (positionals.length > 0) {
    throw new CliUsageError(`unexpected argument "${positionals[0]}": use --keep 90d to choose the retention`);
  }
  const explicit = values.keep === undefined ? undefined : parseKeep(values.keep);
  const dataDir = dataDirOf(values);
  requireDataDir(dataDir);
  let keepDays = explicit;
  if (keepDays === undefined) {
    const state = await openState(dataDir);
    try {
      keepDays = effectiveAuditRetentionDays(state.read().settings.auditRetentionDays);
    } finally {
      await state.close();
    }
  }
  const deleted = await pruneAudit(dataDir, { keepDays, client: 'cli' });
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

export async function auditCommand(argv: string[]): Promise<void> {
  if (argv[0] === 'prune') return pruneCommand(argv.slice(1));
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      data: { type: 'string' },
      since: { type: 'string' },
      namespace: { type: 'string' },
      action: { type: 'string' },
      actor: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    'berth audit',
  );
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}": filters are options, e.g. --action push`);
  const limit = parseLimit(values.limit);
  const since = values.since === undefined ? undefined : parseSince(values.since, Date.now());
  const dataDir = dataDirOf(values);
  requireDataDir(dataDir);
  const { events, total } = await queryAudit(dataDir, { since, namespace: values.namespace, action: values.action, actor: values.actor, limit });
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
