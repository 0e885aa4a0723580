import type { Command } from 'commander';
import { parseDuration } from '../../core/duration.js';
import { createRegistry } from '../../index.js';
import { createLogger } from '../../log.js';
import { createBlobFetcher, upstreamNamespaces } from '../../mirror/blob-fetches.js';
import { saveSyncRule } from '../../mirror/sync/sync-rules.js';
import { nextScheduledRun } from '../../mirror/sync/sync-schedule.js';
import { hostname } from 'node:os';
import { openClusterLocks } from '../../cluster/cluster-locks.js';
import { createSyncScheduler, SyncJobStateError, type SyncScheduler } from '../../mirror/sync/sync-scheduler.js';
import { createUpstreamPool } from '../../mirror/upstream-pool.js';
import type { JobRecord, SyncRuleRecord } from '../../state/index.js';
import { openStorage, type StorageBackend } from '../../storage/storage-backend.js';
import { CliUsageError } from '../cli-error.js';
import { openAuditLog, openSecretBox, type MetadataBackend } from '../../state/metadata-backend.js';
import { dataDirOf, formatTable, formatTime, metadataOf, openState, requireDataDir, storageOf } from '../admin-support.js';
import { group, jsonOption, leaf, optionsOf, repeatable, requireOption } from '../command-kit.js';
import { formatBytes, formatElapsed, formatSeconds } from '../format.js';

interface AddOptions {
  upstream?: string;
  repo?: string[];
  tags?: string;
  exclude?: string;
  semver?: string;
  newest?: string;
  platform?: string[];
  into?: string;
  every?: string;
}

type StateStore = Awaited<ReturnType<typeof openState>>;

/** Opens the state for one subcommand; `create` only for `add` (a typo in --data must not make an empty Berth). */
async function withState<T>(command: Command, work: (state: StateStore, dataDir: string) => Promise<T>, create = false): Promise<T> {
  const dataDir = dataDirOf(command);
  if (!create) requireDataDir(dataDir);
  const state = await openState(dataDir, metadataOf(command));
  try {
    return await work(state, dataDir);
  } finally {
    await state.close();
  }
}

function parseNewest(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,6}$/.test(text) || Number(text) < 1) throw new CliUsageError(`invalid --newest "${text.slice(0, 20)}": a whole number from 1, e.g. --newest 3`);
  return Number(text);
}

/** When a new rule first runs, and how to run it sooner: it does not start on its own the moment it is added. */
function firstRunLine(rule: SyncRuleRecord, now = Date.now()): string {
  const next = nextScheduledRun(rule);
  const runNow = `berth sync run ${rule.name}`;
  if (next === null) return `it runs only when asked: ${runNow}`;
  const wait = formatSeconds(Math.max(0, Math.round((next - now) / 1000)));
  return `first run in ${wait} (${formatTime(new Date(next).toISOString())}) while Berth is serving, or now: ${runNow}`;
}

async function add(name: string, command: Command): Promise<void> {
  const values = optionsOf<AddOptions>(command);
  const upstream = requireOption(command, values.upstream, '--upstream');
  const newest = parseNewest(values.newest);
  let everySeconds: number | null = null;
  try {
    if (values.every !== undefined) everySeconds = Math.round(parseDuration(values.every) / 1000);
  } catch (error) {
    throw new CliUsageError(`--every: ${(error as Error).message}`);
  }
  await withState(
    command,
    async (state) => {
      const rule = await saveSyncRule(
        state,
        {
          name,
          upstream,
          repositories: values.repo ?? [],
          tags: { include: values.tags, exclude: values.exclude, semver: values.semver, newest },
          platforms: values.platform ?? [],
          into: values.into,
          everySeconds,
        },
        { replace: false },
      ).catch((error: Error) => {
        throw new CliUsageError(error.message);
      });
      const schedule = rule.everySeconds ? `, every ${formatSeconds(rule.everySeconds)}` : ', on demand';
      console.log(`added sync rule ${rule.name}: ${rule.repositories.join(', ')} from ${rule.upstream} into ${rule.into}/${schedule}`);
      console.log(firstRunLine(rule));
    },
    true,
  );
}

async function list(command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean }>(command);
  await withState(command, async (state) => {
    const rules = state.read().syncRules;
    if (values.json) {
      console.log(JSON.stringify(rules, null, 2));
      return;
    }
    if (rules.length === 0) {
      console.log('no sync rules yet: berth sync add RULE --upstream NAME --repo REPO');
      return;
    }
    console.log(
      formatTable(
        ['RULE', 'UPSTREAM', 'REPOSITORIES', 'INTO', 'EVERY', 'STATE', 'LAST RUN'],
        rules.map((rule) => [
          rule.name,
          rule.upstream,
          rule.repositories.join(' '),
          rule.into,
          rule.everySeconds ? formatSeconds(rule.everySeconds) : 'on demand',
          rule.paused ? 'paused' : 'active',
          formatTime(rule.lastRunAt),
        ]),
      ),
    );
  });
}

async function change(name: string, action: 'pause' | 'resume' | 'remove', command: Command): Promise<void> {
  await withState(command, async (state) => {
    await state.update((draft) => {
      const index = draft.syncRules.findIndex((rule) => rule.name === name);
      if (index === -1) throw new Error(`no sync rule named "${name}": see "berth sync list"`);
      if (action === 'remove') draft.syncRules.splice(index, 1);
      else (draft.syncRules[index] as { paused: boolean }).paused = action === 'pause';
    });
    console.log(`${action === 'remove' ? 'removed' : action === 'pause' ? 'paused' : 'resumed'} sync rule ${name}`);
  });
}

async function run(name: string, command: Command): Promise<void> {
  await withState(command, async (state, dataDir) => {
    const job = await runHere(dataDir, metadataOf(command), storageOf(command), state, name, (scheduler) => scheduler.runNow(name, cliRequester));
    failUnlessSucceeded(name, job);
  });
}

function failUnlessSucceeded(name: string, job: JobRecord): void {
  if (job.status === 'succeeded') return;
  // Not started (the rule runs on a node of the cluster) or cancelled: the job's last log line says why.
  if (job.status === 'cancelled' && job.errors.length === 0) throw new Error(`sync ${name}: ${job.log?.at(-1)?.message ?? 'cancelled'}`);
  for (const error of job.errors) console.error(`  ${error}`);
  throw new Error(`sync ${name} finished with ${job.errors.length} error(s)`);
}

/** A job by its id or the start of it, as `berth sync jobs` shows it (8 characters). */
function findJob(state: StateStore, idOrPrefix: string): JobRecord {
  const matches = state.read().jobs.filter((job) => job.id === idOrPrefix || (idOrPrefix.length >= 4 && job.id.startsWith(idOrPrefix)));
  if (matches.length === 0) throw new CliUsageError(`no sync job "${idOrPrefix.slice(0, 40)}": see "berth sync jobs" for their ids`);
  if (matches.length > 1) throw new CliUsageError(`"${idOrPrefix}" starts ${matches.length} job ids: give more of it (see "berth sync jobs --json")`);
  return matches[0] as JobRecord;
}

/** Runs a failed or cancelled job's rule again here, as a new job that names the old one (what the GUI's Retry does). */
async function retry(idOrPrefix: string, command: Command): Promise<void> {
  await withState(command, async (state, dataDir) => {
    const previous = findJob(state, idOrPrefix);
    const job = await runHere(dataDir, metadataOf(command), storageOf(command), state, previous.rule, (scheduler) =>
      scheduler.retry(previous.id, cliRequester).catch((error: unknown) => {
        throw error instanceof SyncJobStateError ? new CliUsageError(error.message) : error;
      }),
    );
    failUnlessSucceeded(previous.rule, job);
  });
}

/** How long a job ran (or has run so far). */
function jobDuration(job: JobRecord, now: number): number | undefined {
  if (!job.startedAt) return undefined;
  const end = job.finishedAt ? Date.parse(job.finishedAt) : now;
  return end - Date.parse(job.startedAt);
}

async function jobs(rule: string | undefined, command: Command): Promise<void> {
  const values = optionsOf<{ json?: boolean; limit?: string }>(command);
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new CliUsageError(`invalid --limit "${String(values.limit).slice(0, 20)}": a whole number from 1, e.g. --limit 50`);
  await withState(command, async (state) => {
    const { jobs: history, syncRules } = state.read();
    const matching = history.filter((job) => rule === undefined || job.rule === rule);
    if (rule !== undefined && matching.length === 0 && !syncRules.some((r) => r.name === rule)) {
      throw new Error(`no sync rule named "${rule}" and no jobs of one: see "berth sync list"`);
    }
    // Newest first: the job you just ran is on top.
    const shown = [...matching].sort((a, b) => b.queuedAt.localeCompare(a.queuedAt)).slice(0, limit);
    if (values.json) {
      console.log(JSON.stringify(shown, null, 2));
      return;
    }
    if (shown.length === 0) {
      console.log(rule === undefined ? 'No sync jobs yet: berth sync run RULE starts one.' : `Sync rule ${rule} has not run yet: berth sync run ${rule}`);
      return;
    }
    const now = Date.now();
    const rows = shown.map((job) => {
      const took = jobDuration(job, now);
      return [
        job.id.slice(0, 8),
        job.rule,
        job.status,
        formatTime(job.startedAt ?? job.queuedAt),
        took === undefined ? '-' : formatElapsed(took),
        `${job.images.done}/${job.images.total}`,
        `${job.blobs.done}/${job.blobs.total}`,
        formatBytes(job.bytes.done),
        String(job.errors.length),
      ];
    });
    const lines = [formatTable(['JOB', 'RULE', 'STATUS', 'STARTED', 'DURATION', 'IMAGES', 'BLOBS', 'BYTES', 'ERRORS'], rows)];
    for (const job of shown.filter((entry) => entry.errors.length > 0)) {
      lines.push('', `Errors of job ${job.id.slice(0, 8)} (${job.rule}, ${formatTime(job.startedAt ?? job.queuedAt)}):`);
      for (const error of job.errors.slice(0, 10)) lines.push(`  ${error}`);
      if (job.errors.length > 10) lines.push(`  ... and ${job.errors.length - 10} more (see --json)`);
    }
    if (matching.length > shown.length) lines.push('', `(${shown.length} newest of ${matching.length} jobs; use --limit to see more)`);
    console.log(lines.join('\n'));
  });
}

export function registerSyncCommands(program: Command): void {
  const sync = group(
    program,
    'sync',
    'mirror repositories from an upstream on a schedule',
    'Scheduled mirroring of whole repositories from an upstream, so they are there before anyone pulls.',
  );
  sync.addHelpText('after', `
Examples:
  berth sync add redis --upstream hub --repo library/redis --semver '>=7 <8' --newest 3 --platform linux/amd64 --every 6h
  berth sync run redis
  berth sync jobs redis
  berth sync retry 3f2a9c1e`);
  const ruleArgument = 'the sync RULE name: see "berth sync list"';
  leaf(sync, 'add', 'RULE --upstream NAME --repo REPO... [--tags REGEX] [--exclude REGEX] [--semver RANGE] [--newest N] [--platform os/arch]... [--into NS] [--every 6h]', 'adds a rule (it runs on demand unless --every)')
    .argument('<RULE>', 'the new RULE name, e.g. redis')
    .option('--upstream <NAME>', 'the upstream to mirror from: see "berth upstream list"')
    .option('--repo <REPO>', 'a repository upstream (library/redis) or a prefix (bitnami/*, needs the upstream\'s catalog); repeatable', repeatable)
    .option('--tags <REGEX>', 'only tags matching it (whole tag)')
    .option('--exclude <REGEX>', 'drop tags matching it')
    .option('--semver <RANGE>', 'only versions in the range (">=7 <8", "^1.25")')
    .option('--newest <N>', 'only the N newest (by version)')
    .option('--platform <OS/ARCH>', 'only these platforms of multi-arch images (repeatable); the index is kept whole', repeatable)
    .option('--into <NS>', "the local namespace (default: the upstream's name)")
    .option('--every <DURATION>', 'run every DURATION (at least 1m), the first time one DURATION after adding; without it the rule runs only on demand')
    .action((name: string, _options, command: Command) => add(name, command));
  leaf(sync, 'list', '[--json]', 'every rule: what it mirrors, how often, whether paused, its last run')
    .addOption(jsonOption())
    .action((_options, command: Command) => list(command));
  leaf(sync, 'run', 'RULE', 'runs the rule now in this process, with a progress bar; exit 0 when every image is mirrored')
    .argument('<RULE>', ruleArgument)
    .action((name: string, _options, command: Command) => run(name, command));
  leaf(sync, 'jobs', '[RULE] [--limit N] [--json]', 'the job history, newest first: status, when, how long, images, blobs, bytes, errors')
    .argument('[RULE]', 'only the jobs of this rule')
    .option('--limit <N>', 'the newest N jobs (default 20)')
    .addOption(jsonOption())
    .action((rule: string | undefined, _options, command: Command) => jobs(rule, command));
  leaf(sync, 'retry', 'JOB', 'runs the rule of a failed or cancelled job again in this process, as a new job; exit 0 when every image is mirrored')
    .argument('<JOB>', 'the job id, or its first 8 characters as "berth sync jobs" shows them')
    .action((id: string, _options, command: Command) => retry(id, command));
  for (const [action, text] of [
    ['pause', 'stops the schedule (run still works)'],
    ['resume', 'starts the schedule again'],
    ['remove', 'deletes the rule (what it mirrored stays)'],
  ] as const) {
    leaf(sync, action, 'RULE', text)
      .argument('<RULE>', ruleArgument)
      .action((name: string, _options, command: Command) => change(name, action, command));
  }
}

/** Runs a rule in this process against the data directory (safe beside a running server). */
const cliRequester = { actor: 'admin', client: 'cli' } as const;

async function runHere(
  dataDir: string,
  metadata: MetadataBackend,
  storage: StorageBackend,
  state: StateStore,
  name: string,
  start: (scheduler: SyncScheduler) => Promise<JobRecord>,
): Promise<JobRecord> {
  const log = createLogger({ level: process.env.BERTH_LOG_LEVEL ?? 'warn' });
  // First, before anything that must be closed: it opens the upstreams' passwords (a missing master key fails here).
  const secrets = await openSecretBox(dataDir, metadata);
  const opened = await openStorage(dataDir, storage, metadata);
  const { driver } = opened;
  // With a shared database this process is one more member of the cluster: the rule runs under its lock (not while
  // a node runs it), and its downloads and uploads take the same locks as the nodes'.
  const locks = await openClusterLocks(metadata, { node: () => `${hostname()} berth sync pid ${process.pid}` });
  let registry;
  try {
    registry = await createRegistry({ dataDir, metadata, logger: log, driver, checkIndexAtStart: false, locks });
  } catch (error) {
    opened.close();
    await locks.close();
    throw error;
  }
  const pool = createUpstreamPool({ state, secrets, log });
  const namespacesOf = (upstream: string) => upstreamNamespaces(state, upstream);
  const fetcher = createBlobFetcher({ driver, blobs: registry.blobs, uploads: registry.uploads, repositories: registry.repositories, log, namespacesOf, locks });
  const audit = await openAuditLog(dataDir, metadata);
  const scheduler = createSyncScheduler({ state, pool, repositories: registry.repositories, fetcher, log, audit, locks });
  const bar = createProgressBar(name);
  scheduler.events.on('job.progress', bar.update);
  try {
    const queued = await start(scheduler);
    const job = await scheduler.finished(queued.id);
    bar.finish(job);
    return job;
  } finally {
    await scheduler.close();
    pool.close();
    await registry.close(0);
    await locks.close();
    opened.close();
    await audit.close();
  }
}

/** A one-line bar on a terminal; plain progress lines when output is a file or a pipe. */
function createProgressBar(rule: string) {
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  let lastImages = '';
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  const line = (job: JobRecord) => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    return `${job.images.done}/${job.images.total} images  ${job.blobs.done}/${job.blobs.total} blobs  ${mib(job.bytes.done)}/${mib(job.bytes.total)} MiB  ${mib(job.bytes.done / seconds)} MiB/s`;
  };
  return {
    update(job: JobRecord) {
      if (tty) {
        const width = 24;
        const fraction = job.images.total ? job.images.done / job.images.total : 0;
        const filled = Math.round(fraction * width);
        process.stderr.write(`\r${rule} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${line(job)}   `);
      } else if (job.images.total > 0 && `${job.images.done}/${job.images.total}` !== lastImages) {
        // A line once the plan is known and one per image: readable in CI logs, not one per blob.
        lastImages = `${job.images.done}/${job.images.total}`;
        process.stderr.write(`${rule}: ${line(job)}\n`);
      }
    },
    finish(job: JobRecord) {
      if (tty) process.stderr.write('\n');
      console.log(`${rule}: ${job.status}, ${line(job)}${job.errors.length ? `, ${job.errors.length} error(s)` : ''}`);
    },
  };
}
