import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDistribution } from '../support/distribution.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { berthCli, berthCliOk } from './mirror-fixture.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/** `berth sync jobs`: the job history of real runs against a real upstream, one that succeeded and one that failed. */

interface Job {
  id: string;
  rule: string;
  status: string;
  startedAt: string;
  finishedAt: string;
  images: { done: number; total: number };
  blobs: { done: number; total: number };
  bytes: { done: number; total: number };
  errors: string[];
}

test('sync jobs lists runs newest first with status, when, how long, images, blobs, bytes and the errors of a failed one', { skip: toolSkipReason('skopeo', 'docker-registry'), timeout: 120_000 }, async (t) => {
  requireTools('skopeo', 'docker-registry');
  const upstream = await startDistribution();
  t.after(() => upstream.stop());
  const image = await createImageLayout(join(await makeTempDir(t), 'app'), { tag: '1.0', layers: [{ bytes: 96 * 1024 }] });
  await skopeoCopy(image.ref, dockerRef(upstream.host, 'library/app', '1.0'));
  const dataDir = await makeTempDir(t, 'berth-sync-jobs-');
  const data = ['--data', dataDir];
  await berthCliOk(['upstream', 'add', 'up', upstream.url, ...data]);
  await berthCliOk(['sync', 'add', 'app', '--upstream', 'up', '--repo', 'library/app', ...data]);
  await berthCliOk(['sync', 'add', 'broken', '--upstream', 'up', '--repo', 'library/nothing-here', ...data]);
  assert.match(await berthCliOk(['sync', 'jobs', ...data]), /^No sync jobs yet: berth sync run RULE starts one\.$/m);

  await berthCliOk(['sync', 'run', 'app', ...data]);
  const failed = await berthCli(['sync', 'run', 'broken', ...data]);
  assert.equal(failed.code, 1, failed.stdout);

  const jobs = JSON.parse(await berthCliOk(['sync', 'jobs', '--json', ...data])) as Job[];
  assert.deepEqual(jobs.map((job) => [job.rule, job.status]), [['broken', 'failed'], ['app', 'succeeded']], 'newest first');
  const ok = jobs[1] as Job;
  assert.deepEqual([ok.images, ok.blobs.done, ok.bytes.done], [{ done: 1, total: 1 }, 2, image.totalBytes]);
  const broken = jobs[0] as Job;
  assert.equal(broken.errors.length, 1);

  const table = await berthCliOk(['sync', 'jobs', ...data]);
  assert.match(table, /^JOB\s+RULE\s+STATUS\s+STARTED\s+DURATION\s+IMAGES\s+BLOBS\s+BYTES\s+ERRORS$/m);
  assert.match(table, new RegExp(`^${ok.id.slice(0, 8)}\\s+app\\s+succeeded\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\dZ\\s+\\d+\\.\\ds\\s+1/1\\s+2/2\\s+\\d+ KiB\\s+0$`, 'm'));
  assert.match(table, new RegExp(`^${broken.id.slice(0, 8)}\\s+broken\\s+failed\\s+.*\\s+0/0\\s+0/0\\s+0 B\\s+1$`, 'm'));
  assert.ok(table.includes(`Errors of job ${broken.id.slice(0, 8)} (broken, `), table);
  assert.ok(table.includes(`  ${broken.errors[0]}`), 'the error itself, on its own line');

  const onlyApp = JSON.parse(await berthCliOk(['sync', 'jobs', 'app', '--json', ...data])) as Job[];
  assert.deepEqual(onlyApp.map((job) => job.id), [ok.id]);
  assert.match(await berthCliOk(['sync', 'jobs', '--limit', '1', ...data]), /^\(1 newest of 2 jobs; use --limit to see more\)$/m);
  const ghost = await berthCli(['sync', 'jobs', 'ghost', ...data]);
  assert.equal(ghost.code, 1);
  assert.match(ghost.stderr, /^berth: no sync rule named "ghost" and no jobs of one: see "berth sync list"$/m);
});

test('sync retry JOB runs a failed job\'s rule again as a new job that names it; a succeeded or unknown job is refused', { skip: toolSkipReason('skopeo', 'docker-registry'), timeout: 120_000 }, async (t) => {
  requireTools('skopeo', 'docker-registry');
  const upstream = await startDistribution();
  t.after(() => upstream.stop());
  const dataDir = await makeTempDir(t, 'berth-sync-retry-');
  const data = ['--data', dataDir];
  await berthCliOk(['upstream', 'add', 'up', upstream.url, ...data]);
  await berthCliOk(['sync', 'add', 'late', '--upstream', 'up', '--repo', 'library/late', ...data]);
  // Nothing upstream yet: the run fails.
  assert.equal((await berthCli(['sync', 'run', 'late', ...data])).code, 1);
  const [failed] = JSON.parse(await berthCliOk(['sync', 'jobs', '--json', ...data])) as Array<Job & { retryOf?: string }>;
  assert.equal(failed?.status, 'failed');

  const image = await createImageLayout(join(await makeTempDir(t), 'late'), { tag: '1', layers: [{ bytes: 8 * 1024 }] });
  await skopeoCopy(image.ref, dockerRef(upstream.host, 'library/late', '1'));
  const retried = await berthCliOk(['sync', 'retry', failed.id.slice(0, 8), ...data]);
  assert.match(retried, /^late: succeeded, 1\/1 images/m);
  const [again, first] = JSON.parse(await berthCliOk(['sync', 'jobs', '--json', ...data])) as Array<Job & { retryOf?: string; copied?: string[] }>;
  assert.deepEqual([again?.status, again?.retryOf, again?.copied, first?.id], ['succeeded', failed.id, ['library/late:1'], failed.id]);

  const refused = await berthCli(['sync', 'retry', again?.id ?? '', ...data]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /succeeded: only a failed or cancelled job can be retried/);
  const unknown = await berthCli(['sync', 'retry', 'ffffffff', ...data]);
  assert.match(unknown.stderr, /no sync job "ffffffff": see "berth sync jobs" for their ids/);
});
