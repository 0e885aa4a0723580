import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { AuditEvent } from '../../registry/auth/index.js';
import type { RetentionReport } from '../../registry/lifecycle/retention-run.js';
import { signInAsAdmin } from '../support/berth-admin.js';
import { startBerth } from '../support/berth-process.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { clusterSkipReason, startCluster } from './cluster-fixture.js';
import { berthCliOk, httpGet } from './mirror-fixture.js';
import { dockerRef, skopeoCopy, skopeoCopyResult } from './skopeo.js';

/**
 * Retention as a user meets it, with real clients on both backends (the desktop default: filesystem, SQLite index,
 * state.json; and scale-out: S3 on radosgw, PostgreSQL): images pushed with skopeo, pulled with skopeo (pull
 * records), one pinned; `berth retention run --dry-run` lists what the policy removes, the real run removes exactly
 * that list (compared entry by entry), audits each removal, and leaves what the pin and the newest tags keep
 * pullable. A mirror namespace evicts what was not pulled within its days, pins excepted, and pulls it again from
 * the upstream on the next request.
 */

interface Backend {
  /** `127.0.0.1:PORT` of the registry clients use. */
  host: string;
  url: string;
  /** Runs `berth ARGS` against the instance's data (and its database and bucket); resolves with stdout. */
  cli(args: readonly string[]): Promise<string>;
}

const day = 86_400_000;
const asOf = (days: number) => new Date(Date.now() + days * day).toISOString();
const key = (removal: RetentionReport['removals'][number]) => `${removal.rule} ${removal.kind} ${removal.repository} ${removal.reference}`;

async function tokenFor(backend: Backend, name: string, scope: string): Promise<{ name: string; secret: string }> {
  const printed = await backend.cli(['token', 'create', '--name', name, '--scope', scope]);
  return { name, secret: printed.trimEnd().split('\n').at(-1) ?? '' };
}

async function dryRunEqualsRealRun(t: TestContext, backend: Backend): Promise<void> {
  const { name, secret: user } = await tokenFor(backend, 'ci', 'team/*:pull,push');
  const dest = ['--dest-creds', `${name}:${user}`];
  const src = ['--src-creds', `${name}:${user}`];

  const work = await makeTempDir(t, 'berth-retention-src-');
  const digests = new Map<string, string>();
  // Pushed in this order, one image each (latest shares 2.0.0's); tmp's tag is deleted at once: an untagged manifest.
  for (const tag of ['1.0.0', '1.1.0', '1.2.0', '2.0.0', 'tmp']) {
    const image = await createImageLayout(join(work, tag), { tag, layers: [{ bytes: 2048 }] });
    await skopeoCopy(image.ref, dockerRef(backend.host, 'team/app', tag), dest);
    digests.set(tag, image.manifestDigest);
  }
  await skopeoCopy(dockerRef(backend.host, 'team/app', '2.0.0'), dockerRef(backend.host, 'team/app', 'latest'), [...src, ...dest]);
  await backend.cli(['image', 'rm', 'team/app:tmp']);
  // Pull records: what a policy on pulls would read (and a pull is no push: the order stays by push time).
  const pulled = await makeTempDir(t, 'berth-retention-dst-');
  await skopeoCopy(dockerRef(backend.host, 'team/app', '1.1.0'), `dir:${join(pulled, 'a')}`, src);
  await skopeoCopy(dockerRef(backend.host, 'team/app', '1.0.0'), `dir:${join(pulled, 'b')}`, src);

  await backend.cli(['pin', 'team/app:1.0.0']);
  await backend.cli(['retention', 'set', 'team', '--keep-newest', '2', '--untagged-days', '7']);
  assert.match(await backend.cli(['retention', 'show', 'team/app']), /In effect for team\/app: keep newest 2 \(by push time\), untagged after 7 days/);

  // Now (the schedule's view): only the tags beyond the newest two; the untagged manifests are young.
  const today = JSON.parse(await backend.cli(['retention', 'run', '--dry-run', '--json'])) as RetentionReport;
  assert.deepEqual(today.removals.map(key), ['keep-newest tag team/app 1.2.0', 'keep-newest tag team/app 1.1.0']);
  assert.deepEqual(today.spared.map((spared) => `${spared.reference} ${spared.why}`), ['1.0.0 pinned']);

  // Ten days on: the untagged rule applies too, to tmp's manifest and to the manifests whose tags go.
  const when = asOf(10);
  const preview = JSON.parse(await backend.cli(['retention', 'run', 'team', '--dry-run', '--as-of', when, '--json'])) as RetentionReport;
  assert.deepEqual(
    [...preview.removals.map(key)].sort(),
    [
      'keep-newest tag team/app 1.1.0',
      'keep-newest tag team/app 1.2.0',
      `untagged manifest team/app ${digests.get('1.1.0')}`,
      `untagged manifest team/app ${digests.get('1.2.0')}`,
      `untagged manifest team/app ${digests.get('tmp')}`,
    ].sort(),
  );
  const text = await backend.cli(['retention', 'run', 'team', '--dry-run', '--as-of', when]);
  assert.match(text, /^Dry run: would remove 5 tag\(s\) and manifest\(s\):/);
  assert.match(text, /team\/app:1\.0\.0\s+keep-newest\s+pinned/);

  const real = JSON.parse(await backend.cli(['retention', 'run', 'team', '--as-of', when, '--json'])) as RetentionReport;
  assert.equal(real.dryRun, false);
  assert.deepEqual(real.removals, preview.removals, 'the real run removes exactly what the dry run listed');
  assert.deepEqual(real.skipped, []);

  // What clients see afterwards.
  const tags = JSON.parse((await httpGet(`${backend.url}/v2/team/app/tags/list`, basic(name, user))).body.toString('utf8')) as { tags: string[] };
  assert.deepEqual(tags.tags.sort(), ['1.0.0', '2.0.0', 'latest']);
  for (const gone of ['1.1.0', '1.2.0']) {
    const answer = await skopeoCopyResult(dockerRef(backend.host, 'team/app', gone), `dir:${join(pulled, `gone-${gone}`)}`, src);
    assert.notEqual(answer.code, 0, `${gone} is gone`);
    assert.match(answer.stderr, /manifest unknown|not found/i);
    assert.equal((await httpGet(`${backend.url}/v2/team/app/manifests/${digests.get(gone)}`, basic(name, user))).status, 404, `${gone}'s manifest is gone too`);
  }
  await skopeoCopy(dockerRef(backend.host, 'team/app', '1.0.0'), `dir:${join(pulled, 'pinned')}`, src);
  await skopeoCopy(dockerRef(backend.host, 'team/app', 'latest'), `dir:${join(pulled, 'latest')}`, src);

  // Every removal in the audit trail, with its rule and reason; a second run finds nothing more.
  const audit = (await backend.cli(['audit', '--action', 'retention.remove', '--json'])).trim().split('\n').map((line) => JSON.parse(line) as AuditEvent);
  assert.deepEqual(audit.map((event) => `${event.repository} ${event.reference ?? event.digest}`).sort(), real.removals.map((removal) => `${removal.repository} ${removal.reference}`).sort());
  assert.ok(audit.every((event) => event.actor === 'admin' && event.client === 'cli' && typeof (event.detail as { reason?: unknown }).reason === 'string'));
  const again = JSON.parse(await backend.cli(['retention', 'run', '--dry-run', '--as-of', when, '--json'])) as RetentionReport;
  assert.deepEqual(again.removals, []);
}

function basic(name: string, secret: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}` };
}

test('retention: a policy\'s dry run equals its real run (skopeo push and pull, pin, keep-newest, untagged) [filesystem + SQLite + state.json]', { skip: toolSkipReason('skopeo'), timeout: 240_000 }, async (t) => {
  requireTools('skopeo');
  const dataDir = await makeTempDir(t, 'berth-retention-');
  // The default settings: token auth, the default backends.
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  await dryRunEqualsRealRun(t, { host: berth.host, url: berth.url, cli: (args) => berthCliOk([...args, '--data', dataDir]) });
});

test('retention: a policy\'s dry run equals its real run [S3 on radosgw + PostgreSQL]', { skip: toolSkipReason('skopeo') ?? clusterSkipReason(), timeout: 360_000 }, async (t) => {
  requireTools('skopeo');
  const cluster = await startCluster({ nodes: 1 });
  t.after(() => cluster.stop());
  await dryRunEqualsRealRun(t, { host: cluster.host, url: cluster.url, cli: (args) => cluster.cli(args) });
});

test('retention: a mirror namespace evicts images not pulled within its days, pins excepted, nothing while its upstream is offline; the next pull fetches them again', { skip: toolSkipReason('skopeo'), timeout: 240_000 }, async (t) => {
  requireTools('skopeo');
  const upstreamDir = await makeTempDir(t, 'berth-retention-up-');
  const upstream = await startBerth({ dataDir: upstreamDir, auth: 'none' });
  t.after(() => upstream.stop());
  const work = await makeTempDir(t, 'berth-retention-mirror-src-');
  for (const tag of ['7', '6']) {
    const image = await createImageLayout(join(work, tag), { tag, layers: [{ bytes: 2048 }] });
    await skopeoCopy(image.ref, dockerRef(upstream.host, 'library/redis', tag));
  }

  const dataDir = await makeTempDir(t, 'berth-retention-down-');
  const cli = (args: readonly string[]) => berthCliOk([...args, '--data', dataDir]);
  await cli(['upstream', 'add', 'up', upstream.url]);
  const mirror = await startBerth({ dataDir, auth: 'none' });
  t.after(() => mirror.stop());
  const pulled = await makeTempDir(t, 'berth-retention-mirror-dst-');
  for (const tag of ['7', '6']) await skopeoCopy(dockerRef(mirror.host, 'up/library/redis', tag), `dir:${join(pulled, tag)}`);

  // Only a mirror namespace takes the rule.
  const refused = await cli(['retention', 'set', 'team', '--unpulled-days', '30']).catch((error: Error) => error.message);
  assert.match(refused, /"team" is not a mirror namespace \(mirror namespaces: up\)/);
  await cli(['retention', 'set', 'up', '--unpulled-days', '30']);
  await cli(['pin', 'up/library/redis:7']);

  const soon = JSON.parse(await cli(['retention', 'run', '--dry-run', '--as-of', asOf(20), '--json'])) as RetentionReport;
  assert.deepEqual(soon.removals, [], 'pulled 20 days before: kept');
  const when = asOf(40);
  const preview = JSON.parse(await cli(['retention', 'run', '--dry-run', '--as-of', when, '--json'])) as RetentionReport;
  assert.deepEqual(preview.removals.map((removal) => `${removal.rule} ${removal.kind} ${removal.tags?.join(',')}`), ['unpulled manifest 6']);
  assert.deepEqual(preview.spared.map((spared) => `${spared.reference} ${spared.why}`), ['7 pinned']);
  const real = JSON.parse(await cli(['retention', 'run', '--as-of', when, '--json'])) as RetentionReport;
  assert.deepEqual(real.removals, preview.removals);

  const listed = JSON.parse(await cli(['image', 'list', 'up/library/redis', '--json'])) as Array<{ tags: Array<{ tag: string }> }>;
  assert.deepEqual(listed[0]?.tags.map((tag) => tag.tag), ['7'], 'only the pinned image is still stored');
  // Evicted from the cache, not lost: the next pull fetches it from the upstream again.
  await skopeoCopy(dockerRef(mirror.host, 'up/library/redis', '6'), `dir:${join(pulled, '6-again')}`);
  const after = JSON.parse(await cli(['image', 'list', 'up/library/redis', '--json'])) as Array<{ tags: Array<{ tag: string }> }>;
  assert.deepEqual(after[0]?.tags.map((tag) => tag.tag).sort(), ['6', '7']);

  // The upstream goes away (a laptop offline): the server, which knows, evicts nothing from that mirror, so what is
  // cached stays pullable. Asked through the admin API, as the GUI's Preview and Run now do.
  await upstream.stop();
  const unreachable = await skopeoCopyResult(dockerRef(mirror.host, 'up/library/redis', 'not-cached'), `dir:${join(pulled, 'nc')}`);
  assert.notEqual(unreachable.code, 0);
  const cookie = await signInAsAdmin(mirror);
  const adminRun = async (dryRun: boolean) => {
    const response = await fetch(`${mirror.url}/api/retention/run`, {
      method: 'POST',
      headers: { cookie, 'x-berth-admin': '1', 'content-type': 'application/json' },
      body: JSON.stringify({ dryRun, asOf: when }),
    });
    assert.equal(response.status, 200);
    return (await response.json()) as RetentionReport;
  };
  for (const dryRun of [true, false]) {
    const offline = await adminRun(dryRun);
    assert.deepEqual(offline.removals, [], 'nothing evicted while the upstream is offline');
    assert.deepEqual(offline.spared.map((spared) => `${spared.reference} ${spared.why}`).sort(), ['6 upstream offline', '7 pinned']);
  }
  await skopeoCopy(dockerRef(mirror.host, 'up/library/redis', '6'), `dir:${join(pulled, '6-offline')}`);
});
