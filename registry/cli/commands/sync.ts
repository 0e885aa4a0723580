import { createSecretBox } from '../../auth/secret-box.js';
import { parseDuration } from '../../core/duration.js';
import { createRegistry } from '../../index.js';
import { createLogger } from '../../log.js';
import { createAuditLog } from '../../auth/audit-log.js';
import { createBlobFetcher, upstreamNamespaces } from '../../mirror/blob-fetches.js';
import { saveSyncRule } from '../../mirror/sync/sync-rules.js';
import { createSyncScheduler } from '../../mirror/sync/sync-scheduler.js';
import { createUpstreamPool } from '../../mirror/upstream-pool.js';
import type { JobRecord } from '../../state/index.js';
import { createFilesystemDriver } from '../../storage/filesystem-driver.js';
import { CliUsageError } from '../cli-error.js';
import { dataDirOf, formatTable, formatTime, openState, parseCommandArgs, requireDataDir } from '../admin-support.js';

export const syncUsage = `berth sync add RULE --upstream NAME --repo REPO... [--tags REGEX] [--exclude REGEX] [--semver RANGE]
                 [--newest N] [--platform os/arch]... [--into NS] [--every 6h] [--data DIR]
berth sync list [--json] [--data DIR]
berth sync run RULE [--data DIR]
berth sync pause|resume|remove RULE [--data DIR]

Scheduled mirroring of whole repositories from an upstream, so they are there before anyone pulls.
  add     --repo REPO      a repository upstream (library/redis) or a prefix (bitnami/*, needs the upstream's catalog)
          --tags REGEX     only tags matching it (whole tag); --exclude REGEX drops matches
          --semver RANGE   only versions in the range (">=7 <8", "^1.25")
          --newest N       only the N newest (by version)
          --platform P     only these platforms of multi-arch images (repeatable); the index is kept whole
          --into NS        the local namespace (default: the upstream's name)
          --every DUR      run every DUR (at least 1m); without it the rule runs only on demand
  run     runs the rule now in this process, with a progress bar; exit 0 when every image is mirrored
  pause   stops the schedule (run still works); resume starts it again

  --data DIR  data directory; works while "berth serve" runs on it`;

export async function syncCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      data: { type: 'string' },
      upstream: { type: 'string' },
      repo: { type: 'string', multiple: true },
      tags: { type: 'string' },
      exclude: { type: 'string' },
      semver: { type: 'string' },
      newest: { type: 'string' },
      platform: { type: 'string', multiple: true },
      into: { type: 'string' },
      every: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    'berth sync',
  );
  const [action, name] = positionals;
  const dataDir = dataDirOf(values);
  if (action !== 'add') requireDataDir(dataDir);
  const state = await openState(dataDir);
  try {
    switch (action) {
      case 'add': {
        if (!name) throw new CliUsageError('berth sync add needs a RULE name');
        if (!values.upstream) throw new CliUsageError('berth sync add needs --upstream NAME');
        const newest = values.newest === undefined ? undefined : Number(values.newest);
        let everySeconds: number | null = null;
        try {
          if (values.every !== undefined) everySeconds = Math.round(parseDuration(values.every) / 1000);
        } catch (error) {
          throw new CliUsageError(`--every: ${(error as Error).message}`);
        }
        const rule = await saveSyncRule(
          state,
          {
            name,
            upstream: values.upstream,
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
        console.log(`added sync rule ${rule.name}: ${rule.repositories.join(', ')} from ${rule.upstream} into ${rule.into}/` + (rule.everySeconds ? `, every ${values.every}` : ', on demand'));
        return;
      }
      case 'list': {
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
              rule.everySeconds ? `${rule.everySeconds}s` : 'on demand',
              rule.paused ? 'paused' : 'active',
              formatTime(rule.lastRunAt),
            ]),
          ),
        );
        return;
      }
      case 'pause':
      case 'resume':
      case 'remove': {
        if (!name) throw new CliUsageError(`berth sync ${action} needs a RULE name`);
        await state.update((draft) => {
          const index = draft.syncRules.findIndex((rule) => rule.name === name);
          if (index === -1) throw new Error(`no sync rule named "${name}"`);
          if (action === 'remove') draft.syncRules.splice(index, 1);
          else (draft.syncRules[index] as { paused: boolean }).paused = action === 'pause';
        });
        console.log(`${action === 'remove' ? 'removed' : action === 'pause' ? 'paused' : 'resumed'} sync rule ${name}`);
        return;
      }
      case 'run': {
        if (!name) throw new CliUsageError('berth sync run needs a RULE name');
        const job = await runHere(dataDir, state, name);
        if (job.status !== 'succeeded') {
          for (const error of job.errors) console.error(`  ${error}`);
          throw new Error(`sync ${name} finished with ${job.errors.length} error(s)`);
        }
        return;
      }
      default:
        throw new CliUsageError(`unknown action "${action ?? ''}": add, list, run, pause, resume or remove`);
    }
  } finally {
    await state.close();
  }
}

/** Runs a rule in this process against the data directory (safe beside a running server). */
async function runHere(dataDir: string, state: Awaited<ReturnType<typeof openState>>, name: string): Promise<JobRecord> {
  const log = createLogger({ level: process.env.BERTH_LOG_LEVEL ?? 'warn' });
  const driver = createFilesystemDriver(dataDir);
  const registry = await createRegistry({ dataDir, logger: log, driver });
  const pool = createUpstreamPool({ state, secrets: await createSecretBox(dataDir), log });
  const namespacesOf = (upstream: string) => upstreamNamespaces(state, upstream);
  const fetcher = createBlobFetcher({ driver, blobs: registry.blobs, uploads: registry.uploads, repositories: registry.repositories, log, namespacesOf });
  const audit = await createAuditLog(dataDir);
  const scheduler = createSyncScheduler({ state, pool, repositories: registry.repositories, fetcher, log, audit });
  const bar = createProgressBar(name);
  scheduler.events.on('job.progress', bar.update);
  try {
    const queued = await scheduler.runNow(name, { actor: 'admin', client: 'cli' });
    const job = await scheduler.finished(queued.id);
    bar.finish(job);
    return job;
  } finally {
    await scheduler.close();
    pool.close();
    await registry.close(0);
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
