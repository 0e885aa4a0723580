import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createSignInUrl } from '../../registry/admin/sign-in.js';
import { startBerth as startBerthInProcess, type Berth } from '../../registry/berth-server.js';
import { silentLogger } from '../../registry/log.js';
import { createStateStore, type JobRecord } from '../../registry/state/index.js';
import { startBerth } from '../support/berth-process.js';
import { startDistribution, type AccessLogEntry, type DistributionServer } from '../support/distribution.js';
import { jsonBytes, mediaTypes, pushBlobChunked, pushImageOf, pushManifest, sha256, type PushedBlob, type PushedImage } from '../support/oci-client.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir, type AfterHook } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { pushImage } from '../mirror/fixtures.js';
import { blobDataPath, checkDataDir } from './data-dir-check.js';
import { berthCli, berthCliOk, blobFileExists, eventually, upstreamGets } from './mirror-fixture.js';
import { skopeoCopy, skopeoInspectRaw } from './skopeo.js';

/**
 * Scheduled namespace sync (`berth sync`) against a real upstream (Debian's docker-registry) and real clients
 * (the berth CLI as a user runs it, skopeo, `berth serve`), with real faults: the upstream killed, Berth killed
 * with SIGKILL mid-download, a download that stalls. What the upstream was asked comes from its access log.
 */

const tools = ['docker-registry', 'skopeo'] as const;
const skip = toolSkipReason(...tools);


interface Upstream {
  readonly dist: DistributionServer;
  /** Shared by every tag of library/app and by library/other. */
  readonly base: PushedBlob;
  readonly app: ReadonlyMap<string, PushedImage>;
  readonly other: PushedImage;
  readonly multi: { readonly digest: string; readonly bytes: Buffer; readonly amd64: PushedImage; readonly arm64: PushedImage };
}

const appTags = ['1.0.0', '1.1.0', '1.2.0', '2.0.0', 'latest', 'dev-x'];

let upstreamPromise: Promise<Upstream> | undefined;
// At the top level: after the last test of the file (inside a test, after() would stop it after that test).
after(async () => {
  await (await upstreamPromise?.catch(() => undefined))?.dist.stop();
});

/** One upstream for the whole file (built once, small blobs straight over the registry API). */
function upstream(): Promise<Upstream> {
  upstreamPromise ??= (async () => {
    const dist = await startDistribution({ logLevel: 'warn' });
    const url = dist.url;
    const base = await pushBlobChunked(url, 'library/app', randomBytes(256 * 1024));
    const app = new Map<string, PushedImage>();
    for (const tag of appTags) app.set(tag, await pushImageOf(url, 'library/app', tag, [base, await pushBlobChunked(url, 'library/app', randomBytes(32 * 1024))]));
    // library/other holds the same base layer (pushed again there, as a real build would).
    await pushBlobChunked(url, 'library/other', base.bytes);
    const other = await pushImageOf(url, 'library/other', '1.0', [base, await pushBlobChunked(url, 'library/other', randomBytes(16 * 1024))]);
    const amd64 = await pushImageOf(url, 'library/multi', undefined, [await pushBlobChunked(url, 'library/multi', randomBytes(64 * 1024))], 'amd64');
    const arm64 = await pushImageOf(url, 'library/multi', undefined, [await pushBlobChunked(url, 'library/multi', randomBytes(64 * 1024))], 'arm64');
    const index = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [
        { mediaType: mediaTypes.ociManifest, digest: amd64.digest, size: amd64.bytes.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: mediaTypes.ociManifest, digest: arm64.digest, size: arm64.bytes.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    };
    const bytes = jsonBytes(index);
    await pushManifest(url, 'library/multi', '1.0', bytes, mediaTypes.ociIndex);
    return { dist, base, app, other, multi: { digest: sha256(bytes), bytes, amd64, arm64 } };
  })();
  return upstreamPromise;
}

/** A data directory with the upstream registered as "up" (through the CLI, as a user does it). */
async function dataDirWith(t: AfterHook, upstreamUrl: string): Promise<string> {
  const dataDir = await makeTempDir(t, 'berth-sync-');
  await berthCliOk(['upstream', 'add', 'up', upstreamUrl, '--data', dataDir]);
  return dataDir;
}

/** Tags of a repository as stored in the data directory (a tag counts once its `current/link` exists). */
async function storedTags(dataDir: string, repository: string): Promise<string[]> {
  const dir = join(dataDir, 'repositories', repository, '_manifests', 'tags');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const tags: string[] = [];
  for (const name of names) {
    if (await stat(join(dir, name, 'current', 'link')).then(() => true, () => false)) tags.push(name);
  }
  return tags.sort();
}

/** The upstream's access log from `from` on: what one step of the test asked of it. */
const since = (dist: DistributionServer, from: number): readonly AccessLogEntry[] => dist.requests().slice(from);
const blobGets = (entries: readonly AccessLogEntry[]) => entries.filter((e) => e.method === 'GET' && e.path.includes('/blobs/sha256:'));

test('sync add + sync run mirror exactly the filtered tags, byte-exact, pullable from Berth with the upstream down', { skip, timeout: 120_000 }, async (t) => {
  requireTools(...tools);
  const up = await upstream();
  const dataDir = await dataDirWith(t, up.dist.url);

  const added = await berthCliOk(['sync', 'add', 'app', '--upstream', 'up', '--repo', 'library/app', '--semver', '>=1.1 <2', '--into', 'mirror', '--data', dataDir]);
  assert.match(added, /^added sync rule app: library\/app from up into mirror\/, on demand$/m);
  await berthCliOk(['sync', 'add', 'two', '--upstream', 'up', '--repo', 'library/app', '--newest', '2', '--into', 'newest', '--data', dataDir]);
  await berthCliOk(['sync', 'add', 'picked', '--upstream', 'up', '--repo', 'library/app', '--tags', '1\\..*|latest', '--exclude', '1\\.0\\..*', '--into', 'picked', '--data', dataDir]);
  const list = await berthCliOk(['sync', 'list', '--data', dataDir]);
  assert.match(list, /^app\s+up\s+library\/app\s+mirror\s+on demand\s+active\s+/m);

  const first = await berthCli(['sync', 'run', 'app', '--data', dataDir]);
  assert.equal(first.code, 0, `sync run exited ${first.code}\n${first.stderr}${first.stdout}`);
  assert.match(first.stdout, /^app: succeeded, 2\/2 images {2}5\/5 blobs {2}[\d.]+\/[\d.]+ MiB {2}[\d.]+ MiB\/s$/m, 'the summary line');
  assert.deepEqual(
    first.stderr.trim().split('\n').map((line) => line.split('  ')[0]),
    ['app: 0/2 images', 'app: 1/2 images', 'app: 2/2 images'],
    'plain progress lines when stderr is not a terminal: one when the plan is known, one per image',
  );
  assert.deepEqual(await storedTags(dataDir, 'mirror/library/app'), ['1.1.0', '1.2.0']);

  for (const rule of ['two', 'picked']) await berthCliOk(['sync', 'run', rule, '--data', dataDir]);
  assert.deepEqual(await storedTags(dataDir, 'newest/library/app'), ['1.2.0', '2.0.0'], '--newest 2: by version, not "latest" or "dev-x"');
  assert.deepEqual(await storedTags(dataDir, 'picked/library/app'), ['1.1.0', '1.2.0', 'latest']);
  const rules = JSON.parse(await berthCliOk(['sync', 'list', '--json', '--data', dataDir])) as Array<{ name: string; lastRunAt: string | null }>;
  assert.ok(rules.every((rule) => rule.lastRunAt !== null), 'every rule records its last run');

  const upstreamRaw = await skopeoInspectRaw(`docker://${up.dist.host}/library/app:1.2.0`);
  const wanted = up.app.get('1.2.0');
  assert.ok(wanted);
  assert.deepEqual(upstreamRaw, wanted.bytes);

  // Berth started afterwards on the data directory serves what the CLI stored, without the upstream.
  const berth = await startBerth({ dataDir });
  t.after(() => berth.stop());
  up.dist.kill();
  try {
    assert.deepEqual(await skopeoInspectRaw(`docker://${berth.host}/mirror/library/app:1.2.0`), upstreamRaw, 'byte-exact manifest');
    const out = await makeTempDir(t, 'berth-sync-pull-');
    await skopeoCopy(`docker://${berth.host}/mirror/library/app:1.2.0`, `dir:${out}`);
    for (const blob of [wanted.config, ...wanted.layers]) {
      assert.deepEqual(await readFile(join(out, blob.digest.slice('sha256:'.length))), blob.bytes, `blob ${blob.digest} pulled intact`);
    }

    // A sync run while the upstream is down fails, says why, and exits non-zero.
    const failed = await berthCli(['sync', 'run', 'app', '--data', dataDir]);
    assert.equal(failed.code, 1, `expected exit 1\n${failed.stderr}${failed.stdout}`);
    assert.match(failed.stdout, /^app: failed, 0\/0 images .*, 1 error\(s\)$/m);
    assert.match(failed.stderr, /^ {2}library\/app: listing tags: .+/m, 'each error on its own line');
    assert.match(failed.stderr, /sync app finished with 1 error\(s\)/);
    assert.ok(!failed.stderr.includes('    at '), 'no stack trace');
  } finally {
    await up.dist.restart();
  }
});

test('--platform linux/arm64 takes the index whole but only the arm64 image; a platform the index lacks is an error', { skip, timeout: 60_000 }, async (t) => {
  requireTools(...tools);
  const up = await upstream();
  const dataDir = await dataDirWith(t, up.dist.url);
  await berthCliOk(['sync', 'add', 'multi', '--upstream', 'up', '--repo', 'library/multi', '--platform', 'linux/arm64', '--data', dataDir]);
  const from = up.dist.requests().length;
  await berthCliOk(['sync', 'run', 'multi', '--data', dataDir]);
  const asked = since(up.dist, from);

  assert.deepEqual(await storedTags(dataDir, 'up/library/multi'), ['1.0'], 'default --into is the upstream\'s name');
  assert.deepEqual(await readFile(blobDataPath(dataDir, up.multi.digest)), up.multi.bytes, 'the index is stored byte for byte, both platforms listed');
  assert.deepEqual(await skopeoInspectRaw(`docker://${up.dist.host}/library/multi:1.0`), up.multi.bytes);
  const { arm64, amd64 } = up.multi;
  for (const digest of [arm64.digest, arm64.config.digest, ...arm64.layers.map((l) => l.digest)]) {
    assert.ok(await blobFileExists(dataDir, digest), `arm64 ${digest} stored`);
  }
  for (const digest of [amd64.digest, amd64.config.digest, ...amd64.layers.map((l) => l.digest)]) {
    assert.equal(await blobFileExists(dataDir, digest), false, `amd64 ${digest} not stored`);
    assert.equal(asked.filter((e) => e.path.includes(digest)).length, 0, `amd64 ${digest} never asked of the upstream`);
  }
  assert.equal(upstreamGets(asked, `/v2/library/multi/blobs/${arm64.layers[0]?.digest}`), 1);

  await berthCliOk(['sync', 'add', 'z', '--upstream', 'up', '--repo', 'library/multi', '--platform', 'linux/s390x', '--into', 'z', '--data', dataDir]);
  const missing = await berthCli(['sync', 'run', 'z', '--data', dataDir]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /library\/multi:1\.0: no image for linux\/s390x in this index \(it has: linux\/amd64, linux\/arm64\/v8\)/);
  assert.deepEqual(await storedTags(dataDir, 'z/library/multi'), [], 'no tag for an image that was not mirrored');
});

test('each blob is fetched once per job across tags and repositories; a re-run fetches nothing', { skip, timeout: 60_000 }, async (t) => {
  requireTools(...tools);
  const up = await upstream();
  const dataDir = await dataDirWith(t, up.dist.url);
  await berthCliOk(['sync', 'add', 'all', '--upstream', 'up', '--repo', 'library/app', '--repo', 'library/other', '--into', 'all', '--data', dataDir]);
  let from = up.dist.requests().length;
  const run = await berthCliOk(['sync', 'run', 'all', '--data', dataDir]);
  // 7 images: 7 configs, 7 own layers and the shared base layer.
  assert.match(run, /^all: succeeded, 7\/7 images {2}15\/15 blobs/m);
  let asked = since(up.dist, from);
  const baseGets = blobGets(asked).filter((e) => e.path.endsWith(up.base.digest));
  assert.equal(baseGets.length, 1, `the shared base layer was fetched ${baseGets.length} times: ${baseGets.map((e) => e.path).join(', ')}`);
  assert.equal(blobGets(asked).length, 15, 'no blob fetched twice');
  assert.deepEqual(await storedTags(dataDir, 'all/library/app'), [...appTags].sort());
  assert.deepEqual(await storedTags(dataDir, 'all/library/other'), ['1.0']);
  assert.deepEqual((await checkDataDir(dataDir)).problems, []);

  // Nothing changed upstream: the second run asks only for tags and manifest digests (HEAD), no content.
  from = up.dist.requests().length;
  assert.match(await berthCliOk(['sync', 'run', 'all', '--data', dataDir]), /^all: succeeded, 7\/7 images {2}0\/0 blobs/m);
  asked = since(up.dist, from);
  assert.deepEqual(asked.filter((e) => e.method === 'GET' && !e.path.includes('/tags/list')).map((e) => e.path), []);

  // Another rule into another namespace reuses the content Berth holds: links, no downloads.
  await berthCliOk(['sync', 'add', 'again', '--upstream', 'up', '--repo', 'library/other', '--into', 'again', '--data', dataDir]);
  from = up.dist.requests().length;
  await berthCliOk(['sync', 'run', 'again', '--data', dataDir]);
  assert.deepEqual(blobGets(since(up.dist, from)), []);
  assert.deepEqual(await storedTags(dataDir, 'again/library/other'), ['1.0']);
  assert.deepEqual((await checkDataDir(dataDir)).problems, []);
});

test('sync add refuses bad rules with a usage error', { skip, timeout: 30_000 }, async (t) => {
  requireTools(...tools);
  const up = await upstream();
  const dataDir = await dataDirWith(t, up.dist.url);
  const refused = async (args: readonly string[], pattern: RegExp) => {
    const result = await berthCli(['sync', 'add', ...args, '--data', dataDir]);
    assert.equal(result.code, 2, `berth sync add ${args.join(' ')}: expected exit 2\n${result.stderr}`);
    assert.match(result.stderr, pattern);
  };
  await refused(['r', '--upstream', 'up', '--repo', 'library/app', '--tags', '('], /invalid --tags pattern "\(": Unterminated group/);
  await refused(['r', '--upstream', 'up', '--repo', 'library/app', '--semver', 'soon'], /invalid semver range "soon"/);
  await refused(['r', '--upstream', 'up', '--repo', 'library/app', '--every', '30s'], /at least one minute/);
  await refused(['r', '--upstream', 'up', '--repo', 'library/app', '--every', 'often'], /--every: invalid duration "often"/);
  await refused(['r', '--upstream', 'nope', '--repo', 'library/app'], /no upstream named "nope"/);
  await berthCliOk(['sync', 'add', 'r', '--upstream', 'up', '--repo', 'library/app', '--every', '1m', '--data', dataDir]);
  await refused(['r', '--upstream', 'up', '--repo', 'library/app'], /a sync rule named "r" exists already/);
});

/** Berth in this process (the library), plain HTTP on an ephemeral port, no auth. */
async function startInProcess(t: AfterHook, dataDir: string): Promise<Berth> {
  const berth = await startBerthInProcess({ dataDir, logger: silentLogger(), listen: '127.0.0.1:0', tlsListen: null, auth: 'none' });
  let closed = false;
  t.after(async () => {
    if (!closed) await berth.close();
  });
  const close = berth.close.bind(berth);
  return Object.assign(berth, {
    close: async () => {
      closed = true;
      await close();
    },
  });
}

test('run-now through the admin API: progress events with growing bytes, and failed jobs keep their errors', { skip, timeout: 60_000 }, async (t) => {
  requireTools(...tools);
  const up = await upstream();
  const dataDir = await dataDirWith(t, up.dist.url);
  await berthCliOk(['sync', 'add', 'app', '--upstream', 'up', '--repo', 'library/app', '--tags', '1\\.2\\.0|2\\.0\\.0', '--into', 'sched', '--every', '1h', '--data', dataDir]);
  await berthCliOk(['sync', 'add', 'broken', '--upstream', 'up', '--repo', 'library/missing', '--into', 'sched', '--data', dataDir]);
  // Ran an hour ago: not due, so only the API starts it.
  const store = await createStateStore(dataDir);
  await store.update((draft) => {
    for (const rule of draft.syncRules) rule.lastRunAt = new Date(Date.now() - 60_000).toISOString();
  });
  await store.close();

  const berth = await startInProcess(t, dataDir);
  const base = berth.urls.http as string;
  assert.deepEqual(berth.sync.active(), [], 'nothing due at start');
  const { url: link } = await createSignInUrl(dataDir, base);
  const signIn = await fetch(link, { redirect: 'manual' });
  assert.equal(signIn.status, 303);
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';

  const progress: Array<{ rule: string; bytes: number; total: number }> = [];
  berth.sync.events.on('job.progress', (job) => progress.push({ rule: job.rule, bytes: job.bytes.done, total: job.bytes.total }));

  const noCsrf = await fetch(`${base}/api/sync-rules/app/run`, { method: 'POST', headers: { cookie } });
  assert.equal(noCsrf.status, 403, 'a run without the X-Berth-Admin header is refused');
  const started = await fetch(`${base}/api/sync-rules/app/run`, { method: 'POST', headers: { cookie, 'X-Berth-Admin': '1' } });
  assert.equal(started.status, 202);
  const { jobId } = (await started.json()) as { jobId: string };
  const job = await berth.sync.finished(jobId);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.errors));
  assert.deepEqual(job.images, { done: 2, total: 2 });
  assert.ok(job.bytes.total > 2 * 32 * 1024 && job.bytes.done === job.bytes.total, JSON.stringify(job.bytes));
  const seen = progress.filter((p) => p.rule === 'app').map((p) => p.bytes);
  assert.ok(new Set(seen).size >= 4, `several progress steps: ${seen.join(' ')}`);
  assert.ok(seen.every((bytes, i) => i === 0 || bytes >= (seen[i - 1] as number)), `bytes.done never goes back: ${seen.join(' ')}`);
  assert.equal(seen.at(-1), job.bytes.total);
  assert.deepEqual(await storedTags(dataDir, 'sched/library/app'), ['1.2.0', '2.0.0']);

  const broken = await berth.sync.finished((await berth.sync.runNow('broken')).id);
  assert.equal(broken.status, 'failed');
  assert.match(broken.errors.join('\n'), /^library\/missing: listing tags: .+/);
  const jobs = (await (await fetch(`${base}/api/jobs`, { headers: { cookie } })).json()) as { jobs: JobRecord[] };
  assert.deepEqual(jobs.jobs.map((j) => [j.rule, j.status]), [['broken', 'failed'], ['app', 'succeeded']], 'newest first');
  assert.deepEqual(jobs.jobs[0]?.errors, broken.errors, 'the history keeps the errors');
  await berth.close();

  // And so does the state file, across a restart.
  const reopened = await createStateStore(dataDir);
  t.after(() => reopened.close());
  const saved = reopened.read().jobs.find((j) => j.id === broken.id);
  assert.equal(saved?.status, 'failed');
  assert.deepEqual(saved?.errors, broken.errors);
  assert.ok(reopened.read().syncRules.every((rule) => typeof rule.lastRunAt === 'string' && Date.parse(rule.lastRunAt) > Date.now() - 30_000));
});

test('the schedule runs due rules only; "sync pause RULE" and pause() stop scheduled runs, resume() catches up', { skip, timeout: 60_000 }, async (t) => {
  requireTools(...tools);
  const up = await upstream();
  const dataDir = await dataDirWith(t, up.dist.url);
  for (const [name, every] of [['due', '1m'], ['recent', '1h'], ['held', '1m'], ['manual', undefined]] as const) {
    await berthCliOk(['sync', 'add', name, '--upstream', 'up', '--repo', 'library/other', '--into', name, ...(every ? ['--every', every] : []), '--data', dataDir]);
  }
  assert.match(await berthCliOk(['sync', 'pause', 'held', '--data', dataDir]), /paused sync rule held/);
  // A new scheduled rule waits for its first interval (or a deliberate run), and the CLI says when that is.
  const added = await berthCliOk(['sync', 'add', 'fresh', '--upstream', 'up', '--repo', 'library/other', '--into', 'fresh', '--every', '1h', '--data', dataDir]);
  assert.match(added, /^first run in 1h \(\d{4}-\d\d-\d\d \d\d:\d\dZ\) while Berth is serving, or now: berth sync run fresh$/m);
  const manualAdded = await berthCliOk(['sync', 'add', 'asked', '--upstream', 'up', '--repo', 'library/other', '--into', 'asked', '--data', dataDir]);
  assert.match(manualAdded, /^it runs only when asked: berth sync run asked$/m);
  const longAgo = '2000-01-01T00:00:00.000Z';
  const setLastRuns = async (state: Berth['state']) =>
    state.update((draft) => {
      for (const rule of draft.syncRules) {
        if (rule.name !== 'fresh' && rule.name !== 'asked') rule.lastRunAt = rule.name === 'recent' ? new Date().toISOString() : longAgo;
      }
    });
  const store = await createStateStore(dataDir);
  await setLastRuns(store);
  await store.close();
  const rulesThatRan = (berth: Berth) => berth.state.read().jobs.map((job) => job.rule).sort();

  let berth = await startInProcess(t, dataDir);
  await eventually('the due rule ran', () => berth.state.read().jobs.some((job) => job.rule === 'due' && job.status === 'succeeded'), 20_000);
  assert.deepEqual(rulesThatRan(berth), ['due'], 'not the recent, paused, never-run (before its first interval) or on-demand rules');
  assert.deepEqual(await storedTags(dataDir, 'due/library/other'), ['1.0']);

  // The whole schedule paused: kept in the settings, so a restart does not start anything either.
  await berth.sync.pause();
  await setLastRuns(berth.state);
  await berth.close();
  berth = await startInProcess(t, dataDir);
  assert.equal(berth.sync.isPaused(), true);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(berth.sync.active(), []);
  assert.deepEqual(rulesThatRan(berth), ['due']);

  // A deliberate run still works while paused.
  const manual = await berth.sync.finished((await berth.sync.runNow('held')).id);
  assert.equal(manual.status, 'succeeded');

  await berth.sync.resume();
  await eventually('the due rule ran again', () => rulesThatRan(berth).filter((rule) => rule === 'due').length === 2, 20_000);
  await eventually('it finished', () => berth.sync.active().length === 0, 20_000);
  assert.deepEqual(rulesThatRan(berth), ['due', 'due', 'held'], 'the paused rule only ran when asked');
});

test('at start, one interrupted job per rule resumes; duplicates and jobs of removed rules are cancelled', { skip, timeout: 60_000 }, async (t) => {
  requireTools(...tools);
  const up = await upstream();
  const dataDir = await dataDirWith(t, up.dist.url);
  await berthCliOk(['sync', 'add', 'other', '--upstream', 'up', '--repo', 'library/other', '--data', dataDir]);
  const interrupted = (id: string, rule: string): JobRecord => ({
    id,
    rule,
    status: 'running',
    queuedAt: '2026-01-01T00:00:00.000Z',
    startedAt: '2026-01-01T00:00:01.000Z',
    images: { done: 0, total: 1 },
    blobs: { done: 0, total: 0 },
    bytes: { done: 0, total: 0 },
    errors: [],
  });
  const store = await createStateStore(dataDir);
  await store.update((draft) => {
    draft.jobs.push(interrupted('a', 'other'), interrupted('b', 'other'), interrupted('c', 'gone'));
  });
  await store.close();

  const berth = await startInProcess(t, dataDir);
  const resumed = await berth.sync.finished('a');
  assert.equal(resumed.status, 'succeeded', JSON.stringify(resumed.errors));
  const byId = new Map(berth.state.read().jobs.map((job) => [job.id, job]));
  assert.equal(byId.get('b')?.status, 'cancelled');
  assert.match(byId.get('b')?.errors.join() ?? '', /another interrupted job of this rule was resumed instead/);
  assert.equal(byId.get('c')?.status, 'cancelled');
  assert.match(byId.get('c')?.errors.join() ?? '', /sync rule gone no longer exists/);
  assert.equal(byId.size, 3, 'no new job: the on-demand rule only resumed');
  assert.deepEqual(await storedTags(dataDir, 'up/library/other'), ['1.0']);
});

/**
 * A front for the upstream that can hold one blob: it forwards the headers and the first `stallAfter` bytes,
 * then sends nothing more until released (a download stuck mid-way, for as long as the test needs).
 */
interface StallingFront {
  readonly url: string;
  /** Digest to hold, or undefined to forward everything. */
  stall: string | undefined;
  /** Times the held blob reached the stall point. */
  stalled: number;
}

async function startStallingFront(t: AfterHook, target: string, stallAfter: number): Promise<StallingFront> {
  const front: StallingFront = { url: '', stall: undefined, stalled: 0 };
  const server: Server = createServer((req, res) => {
    const to = new URL(req.url ?? '/', target);
    const forward = httpRequest(to, { method: req.method, headers: { ...req.headers, host: to.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      const held = front.stall !== undefined && req.method === 'GET' && (req.url ?? '').endsWith(`/blobs/${front.stall}`);
      if (!held) {
        answer.pipe(res);
        return;
      }
      let sent = 0;
      answer.on('data', (chunk: Buffer) => {
        if (sent >= stallAfter) return;
        const part = chunk.subarray(0, stallAfter - sent);
        sent += part.length;
        res.write(part);
        if (sent >= stallAfter) {
          answer.pause();
          front.stalled += 1;
        }
      });
    });
    forward.on('error', () => res.destroy());
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return Object.assign(front, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}

test('a job interrupted by SIGKILL, then by a graceful stop, resumes at the next start and fetches nothing twice', { skip, timeout: 150_000 }, async (t) => {
  requireTools(...tools);
  const up = await upstream();
  const layout = await createImageLayout(await makeTempDir(t, 'berth-sync-big-'), {
    tag: '1',
    layers: [{ bytes: 3 * 1024 * 1024 }, { bytes: 5 * 1024 * 1024, compress: false }, { bytes: 8 * 1024 * 1024, compress: false }, { bytes: 112 * 1024 * 1024, compress: false }],
  });
  await pushImage(layout.ref, up.dist.host, 'library/big:1');
  const big = layout.layers[3];
  assert.ok(big);
  const small = [layout.config.digest, ...layout.layers.slice(0, 3).map((layer) => layer.digest)];

  const front = await startStallingFront(t, up.dist.url, 16 * 1024 * 1024);
  front.stall = big.digest;
  const dataDir = await dataDirWith(t, front.url);
  // Saved long ago and never run, so due at once: `berth serve` starts it by itself.
  await berthCliOk(['sync', 'add', 'big', '--upstream', 'up', '--repo', 'library/big', '--every', '1m', '--into', 'big', '--data', dataDir]);
  const saved = await createStateStore(dataDir);
  await saved.update((draft) => {
    for (const rule of draft.syncRules) rule.createdAt = '2000-01-01T00:00:00.000Z';
  });
  await saved.close();
  const from = up.dist.requests().length;
  const jobOf = async () => {
    const store = await createStateStore(dataDir);
    try {
      return store.read().jobs.filter((job) => job.rule === 'big');
    } finally {
      await store.close();
    }
  };
  // Fetched means stored and linked into the repository (the link follows the blob by a moment).
  const linked = (digest: string) =>
    stat(join(dataDir, 'repositories', 'big', 'library', 'big', '_layers', 'sha256', digest.slice('sha256:'.length), 'link')).then(() => true, () => false);
  const smallStored = async () => (await Promise.all(small.map(linked))).every(Boolean);

  let berth = await startBerth({ dataDir });
  t.after(() => berth.stop());
  await eventually('the small blobs are stored and the big one is half-way', async () => front.stalled === 1 && (await smallStored()), 30_000);
  berth.kill();
  await berth.exited;
  const [killed] = await jobOf();
  assert.equal(killed?.status, 'running', 'the state file says the job was running');

  // Restart: the job resumes by itself (same id) and stalls again on the big blob; SIGTERM stops it cleanly.
  berth = await startBerth({ dataDir });
  await berth.waitForLog((line) => line.msg === 'resuming a sync job interrupted by a restart' && line.job === killed.id);
  await eventually('the big blob is half-way again', () => front.stalled === 2, 30_000);
  const stopping = Date.now();
  const exit = await berth.stop();
  assert.equal(exit.code, 0);
  assert.ok(Date.now() - stopping < 8_000, 'a stuck download does not hold up the shutdown');
  assert.ok(berth.logLines().some((line) => line.msg === 'sync job stopped by shutdown: it resumes at the next start'));
  const [stopped] = await jobOf();
  assert.deepEqual([stopped?.id, stopped?.status, stopped?.finishedAt ?? null], [killed.id, 'running', null]);

  front.stall = undefined;
  berth = await startBerth({ dataDir });
  const done = await berth.waitForLog((line) => line.msg === 'sync job succeeded', 60_000);
  assert.equal(done.job, killed.id, 'the same job finished, no second one was started');
  const [finished, ...others] = await jobOf();
  assert.equal(finished?.status, 'succeeded');
  assert.deepEqual(others, []);
  assert.deepEqual(await storedTags(dataDir, 'big/library/big'), ['1']);

  const asked = since(up.dist, from);
  for (const digest of small) assert.equal(upstreamGets(asked, `/v2/library/big/blobs/${digest}`), 1, `${digest} fetched once`);
  assert.equal(upstreamGets(asked, `/v2/library/big/blobs/${big.digest}`), 3, 'the interrupted blob: twice cut, once whole');
  const report = await checkDataDir(dataDir);
  assert.deepEqual(report.problems, []);
  assert.equal(report.tags, 1);
  for (const digest of [...small, big.digest, layout.manifestDigest]) assert.ok(await blobFileExists(dataDir, digest), `${digest} stored`);
});
