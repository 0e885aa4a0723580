import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { RepositoriesResponse, TagsResponse } from '../../registry/admin/contract.js';
import { usageFileOf } from '../../registry/storage/usage-store.js';
import { signInAsAdmin } from '../support/berth-admin.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { berthCliOk, httpGet } from './mirror-fixture.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/**
 * Pull records as a user meets them, on `berth serve` with the default settings (token auth): real pulls (skopeo
 * and plain GETs with an access token) are counted per tag and repository, HEAD is not; the records survive a
 * restart (flushed at shutdown) and a kill -9 loses at most what was counted since the last periodic flush, with
 * the usage file intact.
 */

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';
const basic = (name: string, secret: string) => ({ Authorization: `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}` });

async function adminGet<T>(berth: BerthProcess, cookie: string, path: string): Promise<T> {
  const response = await fetch(`${berth.url}${path}`, { headers: { cookie, 'x-berth-admin': '1' } });
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${path}: ${text}`);
  return JSON.parse(text) as T;
}

interface Seen {
  pullCount: number;
  lastPulledAt?: string;
  pullsLast7Days: number;
  repositoryLastPulledAt?: string;
}

/** The tag's and its repository's records as the admin API reports them. */
async function seen(berth: BerthProcess, tag: string): Promise<Seen> {
  const cookie = await signInAsAdmin(berth);
  const tags = await adminGet<TagsResponse>(berth, cookie, '/api/tags?repository=team/app');
  const row = tags.tags.find((entry) => entry.tag === tag);
  assert.ok(row, `tag ${tag} listed`);
  const { repositories } = await adminGet<RepositoriesResponse>(berth, cookie, '/api/repositories');
  const repository = repositories.find((entry) => entry.name === 'team/app');
  assert.ok(repository, 'team/app listed');
  return { pullCount: row.pullCount, lastPulledAt: row.lastPulledAt, pullsLast7Days: repository.pullsLast7Days, repositoryLastPulledAt: repository.lastPulledAt };
}

/** What the usage file holds for a reference, read as another process would (the server keeps running). */
function flushedPulls(dataDir: string, reference: string): number {
  const db = new Database(usageFileOf(dataDir), { readonly: true, fileMustExist: true });
  try {
    const count = db.prepare("SELECT count FROM reference_pulls WHERE repository = 'team/app' AND reference = ?").pluck().get(reference);
    return typeof count === 'number' ? count : 0;
  } finally {
    db.close();
  }
}

test('pull records: counted per tag and repository, HEAD not; kept over a restart; a kill -9 loses at most the last batch', { skip: toolSkipReason('skopeo'), timeout: 180_000 }, async (t) => {
  requireTools('skopeo');
  const dataDir = await makeTempDir(t, 'berth-pulls-');
  let berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const data = ['--data', dataDir];
  const secret = lastLine(await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', ...data]));
  const auth = basic('ci', secret);

  const work = await makeTempDir(t, 'berth-pulls-src-');
  const image = await createImageLayout(join(work, 'app'), { tag: '1', layers: [{ bytes: 4096 }] });
  await skopeoCopy(image.ref, dockerRef(berth.host, 'team/app', '1'), ['--dest-creds', `ci:${secret}`]);
  await skopeoCopy(image.ref, dockerRef(berth.host, 'team/app', 'same-image'), ['--dest-creds', `ci:${secret}`]);
  const before = await seen(berth, '1');
  assert.equal(before.pullCount, 0, 'a push is no pull');
  assert.equal(before.lastPulledAt, undefined);
  assert.equal(before.pullsLast7Days, 0);

  // 1 skopeo pull + 3 GETs by tag + 2 GETs by the tag's digest; 4 HEADs and a refused GET count for nothing.
  const pulledFrom = Date.now();
  const target = await makeTempDir(t, 'berth-pulls-dst-');
  await skopeoCopy(dockerRef(berth.host, 'team/app', '1'), `dir:${target}`, ['--src-creds', `ci:${secret}`]);
  for (const reference of ['1', '1', '1', image.manifestDigest, image.manifestDigest]) {
    assert.equal((await httpGet(`${berth.url}/v2/team/app/manifests/${reference}`, auth)).status, 200);
  }
  for (let i = 0; i < 4; i += 1) assert.equal((await httpGet(`${berth.url}/v2/team/app/manifests/1`, auth, 'HEAD')).status, 200);
  assert.equal((await httpGet(`${berth.url}/v2/team/app/manifests/1`)).status, 401);
  const counted = await seen(berth, '1');
  assert.equal(counted.pullCount, 6, 'the tag: pulls by its name and by its digest');
  assert.ok(counted.lastPulledAt && Date.parse(counted.lastPulledAt) >= pulledFrom - 1000, `last pull ${counted.lastPulledAt}`);
  // The repository counts every manifest GET once, whichever tags point at the digest.
  assert.equal(counted.pullsLast7Days, 6);
  assert.equal(counted.repositoryLastPulledAt, counted.lastPulledAt);

  // A clean stop right after a pull: that pull is in the shutdown flush.
  assert.equal((await httpGet(`${berth.url}/v2/team/app/manifests/1`, auth)).status, 200);
  await berth.stop();
  // Written to the data directory, so the CLI reads them with no server running.
  const listed = JSON.parse(await berthCliOk(['image', 'list', 'team/app', '--json', ...data])) as Array<{ tags: Array<{ tag: string; pullCount: number; lastPulledAt?: string }> }>;
  assert.equal(listed[0]?.tags.find((entry) => entry.tag === '1')?.pullCount, 7);
  assert.match(await berthCliOk(['image', 'list', 'team/app', ...data]), /^team\/app\s+1\s+.*\s7\s+\d{4}-\d\d-\d\d \d\d:\d\dZ$/m);
  berth = await startBerth({ dataDir, auth: 'token' });
  const restarted = await seen(berth, '1');
  assert.equal(restarted.pullCount, 7, 'kept over a restart');
  assert.equal(restarted.pullsLast7Days, 7);

  // Three pulls the periodic flush writes (seen in the file while the server runs), then four it may not have
  // written when the process is killed.
  for (let i = 0; i < 3; i += 1) assert.equal((await httpGet(`${berth.url}/v2/team/app/manifests/1`, auth)).status, 200);
  while (flushedPulls(dataDir, '1') < 8) await new Promise((resolve) => setTimeout(resolve, 100));
  for (let i = 0; i < 4; i += 1) assert.equal((await httpGet(`${berth.url}/v2/team/app/manifests/1`, auth)).status, 200);
  await berth.stop('SIGKILL');

  const db = new Database(usageFileOf(dataDir), { fileMustExist: true });
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  db.close();
  berth = await startBerth({ dataDir, auth: 'token' });
  const afterCrash = await seen(berth, '1');
  assert.ok(afterCrash.pullCount >= 8 && afterCrash.pullCount <= 12, `after kill -9: ${afterCrash.pullCount} pulls, expected 8 (flushed) to 12`);
  // Counting goes on from there.
  assert.equal((await httpGet(`${berth.url}/v2/team/app/manifests/1`, auth)).status, 200);
  assert.equal((await seen(berth, '1')).pullCount, afterCrash.pullCount + 1);
  const never = await seen(berth, 'same-image');
  assert.equal(never.pullCount, 2, 'the digest GETs count for every tag pointing at that digest');
});
