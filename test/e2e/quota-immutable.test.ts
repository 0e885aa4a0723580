import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { berthBin } from '../support/berth-process.js';
import { createImageLayout, type ImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, run, runOk, toolSkipReason } from '../support/tools.js';
import { startDockerd } from '../support/daemons/dockerd.js';
import { containerd, ctr, daemonSkipReason, dockerCli, dockerd, requireDaemonTools, runc } from '../support/daemons/requirements.js';
import { createIsolatedPodman } from '../support/podman.js';
import { clusterSkipReason, startCluster } from './cluster-fixture.js';
import { startDefaultBerth } from './default-berth.js';
import { dockerRef, skopeoCopy, skopeoCopyResult } from './skopeo.js';

/**
 * Quotas and immutable tags with real skopeo, on both backends: the desktop default (token auth, filesystem, SQLite
 * index) and a team registry (two nodes on PostgreSQL and a radosgw bucket, behind haproxy). What a user sees: the
 * refusal in the client's output, with the quota and the usage in it, and nothing of the refused push stored.
 */

interface Target {
  /** `HOST:PORT` for image references. */
  host: string;
  /** skopeo's `--src-creds`/`--dest-creds` value. */
  creds: string;
  /** `berth ARGS` against this Berth's metadata; resolves with stdout. */
  cli(args: readonly string[]): Promise<string>;
  /** `berth ARGS` that must fail; resolves with stderr. */
  cliFails(args: readonly string[]): Promise<string>;
  /** `http://HOST:PORT/metrics`. */
  metricsUrl: string;
  /** Upload sessions left in storage (the filesystem backend's `_uploads`; undefined where it cannot be looked at). */
  uploadSessions(): Promise<number | undefined>;
}

interface QuotaRow {
  namespace: string;
  quota: { storageBytes?: number; pullBytesPerMonth?: number };
  usage: { storageBytes: number; pullBytesThisMonth: number };
}

const skopeoSkip = toolSkipReason('skopeo');

async function quotaOf(target: Target, namespace: string): Promise<QuotaRow> {
  const rows = JSON.parse(await target.cli(['quota', 'show', namespace, '--json'])) as QuotaRow[];
  const row = rows[0];
  assert.ok(row, `quota show ${namespace} lists it`);
  return row;
}

async function push(target: Target, image: ImageLayout, repository: string, tag: string) {
  return skopeoCopyResult(image.ref, dockerRef(target.host, repository, tag), ['--preserve-digests', '--dest-creds', target.creds]);
}

async function pushOk(target: Target, image: ImageLayout, repository: string, tag: string): Promise<void> {
  const result = await push(target, image, repository, tag);
  assert.equal(result.code, 0, `skopeo copy to ${repository}:${tag}:\n${result.stderr}`);
}

/** The scenario both backends run: immutable tags first (no quota in the way), then the storage and pull quotas. */
async function runScenario(t: TestContext, target: Target): Promise<void> {
  const work = await makeTempDir(t);
  const v1 = await createImageLayout(join(work, 'v1'), { tag: 'v1', layers: [{ bytes: 300 * 1024, compress: false }, { bytes: 100 * 1024, compress: false }] });
  const v2 = await createImageLayout(join(work, 'v2'), { tag: 'v2', layers: [{ bytes: 50 * 1024, compress: false }] });
  const big = await createImageLayout(join(work, 'big'), { tag: 'big', layers: [{ bytes: 2 * 1024 * 1024, compress: false }] });

  await pushOk(target, v1, 'team/app', 'v1');
  // Usage is the unique bytes referenced: both layers, the config, the manifest.
  const expected = v1.totalBytes + v1.manifestBytes.length;
  assert.equal((await quotaOf(target, 'team')).usage.storageBytes, expected);
  // The same blobs in a second repository of the namespace count once.
  await pushOk(target, v1, 'team/copy', 'v1');
  assert.equal((await quotaOf(target, 'team')).usage.storageBytes, expected, 'a blob two repositories share is counted once');

  // Immutable tags: v* cannot move or be deleted; the same digest may be pushed again; other tags stay mutable.
  assert.match(await target.cli(['immutable', 'add', 'team', 'v*']), /team: immutable tag patterns "v\*"/);
  assert.match(await target.cli(['immutable', 'list']), /^team\s+v\*$/m);
  const moved = await push(target, v2, 'team/app', 'v1');
  assert.notEqual(moved.code, 0, 'moving an immutable tag is refused');
  assert.match(moved.stderr, /denied/i);
  // skopeo's log line escapes the quotes around the pattern.
  assert.match(moved.stderr, /denied: tag team\/app:v1 is immutable \(pattern \\?"v\*\\?"\) and cannot be moved off sha256:/);
  await pushOk(target, v1, 'team/app', 'v1'); // the same digest again: idempotent
  await pushOk(target, v2, 'team/app', 'latest');
  await pushOk(target, v1, 'team/app', 'latest'); // a mutable tag moves
  const deleted = await skopeoDelete(target, 'team/app', 'v1');
  assert.notEqual(deleted.code, 0, 'deleting an immutable tag (skopeo deletes its manifest by digest) is refused');
  assert.match(deleted.stderr, /is immutable/);
  assert.match(await target.cliFails(['image', 'rm', 'team/app:v1']), /tag team\/app:v1 is immutable \(pattern "v\*"\) and cannot be deleted/);
  const inspect = await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', target.creds, dockerRef(target.host, 'team/app', 'v1')]);
  assert.deepEqual(Buffer.from(inspect.stdout, 'utf8'), v1.manifestBytes, 'v1 still points at what was first pushed');
  assert.match(await target.cli(['immutable', 'remove', 'team', 'v*']), /immutable tag patterns none/);
  await pushOk(target, v2, 'team/app', 'v1'); // mutable again

  // Storage quota: a push that would pass it is refused with the quota and the usage, and nothing of it stays.
  const used = (await quotaOf(target, 'team')).usage.storageBytes;
  assert.equal(used, expected + v2.totalBytes + v2.manifestBytes.length);
  const limit = used + 512 * 1024;
  assert.match(await target.cli(['quota', 'set', 'team', '--max-storage', String(limit)]), /storage quota \d+(\.\d)? (KiB|MiB)/);
  const refused = await push(target, big, 'team/big', 'big');
  assert.notEqual(refused.code, 0, 'a push over the quota fails');
  assert.match(refused.stderr, /denied/i);
  assert.match(refused.stderr, /namespace \\?"team\\?" is over its storage quota: \d+(\.\d)? KiB used of \d+(\.\d)? (KiB|MiB)/);
  const after = await quotaOf(target, 'team');
  assert.equal(after.usage.storageBytes, used, 'nothing of the refused push is counted');
  assert.equal(after.quota.storageBytes, limit);
  const blob = big.layers[0]?.digest as string;
  const head = await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', target.creds, dockerRef(target.host, 'team/big', 'big')]).catch((error: Error) => error);
  assert.ok(head instanceof Error, 'the refused image is not there');
  const sessions = await target.uploadSessions();
  if (sessions !== undefined) assert.equal(sessions, 0, 'no upload session left behind');
  assert.doesNotMatch(await target.cli(['image', 'list', 'team']), new RegExp(blob.slice(7, 19)));
  // Raised, the same push goes through; another namespace was never limited.
  await target.cli(['quota', 'set', 'team', '--max-storage', '100MiB']);
  await pushOk(target, big, 'team/big', 'big');
  await pushOk(target, big, 'other/big', 'big');

  // The namespace table and /metrics show usage against the quota.
  assert.match(await target.cli(['namespace', 'list']), /^team\s+no\s+\d+(\.\d)? MiB\s+100 MiB \(\d+%\)\s+/m);
  const usage = (await quotaOf(target, 'team')).usage.storageBytes;
  const metrics = await (await fetch(target.metricsUrl)).text();
  assert.match(metrics, new RegExp(`^berth_namespace_storage_bytes\\{namespace="team"\\} ${usage}$`, 'm'));
  assert.match(metrics, new RegExp(`^berth_namespace_storage_quota_bytes\\{namespace="team"\\} ${100 * 1024 * 1024}$`, 'm'));

  // Monthly pull quota: once the month's bytes are used up, pulls are refused (DENIED) with the usage.
  // Exactly one pull of latest (v1's config and layers): the pull that reaches it is served, the next one is not.
  await target.cli(['quota', 'set', 'team', '--pulls-per-month', String(v1.totalBytes)]);
  const out = join(work, 'pulled');
  const first = await skopeoCopyResult(dockerRef(target.host, 'team/app', 'latest'), `dir:${out}-1`, ['--src-creds', target.creds]);
  assert.equal(first.code, 0, first.stderr);
  // The counted bytes reach the shared store within a flush (5 s); every node then sees them.
  for (let i = 0; i < 40 && (await quotaOf(target, 'team')).usage.pullBytesThisMonth < v1.totalBytes; i += 1) await sleep(250);
  assert.equal((await quotaOf(target, 'team')).usage.pullBytesThisMonth, v1.totalBytes, 'the config and both layers were counted');
  const second = await skopeoCopyResult(dockerRef(target.host, 'team/app', 'latest'), `dir:${out}-2`, ['--src-creds', target.creds]);
  assert.notEqual(second.code, 0, 'a pull past the monthly quota fails');
  assert.match(second.stderr, /namespace \\?"team\\?" is over its monthly pull quota/);
  // Each refusal is in the audit trail as a denied request, with the rule and the reason the client got.
  const denials = (await target.cli(['audit', '--json', '--namespace', 'team'])).trim().split('\n').map((line) => JSON.parse(line) as { action: string; outcome: string; repository?: string; detail?: { rule?: string; reason?: string } }).filter((event) => event.outcome === 'denied');
  assert.deepEqual(
    new Set(denials.map((event) => `${event.action} ${event.repository} ${event.detail?.rule}`)),
    new Set(['push team/app immutable tag', 'delete team/app immutable tag', 'push team/big storage', 'pull team/app pullsPerMonth']),
  );
  assert.ok(denials.every((event) => (event.detail?.reason ?? '').length > 20), 'the reason is the message the client got');
  await target.cli(['quota', 'set', 'team', '--pulls-per-month', 'none']);
  const third = await skopeoCopyResult(dockerRef(target.host, 'team/app', 'latest'), `dir:${out}-3`, ['--src-creds', target.creds]);
  assert.equal(third.code, 0, third.stderr);
}

function skopeoDelete(target: Target, repository: string, tag: string) {
  return run('skopeo', ['delete', '--tls-verify=false', '--creds', target.creds, dockerRef(target.host, repository, tag)], { timeoutMs: 60_000 });
}

async function countUploads(dataDir: string): Promise<number> {
  let sessions = 0;
  const visit = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory()) continue;
      if (entry.name === '_uploads') sessions += (await readdir(join(dir, entry.name))).length;
      else await visit(join(dir, entry.name));
    }
  };
  await visit(join(dataDir, 'repositories'));
  return sessions;
}

describe('quotas and immutable tags', { timeout: 600_000 }, () => {
  test('desktop default (token auth, filesystem, SQLite): skopeo push over quota refused and nothing stored; immutable tags refuse a re-push and a delete', { skip: skopeoSkip, timeout: 300_000 }, async (t) => {
    requireTools('skopeo');
    const { berth, client, dataDir } = await startDefaultBerth(t);
    const [, token] = Buffer.from((client.headers.authorization as string).slice('Basic '.length), 'base64').toString('utf8').split(':');
    const cli = async (args: readonly string[]) => (await runOk(process.execPath, [berthBin, ...args, '--data', dataDir], { timeoutMs: 60_000 })).stdout;
    await runScenario(t, {
      host: berth.host,
      creds: `racer:${token}`,
      metricsUrl: `${berth.url}/metrics`,
      cli,
      cliFails: (args) => cli(args).then(
        (stdout) => assert.fail(`berth ${args.join(' ')} succeeded:\n${stdout}`),
        (error: Error) => error.message,
      ),
      uploadSessions: () => countUploads(dataDir),
    });
  });

  test('podman on the desktop default: a re-push of another image to an immutable tag and a push over quota are refused with the reason', { skip: toolSkipReason('skopeo', 'podman'), timeout: 240_000 }, async (t) => {
    requireTools('skopeo', 'podman');
    const { berth, client, dataDir } = await startDefaultBerth(t);
    const [, token] = Buffer.from((client.headers.authorization as string).slice('Basic '.length), 'base64').toString('utf8').split(':');
    const creds = `racer:${token}`;
    const cli = async (args: readonly string[]) => (await runOk(process.execPath, [berthBin, ...args, '--data', dataDir], { timeoutMs: 60_000 })).stdout;
    const work = await makeTempDir(t);
    const v1 = await createImageLayout(join(work, 'v1'), { tag: 'v1', layers: [{ bytes: 64 * 1024, compress: false }] });
    const v2 = await createImageLayout(join(work, 'v2'), { tag: 'v2', layers: [{ bytes: 64 * 1024, compress: false }] });
    const big = await createImageLayout(join(work, 'big'), { tag: 'big', layers: [{ bytes: 1024 * 1024, compress: false }] });
    await skopeoCopy(v1.ref, dockerRef(berth.host, 'team/app', 'v1'), ['--preserve-digests', '--dest-creds', creds]);
    await cli(['immutable', 'add', 'team', 'v*']);

    // podman takes its images from another namespace (no quota, no patterns) of the same Berth.
    const staged = async (image: ImageLayout) => {
      await skopeoCopy(image.ref, dockerRef(berth.host, `staging/${image.tag}`, '1'), ['--preserve-digests', '--dest-creds', creds]);
      await podman.runOk(['pull', '--tls-verify=false', '--creds', creds, `${berth.host}/staging/${image.tag}:1`]);
      return `${berth.host}/staging/${image.tag}:1`;
    };
    const podman = await createIsolatedPodman(t);
    const localV2 = await staged(v2);
    const localBig = await staged(big);
    const idOf = (image: ImageLayout) => (image === v2 ? localV2 : localBig);
    const moved = await podman.run(['push', '--tls-verify=false', '--creds', creds, idOf(v2), `docker://${berth.host}/team/app:v1`]);
    assert.notEqual(moved.code, 0, 'podman cannot move an immutable tag');
    assert.match(moved.stderr, /tag team\/app:v1 is immutable \(pattern \\?"v\*\\?"\) and cannot be moved/);
    await podman.runOk(['push', '--tls-verify=false', '--creds', creds, idOf(v2), `docker://${berth.host}/team/app:dev`]);

    const used = (await quotaOf({ cli } as Target, 'team')).usage.storageBytes;
    await cli(['quota', 'set', 'team', '--max-storage', String(used + 100 * 1024)]);
    const over = await podman.run(['push', '--tls-verify=false', '--creds', creds, idOf(big), `docker://${berth.host}/team/big:1`]);
    assert.notEqual(over.code, 0, 'podman cannot push past the quota');
    assert.match(over.stderr, /namespace \\?"team\\?" is over its storage quota: \d+ KiB used of \d+ KiB/);
    assert.equal((await quotaOf({ cli } as Target, 'team')).usage.storageBytes, used, 'nothing of it counted');
    assert.equal(await countUploads(dataDir), 0, 'no upload session left behind');
  });

  test('docker CLI (its own dockerd) on the desktop default: docker push to an immutable tag and past the storage quota are refused with the reason', { skip: daemonSkipReason(dockerd, dockerCli, containerd, ctr, runc, 'skopeo'), timeout: 300_000 }, async (t) => {
    requireDaemonTools(dockerd, dockerCli, containerd, ctr, runc, 'skopeo');
    const { berth, client, dataDir } = await startDefaultBerth(t);
    const [, token] = Buffer.from((client.headers.authorization as string).slice('Basic '.length), 'base64').toString('utf8').split(':');
    const creds = `racer:${token}`;
    const cli = async (args: readonly string[]) => (await runOk(process.execPath, [berthBin, ...args, '--data', dataDir], { timeoutMs: 60_000 })).stdout;
    const work = await makeTempDir(t);
    const v1 = await createImageLayout(join(work, 'v1'), { tag: 'v1', layers: [{ bytes: 64 * 1024 }] });
    const v2 = await createImageLayout(join(work, 'v2'), { tag: 'v2', layers: [{ bytes: 64 * 1024 }] });
    const big = await createImageLayout(join(work, 'big'), { tag: 'big', layers: [{ bytes: 1024 * 1024, compress: false }] });
    await skopeoCopy(v1.ref, dockerRef(berth.host, 'team/app', 'v1'), ['--dest-creds', creds]);
    for (const image of [v2, big]) await skopeoCopy(image.ref, dockerRef(berth.host, `staging/${image.tag}`, '1'), ['--dest-creds', creds]);
    await cli(['immutable', 'add', 'team', 'v*']);

    // 127.0.0.0/8 is an insecure registry to dockerd by default: plain HTTP, as for a local Berth.
    const daemon = await startDockerd(t);
    await daemon.dockerOk(['login', berth.host, '--username', 'racer', '--password-stdin'], { input: token, timeoutMs: 30_000 });
    for (const image of [v2, big]) await daemon.dockerOk(['pull', `${berth.host}/staging/${image.tag}:1`], { timeoutMs: 120_000 });
    await daemon.dockerOk(['tag', `${berth.host}/staging/v2:1`, `${berth.host}/team/app:v1`]);
    const moved = await daemon.docker(['push', `${berth.host}/team/app:v1`], { timeoutMs: 120_000 });
    assert.notEqual(moved.code, 0, `docker cannot move an immutable tag:\n${moved.stdout}`);
    assert.match(`${moved.stdout}${moved.stderr}`, /tag team\/app:v1 is immutable \(pattern "v\*"\) and cannot be moved/);

    const used = (await quotaOf({ cli } as Target, 'team')).usage.storageBytes;
    await cli(['quota', 'set', 'team', '--max-storage', String(used + 100 * 1024)]);
    await daemon.dockerOk(['tag', `${berth.host}/staging/big:1`, `${berth.host}/team/big:1`]);
    const over = await daemon.docker(['push', `${berth.host}/team/big:1`], { timeoutMs: 120_000 });
    assert.notEqual(over.code, 0, 'docker cannot push past the quota');
    assert.match(`${over.stdout}${over.stderr}`, /namespace "team" is over its storage quota: \d+ KiB used of \d+ KiB/);
    assert.equal((await quotaOf({ cli } as Target, 'team')).usage.storageBytes, used, 'nothing of it counted');
    assert.equal(await countUploads(dataDir), 0, 'no upload session left behind');
  });

  test('team registry (two nodes, PostgreSQL, radosgw): the same refusals; usage and pull traffic shared by the nodes', { skip: skopeoSkip ?? clusterSkipReason(), timeout: 400_000 }, async (t) => {
    requireTools('skopeo');
    const cluster = await startCluster({ nodes: 2 });
    t.after(() => cluster.stop());
    const token = await cluster.createToken('quota-tester', '*:pull,push,delete');
    await runScenario(t, {
      host: cluster.host,
      creds: `quota-tester:${token}`,
      metricsUrl: `${cluster.url}/metrics`,
      cli: (args) => cluster.cli(args),
      cliFails: (args) => cluster.cli(args).then(
        (stdout) => assert.fail(`berth ${args.join(' ')} succeeded:\n${stdout}`),
        (error: Error) => error.message,
      ),
      uploadSessions: async () => undefined,
    });
  });
});
