import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { createPostgresLocks } from '../../registry/cluster/postgres-locks.js';
import type { StatusReport } from '../../registry/cli/commands/status.js';
import { berthBin } from '../support/berth-process.js';
import { basicHeader } from '../support/registry-auth.js';
import { absolute, createBlobSource, rawRequest, withDigest, type BlobSource } from './blob-stream.js';
import { startDistribution, type AccessLogEntry, type DistributionServer } from '../support/distribution.js';
import { pushBlobChunked, pushImageOf, type PushedImage } from '../support/oci-client.js';
import { blobPath, createImageLayout, type ImageLayout } from '../support/oci-layout.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { requireTools, run, toolSkipReason } from '../support/tools.js';
import { clusterSkipReason, startCluster, type Cluster } from './cluster-fixture.js';
import { sha256File } from './data-dir-check.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/**
 * What the nodes of a team registry do together rather than each on its own (issue 10): a blob pulled through the
 * mirror leaves the upstream once for the whole cluster however many nodes are asked for it at once; one node runs
 * the garbage collection and the sync schedules, another takes over within seconds when it is killed; a garbage
 * collection never runs twice at once and loses nothing that pushes on the other nodes bring in; and the token
 * realm is the configured public URL (the fixture's haproxy rewrites nothing). Three real nodes on radosgw and
 * PostgreSQL behind haproxy, skopeo as the client, Debian's docker-registry as the upstream (its access log counts).
 */

const MiB = 1024 * 1024;

describe('cluster coordination: 3 nodes share one mirror download per blob, one GC and one scheduler', { skip: clusterSkipReason() ?? toolSkipReason('skopeo', 'docker-registry'), timeout: 600_000 }, () => {
  let cluster: Cluster;
  let upstream: DistributionServer;
  let work: string;
  let authEnv: Record<string, string>;
  let authorization: Record<string, string>;
  /** The image the upstream holds (library/app:1), pushed before the cluster ever sees it. */
  let image: PushedImage;

  before(async () => {
    requireTools('skopeo', 'docker-registry');
    work = await createTempDir('berth-cluster-coordination-');
    [cluster, upstream] = await Promise.all([startCluster(), startDistribution({ logLevel: 'warn' })]);
    const token = await cluster.createToken('ci', '*:pull,push,delete');
    const authFile = join(work, 'auth.json');
    const auth = Buffer.from(`ci:${token}`).toString('base64');
    await writeFile(authFile, JSON.stringify({ auths: { [cluster.host]: { auth } } }), { mode: 0o600 });
    authEnv = { REGISTRY_AUTH_FILE: authFile };
    authorization = { authorization: basicHeader('ci', token) };
    // Layers big enough that a download is still running when the other pulls ask the other nodes for it.
    const layers = [];
    for (const size of [12 * MiB, 4 * MiB, 256 * 1024]) layers.push(await pushBlobChunked(upstream.url, 'library/app', randomBytes(size), 4 * MiB));
    image = await pushImageOf(upstream.url, 'library/app', '1', layers);
    await cluster.cli(['upstream', 'add', 'up', upstream.url]);
  });
  after(async () => {
    await Promise.all([cluster?.stop(), upstream?.stop()]);
    if (work) await removeDir(work);
  });

  /** The upstream's access log up to now: a marker request is awaited, so every earlier request is in it. */
  async function upstreamLog(): Promise<readonly AccessLogEntry[]> {
    const marker = `/v2/?marker=${randomBytes(6).toString('hex')}`;
    await (await fetch(`${upstream.url}${marker}`)).arrayBuffer();
    await until('the marker request in the access log', () => upstream.requests().some((entry) => entry.path === marker), 10_000);
    return upstream.requests();
  }
  const blobGets = (log: readonly AccessLogEntry[], digest: string) =>
    log.filter((entry) => entry.method === 'GET' && entry.userAgent.startsWith('berth') && (entry.path.split('?')[0] ?? '').endsWith(`/blobs/${digest}`)).length;

  /** `berth status --json` from the admin directory (exit 3: no server runs on that directory, which is right). */
  async function status(): Promise<StatusReport> {
    const result = await run(process.execPath, [berthBin, 'status', '--json', '--data', adminDir()], { env: cluster.env, timeoutMs: 60_000 });
    assert.equal(result.code, 3, result.stderr);
    return JSON.parse(result.stdout) as StatusReport;
  }
  const adminDir = () => join(dirname(cluster.nodes[0]?.dataDir ?? ''), 'admin');
  /** The index of the node holding `lock` (its name holds the node's listen address), or -1. */
  async function holderIndex(lock: string): Promise<number> {
    const holder = (await status()).clusterLocks?.find((entry) => entry.lock === lock);
    return holder ? cluster.nodes.findIndex((node) => holder.node.includes(`/${node.berth.host} `)) : -1;
  }

  async function assertPulledExact(repo: string, tag: string, layout: ImageLayout, into: string): Promise<void> {
    await skopeoCopy(dockerRef(cluster.host, repo, tag), `dir:${into}`, [], { env: authEnv });
    assert.deepEqual(await readFile(join(into, 'manifest.json')), layout.manifestBytes, `${repo}:${tag}: the manifest pulled is the one pushed`);
    for (const blob of [layout.config, ...layout.layers]) {
      assert.equal(await sha256File(join(into, blob.digest.replace('sha256:', ''))), await sha256File(blobPath(layout.dir, blob.digest)), `${repo}:${tag} ${blob.digest}`);
    }
  }

  test('4 concurrent cold pulls of a mirrored image through 3 nodes fetch each blob from the upstream once', async (t) => {
    const before = (await upstreamLog()).length;
    const served = await cluster.requestsByNode();
    await Promise.all([1, 2, 3, 4].map((n) => skopeoCopy(dockerRef(cluster.host, 'up/library/app', '1'), `dir:${join(work, `cold-${n}`)}`, [], { env: authEnv })));
    const log = (await upstreamLog()).slice(before);
    const gets = [image.config, ...image.layers].map((blob) => blobGets(log, blob.digest));
    const now = await cluster.requestsByNode();
    const spread = Object.fromEntries(Object.entries(now).map(([name, count]) => [name, count - (served[name] ?? 0)]));
    t.diagnostic(`upstream GETs per blob (config, 12 MiB, 4 MiB, 256 KiB): ${JSON.stringify(gets)}; requests per node: ${JSON.stringify(spread)}`);
    assert.ok(Object.values(spread).every((count) => count > 0), `every node served part of the pulls: ${JSON.stringify(spread)}`);
    assert.deepEqual(gets, [1, 1, 1, 1], 'each blob left the upstream once for the whole cluster');
    for (const n of [1, 2, 3, 4]) {
      for (const blob of [image.config, ...image.layers]) {
        const digest = blob.digest.replace('sha256:', '');
        assert.equal(await sha256File(join(work, `cold-${n}`, digest)), blob.digest, `pull ${n} got ${blob.digest} byte-exact`);
      }
    }
  });

  test('the realm of every challenge is the configured public URL (no rewriting in haproxy), on every node', async () => {
    for (const node of cluster.nodes) {
      const challenge = await fetch(`${node.berth.url}/v2/`);
      assert.equal(challenge.status, 401);
      assert.match(challenge.headers.get('www-authenticate') ?? '', new RegExp(`^Bearer realm="${cluster.url}/token",service="berth"`), `${node.name} names the balancer`);
    }
  });

  test('berth gc on a cluster is refused while another process holds the gc lock, naming it; then it runs', async () => {
    const holder = createPostgresLocks({ url: cluster.database.url, password: cluster.database.connection.password }, { node: () => 'an operator shell' });
    try {
      const lock = await holder.tryAcquire('gc');
      assert.ok(lock, 'no node collects right now');
      const refused = await run(process.execPath, [berthBin, 'gc', '--data', cluster.nodes[1]?.dataDir ?? ''], { env: cluster.env, timeoutMs: 60_000 });
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /a garbage collection is already running on an operator shell: try again when it has finished/);
      assert.deepEqual((await status()).clusterLocks?.filter((entry) => entry.lock === 'gc').map((entry) => entry.node), ['an operator shell'], 'berth status shows the run');
      await lock.release();
      assert.match(await cluster.cli(['gc'], 1), /^Freed /m);
    } finally {
      await holder.close();
    }
  });

  test('a sync rule does not run twice at once: berth sync run while its lock is held elsewhere is not started, saying where it runs', async () => {
    await cluster.cli(['sync', 'add', 'manual', '--upstream', 'up', '--repo', 'library/app', '--into', 'copies']);
    const holder = createPostgresLocks({ url: cluster.database.url, password: cluster.database.connection.password }, { node: () => 'node-x' });
    try {
      const lock = await holder.tryAcquire('sync-rule:manual');
      assert.ok(lock);
      const refused = await run(process.execPath, [berthBin, 'sync', 'run', 'manual', '--data', adminDir()], { env: cluster.env, timeoutMs: 60_000 });
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /sync manual: not started: rule manual is running on node-x/);
      await lock.release();
    } finally {
      await holder.close();
    }
    // Free again: it runs, from the CLI as from any node.
    await cluster.cli(['sync', 'run', 'manual']);
    const jobs = JSON.parse(await cluster.cli(['sync', 'jobs', 'manual', '--json'])) as Array<{ status: string }>;
    assert.deepEqual(jobs.map((job) => job.status), ['succeeded', 'cancelled']);
  });

  test('two PATCHes of one upload on two nodes at once take turns: the first is stored whole, the second is told where the upload stands', async () => {
    const repo = 'team/two-patches';
    const [node0, node1, node2] = cluster.nodes.map((node) => node.berth.url) as [string, string, string];
    const started = await rawRequest('POST', `${node0}/v2/${repo}/blobs/uploads/`, authorization);
    assert.equal(started.status, 202, started.text);
    const session = (base: string) => absolute(base, started.headers.location);
    const first = createBlobSource(12 * MiB);
    const second = createBlobSource(12 * MiB);
    const chunk = (blob: BlobSource) => ({ ...authorization, 'content-type': 'application/octet-stream', 'content-range': `0-${blob.size - 1}`, 'content-length': String(blob.size) });
    // The first PATCH (to node 1) sends half its bytes and holds; the second (to node 2) is sent whole meanwhile.
    const gate = holdAfter(first, 6 * MiB);
    const firstPatch = rawRequest('PATCH', session(node1), chunk(first), gate.body);
    await gate.held;
    const secondPatch = rawRequest('PATCH', session(node2), chunk(second), second.stream());
    await delay(1500);
    gate.release();
    const [a, b] = await Promise.all([firstPatch, secondPatch]);
    assert.equal(a.status, 202, `the first PATCH: ${a.text}`);
    assert.equal(a.headers.range, `0-${first.size - 1}`);
    assert.equal(b.status, 416, `the second PATCH waited for the first and no longer fits: ${b.text}`);
    assert.equal(b.headers.range, `0-${first.size - 1}`, 'it is told where the upload stands');
    const digest = await first.digest();
    const done = await rawRequest('PUT', withDigest(session(node0), digest), { ...authorization, 'content-length': '0' });
    assert.equal(done.status, 201, done.text);
    const pulled = await rawRequest('GET', `${node2}/v2/${repo}/blobs/${digest}`, authorization);
    assert.deepEqual([pulled.status, pulled.bodyBytes, pulled.bodyDigest], [200, first.size, digest], 'the stored blob is the first chunk, not a mix');
  });

  test('GC on one node while pushes run on the others loses nothing', async (t) => {
    requireTools('skopeo');
    const layouts = await Promise.all(
      [1, 2, 3, 4].map((n) => createImageLayout(join(work, `push-layout-${n}`), { tag: 'v1', layers: [{ bytes: 6 * MiB, compress: false }, { bytes: 300 * 1024 }, { bytes: 40 * 1024 }] })),
    );
    let pushing = true;
    const pushes = Promise.all(layouts.map((layout, n) => skopeoCopy(layout.ref, dockerRef(cluster.host, `team/gc-race-${n}`, 'v1'), ['--preserve-digests'], { env: authEnv }))).finally(() => {
      pushing = false;
    });
    // Forced runs on node 0 (the default grace, as an operator runs it) for as long as the pushes go on, then once more.
    let runs = 0;
    while (pushing || runs === 0) {
      await cluster.cli(['gc'], 0);
      runs += 1;
    }
    await pushes;
    await cluster.cli(['gc'], 0);
    t.diagnostic(`${runs + 1} garbage collections on node0 during and after 4 pushes`);
    for (const [n, layout] of layouts.entries()) await assertPulledExact(`team/gc-race-${n}`, 'v1', layout, join(work, `gc-race-pulled-${n}`));
  });

  test('kill the scheduler leader (SIGKILL): another node takes both schedules over and runs a scheduled sync', async (t) => {
    const gcLeader = await holderIndex('gc-scheduler');
    const syncLeader = await holderIndex('sync-scheduler');
    assert.ok(gcLeader >= 0 && syncLeader >= 0, `berth status names a node for each scheduler: ${JSON.stringify((await status()).clusterLocks)}`);
    const text = (await run(process.execPath, [berthBin, 'status', '--data', adminDir()], { env: cluster.env, timeoutMs: 60_000 })).stdout;
    assert.match(text, /^Cluster schedulers \(the node holding each lock runs it\):$/m);
    const gcLine = text.split('\n').find((line) => line.startsWith('  scheduled garbage collection')) ?? '';
    assert.ok(gcLine.includes(`/${cluster.nodes[gcLeader]?.berth.host} pid `), `berth status names the leader: ${gcLine}`);
    // Due one minute after it is added (the shortest schedule): the leader is killed long before.
    await cluster.cli(['sync', 'add', 'nightly', '--upstream', 'up', '--repo', 'library/app', '--every', '1m']);
    const killedAt = Date.now();
    await cluster.killNode(syncLeader);
    const survivors = cluster.nodes.map((_, index) => index).filter((index) => index !== syncLeader);
    await until('another node to hold the sync-scheduler lock', async () => survivors.includes(await holderIndex('sync-scheduler')), 20_000);
    await until('another node to hold the gc-scheduler lock', async () => survivors.includes(await holderIndex('gc-scheduler')), 20_000);
    t.diagnostic(`both schedulers on a survivor ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the SIGKILL`);

    // The survivor's schedule runs the rule: the job is recorded as a scheduled run that succeeded.
    let jobs: Array<{ rule: string; status: string; startedAt?: string }> = [];
    await until(
      'a scheduled run of the rule on a survivor',
      async () => {
        jobs = JSON.parse(await cluster.cli(['sync', 'jobs', 'nightly', '--json'])) as typeof jobs;
        return jobs.some((job) => job.rule === 'nightly' && job.status === 'succeeded');
      },
      150_000,
    );
    const scheduledRun = jobs.find((job) => job.rule === 'nightly' && job.status === 'succeeded');
    assert.ok(scheduledRun?.startedAt && Date.parse(scheduledRun.startedAt) > killedAt, 'it started after the leader was killed, so on a survivor');
    assert.equal(jobs.filter((job) => job.rule === 'nightly' && job.status === 'running').length, 0, 'and it did not run twice');
    await cluster.restartNode(syncLeader);
  });
});

/** The whole of `blob` as a request body that stops after `first` bytes until release(); `held` once those are out. */
function holdAfter(blob: BlobSource, first: number): { body: Readable; held: Promise<void>; release(): void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let markHeld!: () => void;
  const held = new Promise<void>((resolve) => (markHeld = resolve));
  async function* generate(): AsyncGenerator<Buffer> {
    for await (const chunk of blob.stream(0, first)) yield chunk as Buffer;
    markHeld();
    await released;
    for await (const chunk of blob.stream(first, blob.size)) yield chunk as Buffer;
  }
  return { body: Readable.from(generate()), held, release };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(250);
  }
}
