import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AuditLog } from '../../auth/audit-log.js';
import { createLocalLocks, lockNames, type ClusterLock, type ClusterLocks } from '../../cluster/cluster-locks.js';
import type { Leadership } from '../../cluster/leadership.js';
import type { Logger } from '../../log.js';
import type { RepositoryStore } from '../../storage/repository-store.js';
import type { JobRecord, StateStore, SyncRuleRecord } from '../../state/index.js';
import type { BlobFetcher } from '../blob-fetches.js';
import type { UpstreamPool } from '../upstream-pool.js';
import { runSyncJob } from './sync-job.js';
import { nextScheduledRun } from './sync-schedule.js';

export interface SyncEvents {
  'job.progress': [JobRecord];
  'job.finished': [JobRecord];
}

export interface SyncScheduler {
  readonly events: EventEmitter<SyncEvents>;
  /**
   * Queues a run of the rule (paused rules too: pausing stops the schedule, not a deliberate run). `requestedBy`
   * is who asked, for the audit event written when the job ends (scheduled runs are the actor `berth`).
   */
  runNow(ruleName: string, requestedBy?: SyncRequester): Promise<JobRecord>;
  /**
   * Stops a queued or running job: a queued one leaves the queue, a running one stops at its next step (downloads
   * under way are cancelled; what it stored so far stays, complete). Resolves with the final record, status
   * `cancelled`. Throws SyncJobStateError when the job is not queued or running.
   */
  cancel(jobId: string, requestedBy?: SyncRequester): Promise<JobRecord>;
  /**
   * Runs the rule of a failed or cancelled job again, as a new job that names the old one (`retryOf`). Images the
   * first run stored are not fetched again. Throws SyncJobStateError when the job is unknown or did not fail.
   */
  retry(jobId: string, requestedBy?: SyncRequester): Promise<JobRecord>;
  /** The live record of a queued or running job, else the saved one; undefined when unknown. */
  job(jobId: string): JobRecord | undefined;
  /** Resolves with the job's final record (still `running` when close() stopped it: it resumes at the next start). */
  finished(jobId: string): Promise<JobRecord>;
  /** Jobs running or queued, with live progress. */
  active(): JobRecord[];
  /** Stops starting scheduled runs (runNow still works); kept in the settings, so it survives restarts. */
  pause(): Promise<void>;
  /** Starts the schedule again; rules that fell due meanwhile are queued at once. */
  resume(): Promise<void>;
  isPaused(): boolean;
  /** Starts the schedule and resumes jobs a restart interrupted. */
  start(): Promise<void>;
  /** Stops the schedule and the running jobs; they stay `running` in the state file and resume at the next start. */
  close(): Promise<void>;
}

/** Who asked for a run, as the audit log names actors and clients. */
export interface SyncRequester {
  readonly actor: string;
  readonly client: string;
}

/** Why a job cannot be cancelled or retried: unknown (`not-found`) or in the wrong state (`conflict`). */
export class SyncJobStateError extends Error {
  override readonly name = 'SyncJobStateError';
  constructor(message: string, readonly reason: 'not-found' | 'conflict') {
    super(message);
  }
}

/** The abort reason of a cancel, told apart from a shutdown's. */
class JobCancelled extends Error {
  override readonly name = 'JobCancelled';
}

const scheduled: SyncRequester = { actor: 'berth', client: 'scheduler' };

const historyLimit = 200;
/** How often due rules are looked for. */
const tickMs = 30_000;
/** Progress is saved to the state file at most this often (the live stream gets every change). */
const persistEveryMs = 5_000;

/**
 * The one scheduler for sync jobs (zot's lesson: background work through one queue). Jobs run one
 * or a few at a time; each fetches every blob once and skips what is stored, so a job that a
 * restart interrupted is queued again and resumes rather than starting over.
 */
export function createSyncScheduler(deps: {
  state: StateStore;
  pool: UpstreamPool;
  repositories: RepositoryStore;
  fetcher: BlobFetcher;
  log: Logger;
  /** Every finished run is audited as `sync.run`, a failure with its errors (a run stopped by shutdown is not finished). */
  audit?: Pick<AuditLog, 'record'>;
  concurrency?: number;
  /**
   * The locks shared with the other nodes (cluster/cluster-locks.ts): a rule runs only under its `sync-rule:` lock,
   * so one rule never runs twice at once anywhere. Default: this process's own.
   */
  locks?: ClusterLocks;
  /**
   * Whether this node runs the schedule (cluster/leadership.ts): only the leader starts scheduled runs and resumes
   * the jobs of nodes that died; every node runs what it is asked to (runNow, retry). Default: always.
   */
  leader?: Pick<Leadership, 'isLeader' | 'onChange'>;
}): SyncScheduler {
  const { state, log } = deps;
  const events = new EventEmitter<SyncEvents>();
  events.setMaxListeners(0);
  const queue: JobRecord[] = [];
  const running = new Map<string, JobRecord>();
  /** The executions under way, so close() can wait for them to stop. */
  const executions = new Set<Promise<void>>();
  const shutdown = new AbortController();
  const waiters = new Map<string, Array<(job: JobRecord) => void>>();
  /** Who asked for each job still to be audited. */
  const requesters = new Map<string, SyncRequester>();
  /** One controller per running job, so a cancel stops that job only. */
  const cancels = new Map<string, AbortController>();
  let timer: NodeJS.Timeout | undefined;
  let started = false;
  let closed = false;
  const concurrency = deps.concurrency ?? 1;
  const locks = deps.locks ?? createLocalLocks();
  const isLeader = () => deps.leader?.isLeader() ?? true;
  /** Jobs taken from the saved records (interrupted by a restart, or left by a node that died), not asked for here. */
  const resumed = new Set<string>();

  async function save(job: JobRecord): Promise<void> {
    await state.update((draft) => {
      const index = draft.jobs.findIndex((existing) => existing.id === job.id);
      if (index === -1) draft.jobs.push(structuredClone(job));
      else draft.jobs[index] = structuredClone(job);
      if (draft.jobs.length > historyLimit) draft.jobs.splice(0, draft.jobs.length - historyLimit);
    });
  }

  function pump(): void {
    while (!closed && running.size < concurrency && queue.length > 0) {
      const job = queue.shift() as JobRecord;
      running.set(job.id, job);
      const execution = execute(job)
        .catch((error: unknown) => log.error({ err: error, job: job.id }, 'sync job crashed'))
        .finally(() => {
          running.delete(job.id);
          executions.delete(execution);
          pump();
        });
      executions.add(execution);
    }
  }

  /**
   * The job under its rule's lock. Without the lock, another node runs the rule: a job resumed from the records (or
   * one another node took over) is that node's business, and is left alone; a new one ends cancelled, saying so.
   */
  async function execute(job: JobRecord): Promise<void> {
    let lock: ClusterLock | undefined;
    try {
      lock = await locks.tryAcquire(lockNames.syncRule(job.rule));
    } catch (error) {
      log.warn({ err: error, job: job.id, rule: job.rule }, 'taking the lock of a sync rule failed: the job does not run');
    }
    const saved = () => state.read().jobs.find((candidate) => candidate.id === job.id);
    if (!lock || saved()?.finishedAt) {
      await lock?.release();
      const record = saved();
      if (resumed.delete(job.id) || record?.status === 'running' || record?.finishedAt) {
        log.info({ job: job.id, rule: job.rule }, 'sync job runs (or ran) on another node: left to it');
        settle(record ?? job);
        return;
      }
      const holder = (await locks.holders([lockNames.syncRule(job.rule)]).catch(() => []))[0]?.node;
      job.status = 'cancelled';
      job.finishedAt = new Date().toISOString();
      job.log = [...(job.log ?? []), { time: job.finishedAt, message: `not started: rule ${job.rule} is running on ${holder ?? 'another node'}` }];
      await save(job).catch((error: unknown) => log.error({ err: error }, 'saving sync job failed'));
      log.info({ job: job.id, rule: job.rule, holder }, 'sync job not started: its rule is running on another node');
      await recordOutcome(job, state.read().syncRules.find((rule) => rule.name === job.rule)?.into);
      events.emit('job.finished', job);
      settle(job);
      return;
    }
    resumed.delete(job.id);
    try {
      await executeHolding(job, lock.lost);
    } finally {
      await lock.release();
    }
  }

  async function executeHolding(job: JobRecord, lockLost: AbortSignal): Promise<void> {
    const rule = state.read().syncRules.find((candidate) => candidate.name === job.rule);
    const upstream = rule ? deps.pool.get(rule.upstream) : undefined;
    job.status = 'running';
    job.startedAt = new Date().toISOString();
    const cancel = new AbortController();
    cancels.set(job.id, cancel);
    await save(job).catch(() => undefined);
    events.emit('job.progress', job);
    try {
      if (!rule) throw new Error(`sync rule ${job.rule} no longer exists`);
      if (!upstream) throw new Error(`upstream ${rule.upstream} of rule ${rule.name} is not configured`);
      let lastSaved = Date.now();
      // A lost rule lock (the database connection dropped) stops the job: another node may start the rule now.
      const signal = AbortSignal.any([shutdown.signal, cancel.signal, lockLost]);
      const jobDeps = { client: upstream.client, repositories: deps.repositories, fetcher: deps.fetcher, log, signal };
      const result = await runSyncJob(rule, jobDeps, (progress) => {
        Object.assign(job, structuredClone(progress));
        events.emit('job.progress', job);
        if (Date.now() - lastSaved > persistEveryMs) {
          lastSaved = Date.now();
          void save(job).catch(() => undefined);
        }
      });
      Object.assign(job, structuredClone(result));
      job.status = result.errors.length === 0 ? 'succeeded' : 'failed';
    } catch (error) {
      if (!cancel.signal.aborted) job.errors.push((error as Error).message);
      job.status = 'failed';
    }
    cancels.delete(job.id);
    if (cancel.signal.aborted && !shutdown.signal.aborted) {
      job.status = 'cancelled';
      job.log = [...(job.log ?? []), { time: new Date().toISOString(), message: (cancel.signal.reason as Error).message }];
    } else if (shutdown.signal.aborted && job.status === 'failed') {
      // Stopped by close(), not finished: the record stays "running" (saved below), and the next start resumes it.
      job.status = 'running';
      job.errors = [];
      await save(job).catch(() => undefined);
      log.info({ job: job.id, rule: job.rule }, 'sync job stopped by shutdown: it resumes at the next start');
      settle(job);
      return;
    }
    job.finishedAt = new Date().toISOString();
    // Saved before it is logged: whoever reads the log line (a person, a script, a test) finds the job recorded.
    await save(job).catch((error: unknown) => log.error({ err: error }, 'saving sync job failed'));
    log[job.status === 'failed' ? 'warn' : 'info'](
      { job: job.id, rule: job.rule, images: job.images, blobs: job.blobs, bytes: job.bytes.done, errors: job.errors.slice(0, 5) },
      `sync job ${job.status}`,
    );
    await state
      .update((draft) => {
        const target = draft.syncRules.find((candidate) => candidate.name === job.rule);
        if (target) target.lastRunAt = job.finishedAt;
      })
      .catch(() => undefined);
    await recordOutcome(job, rule?.into);
    events.emit('job.finished', job);
    settle(job);
  }

  async function recordOutcome(job: JobRecord, namespace: string | undefined): Promise<void> {
    const requester = requesters.get(job.id) ?? scheduled;
    requesters.delete(job.id);
    if (!deps.audit) return;
    // A cancelled run did not do what it was asked: a failure, with the status saying why.
    const outcome = job.status === 'succeeded' ? 'success' : 'failure';
    const detail = { name: job.rule, jobId: job.id, status: job.status, images: job.images, blobs: job.blobs, errors: job.errors.slice(0, 20) };
    await deps.audit
      .record({ action: 'sync.run', ...requester, outcome, ...(namespace ? { namespace } : {}), detail })
      .catch((error: unknown) => log.error({ err: error, job: job.id }, 'audit write failed'));
  }

  function settle(job: JobRecord): void {
    for (const resolve of waiters.get(job.id) ?? []) resolve(job);
    waiters.delete(job.id);
  }

  async function enqueue(rule: SyncRuleRecord, existing?: JobRecord, requestedBy?: SyncRequester, retryOf?: string, saveQueued = true): Promise<JobRecord> {
    const job: JobRecord = existing ?? {
      id: randomUUID(),
      rule: rule.name,
      ...(retryOf ? { retryOf } : {}),
      status: 'queued',
      queuedAt: new Date().toISOString(),
      images: { done: 0, total: 0 },
      blobs: { done: 0, total: 0 },
      bytes: { done: 0, total: 0 },
      errors: [],
    };
    job.status = 'queued';
    if (requestedBy) requesters.set(job.id, requestedBy);
    // Queued before the first await, so a tick or runNow right after sees the rule as busy (no double runs);
    // the state file is written in call order, so "queued" is saved before the job's "running". A job taken over
    // from another node is not saved as queued: its record says "running" until the lock shows its node is gone.
    queue.push(job);
    const saved = saveQueued ? save(job) : Promise.resolve();
    pump();
    await saved;
    return job;
  }

  function isBusy(ruleName: string): boolean {
    return [...running.values(), ...queue].some((job) => job.rule === ruleName);
  }

  function whenFinished(jobId: string): Promise<JobRecord> {
    const done = state.read().jobs.find((job) => job.id === jobId && job.finishedAt);
    if (done && !running.has(jobId) && !queue.some((job) => job.id === jobId)) return Promise.resolve(done);
    return new Promise((resolve) => waiters.set(jobId, [...(waiters.get(jobId) ?? []), resolve]));
  }

  const isPaused = () => state.read().settings.mirrorPaused === true;
  const setPaused = (paused: boolean) =>
    state
      .update((draft) => {
        draft.settings.mirrorPaused = paused;
      })
      .then(() => log.info({ paused }, paused ? 'mirror schedule paused' : 'mirror schedule resumed'));

  function tick(): void {
    if (!isLeader()) return;
    void adoptOrphans().catch((error: unknown) => log.error({ err: error }, 'resuming the jobs of another node failed'));
    for (const rule of dueRules(Date.now())) void enqueue(rule).catch((error: unknown) => log.error({ err: error }, 'queueing sync failed'));
  }

  /**
   * Jobs saved as running that no process here runs: another node's. A running job holds its rule's lock, so one
   * whose lock is free was left by a node that died; queued here, it takes the lock and resumes (execute leaves it
   * alone while its node lives). Only with locks other processes see: otherwise a free lock proves nothing.
   */
  async function adoptOrphans(): Promise<void> {
    if (!locks.crossProcess) return;
    const local = new Set([...running.keys(), ...queue.map((job) => job.id)]);
    for (const job of state.read().jobs) {
      if (job.status !== 'running' || job.finishedAt || local.has(job.id) || isBusy(job.rule)) continue;
      const rule = state.read().syncRules.find((candidate) => candidate.name === job.rule);
      if (!rule) continue;
      resumed.add(job.id);
      await enqueue(rule, structuredClone(job) as JobRecord, undefined, undefined, false);
    }
  }

  /**
   * Rules with a job running anywhere in the cluster (the records are shared) are not due. With in-process locks a
   * "running" record of another process may be stale for ever (nothing adopts it), so only this process's jobs count.
   */
  function dueRules(now: number): SyncRuleRecord[] {
    if (isPaused()) return [];
    const runningSomewhere = new Set(
      locks.crossProcess ? state.read().jobs.filter((job) => job.status === 'running' && !job.finishedAt).map((job) => job.rule) : [],
    );
    return state.read().syncRules.filter((rule) => {
      if (rule.paused || isBusy(rule.name) || runningSomewhere.has(rule.name)) return false;
      const next = nextScheduledRun(rule);
      return next !== null && next <= now;
    });
  }

  return {
    events,

    async runNow(ruleName, requestedBy) {
      const rule = state.read().syncRules.find((candidate) => candidate.name === ruleName);
      if (!rule) throw new Error(`no sync rule named "${ruleName}"`);
      const queued = [...running.values(), ...queue].find((job) => job.rule === ruleName);
      const job = queued ?? (await enqueue(rule, undefined, requestedBy));
      return job;
    },

    async cancel(jobId, requestedBy) {
      const waiting = queue.findIndex((job) => job.id === jobId);
      const who = requestedBy ? ` by ${requestedBy.actor}` : '';
      if (waiting !== -1) {
        const [job] = queue.splice(waiting, 1) as [JobRecord];
        job.status = 'cancelled';
        job.finishedAt = new Date().toISOString();
        job.log = [...(job.log ?? []), { time: job.finishedAt, message: `cancelled${who} before it started` }];
        if (requestedBy) requesters.set(job.id, requestedBy);
        await save(job).catch((error: unknown) => log.error({ err: error }, 'saving sync job failed'));
        log.info({ job: job.id, rule: job.rule }, 'sync job cancelled before it started');
        await recordOutcome(job, state.read().syncRules.find((rule) => rule.name === job.rule)?.into);
        events.emit('job.finished', job);
        settle(job);
        return job;
      }
      const controller = cancels.get(jobId);
      if (!controller) {
        const known = state.read().jobs.find((job) => job.id === jobId);
        if (!known) throw new SyncJobStateError(`no sync job "${jobId.slice(0, 80)}"`, 'not-found');
        // A job another node runs is recorded as running too; only that node can stop it.
        const why = known.status !== 'running' ? known.status : locks.crossProcess ? 'runs on another node of the cluster, or was stopped by a shutdown' : 'was stopped by a shutdown';
        throw new SyncJobStateError(`sync job ${jobId} is not running${known.status === 'running' ? ' here' : ''} (it ${why})`, 'conflict');
      }
      if (requestedBy) requesters.set(jobId, requestedBy);
      const done = whenFinished(jobId);
      controller.abort(new JobCancelled(`cancelled${who}: stopped at the next step; what was stored so far stays`));
      return done;
    },

    async retry(jobId, requestedBy) {
      const previous = state.read().jobs.find((job) => job.id === jobId);
      if (!previous) throw new SyncJobStateError(`no sync job "${jobId.slice(0, 80)}"`, 'not-found');
      if (previous.status !== 'failed' && previous.status !== 'cancelled') {
        throw new SyncJobStateError(`sync job ${jobId} ${previous.status === 'succeeded' ? 'succeeded' : `is ${previous.status}`}: only a failed or cancelled job can be retried`, 'conflict');
      }
      const rule = state.read().syncRules.find((candidate) => candidate.name === previous.rule);
      if (!rule) throw new SyncJobStateError(`sync rule ${previous.rule} no longer exists: nothing to retry`, 'conflict');
      const busy = [...running.values(), ...queue].find((job) => job.rule === rule.name);
      return busy ?? enqueue(rule, undefined, requestedBy, previous.id);
    },

    job(jobId) {
      return [...running.values(), ...queue].find((job) => job.id === jobId) ?? state.read().jobs.find((job) => job.id === jobId);
    },

    finished: whenFinished,

    active: () => [...running.values(), ...queue],
    pause: () => setPaused(true),
    async resume() {
      await setPaused(false);
      if (started && !closed) tick();
    },
    isPaused,

    async start() {
      if (started || closed) return;
      started = true;
      const interrupted = state.read().jobs.filter((job) => job.status === 'running' || job.status === 'queued');
      for (const job of interrupted) {
        const rule = state.read().syncRules.find((candidate) => candidate.name === job.rule);
        if (!rule || isBusy(rule.name)) {
          // Its rule was removed, or another interrupted job of the rule (say a killed "berth sync run") resumes it.
          const reason = rule ? 'another interrupted job of this rule was resumed instead' : `sync rule ${job.rule} no longer exists`;
          await save({ ...structuredClone(job), status: 'cancelled', finishedAt: new Date().toISOString(), errors: [...job.errors, reason] });
          continue;
        }
        log.info({ job: job.id, rule: job.rule }, 'resuming a sync job interrupted by a restart');
        resumed.add(job.id);
        await enqueue(rule, structuredClone(job) as JobRecord, undefined, undefined, false);
      }
      timer = setInterval(tick, tickMs);
      timer.unref();
      // A node that becomes the leader (its predecessor died) looks for due rules and orphaned jobs at once.
      deps.leader?.onChange((leader) => {
        if (leader && !closed) tick();
      });
      tick();
    },

    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      queue.length = 0;
      // Running jobs stop at their next step (downloads are cancelled) and stay "running" in the state file,
      // so the next start resumes them; what they stored so far is complete and is not fetched again.
      shutdown.abort(new Error('Berth is shutting down'));
      await Promise.all([...executions]);
    },
  };
}
