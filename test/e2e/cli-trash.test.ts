import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBerth } from '../support/berth-process.js';
import { blobPath, createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { sha256File } from './data-dir-check.js';
import { berthCli, berthCliOk, httpGet } from './mirror-fixture.js';
import { dockerRef, skopeoCopy, skopeoDelete } from './skopeo.js';

/**
 * `berth trash list|restore|empty|days` as a user runs them beside a running `berth serve` with the default settings
 * (token auth, 30 trash days): an image deleted with `berth image rm` is listed, restored and pulled byte-exact by
 * skopeo through the server; a namespace set to 0 days is emptied and collected; mistakes get one clear sentence.
 */

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';
const basic = (name: string, secret: string) => ({ Authorization: `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}` });

async function fails(args: readonly string[], code: 1 | 2, pattern: RegExp): Promise<void> {
  const result = await berthCli(args);
  assert.equal(result.code, code, `berth ${args.join(' ')}: expected exit ${code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  assert.match(result.stderr, pattern);
  assert.ok(!result.stderr.includes('    at '), `no stack trace:\n${result.stderr}`);
}

/** The server's answer settles within its manifest cache's second. */
async function statusSettles(url: string, headers: Record<string, string>, expected: number): Promise<void> {
  let status = 0;
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 100))) {
    status = (await httpGet(url, headers)).status;
    if (status === expected) return;
  }
  assert.equal(status, expected, url);
}

interface ListedEntry {
  id: string;
  repository: string;
  deleted: { kind: string };
  manifests: Array<{ digest: string; tags: string[] }>;
  expiresAt: string;
  deletedAt: string;
  expired: boolean;
}

test('trash list, restore, days and empty beside a running server: a deleted image comes back byte-exact; mistakes are one sentence', { skip: toolSkipReason('skopeo'), timeout: 240_000 }, async (t) => {
  requireTools('skopeo');
  const dataDir = await makeTempDir(t, 'berth-trash-cli-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const data = ['--data', dataDir];
  const ci = lastLine(await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', '--scope', 'tmp/*:pull,push', ...data]));
  const work = await makeTempDir(t, 'berth-trash-src-');
  const image = await createImageLayout(join(work, 'app'), { tag: '1', layers: [{ bytes: 200 * 1024 }, { bytes: 30 * 1024 }] });
  const ref = dockerRef(berth.host, 'team/app', '1');
  await skopeoCopy(image.ref, ref, ['--dest-creds', `ci:${ci}`, '--preserve-digests']);

  const removed = await berthCliOk(['image', 'rm', `team/app@${image.manifestDigest}`, ...data]);
  assert.match(removed, /^Deleted team\/app@sha256:[0-9a-f]{64} and its tag 1\. It is in the trash until \d{4}-\d\d-\d\d \d\d:\d\dZ: "berth trash restore [0-9a-f]{16}" brings it back\./m);
  await statusSettles(`${berth.url}/v2/team/app/manifests/1`, basic('ci', ci), 404);

  const table = await berthCliOk(['trash', 'list', 'team', ...data]);
  assert.match(table, /^ID\s+DELETED\s+MANIFEST SIZE\s+REFERRERS\s+WHEN\s+EXPIRES$/m);
  assert.match(table, /^[0-9a-f]{16}\s+team\/app@sha256:[0-9a-f]{12}… \(1\)\s+\d+ B\s+-\s+\S+ \S+ by admin\s+\d{4}-/m);
  const [entry] = JSON.parse(await berthCliOk(['trash', 'list', '--json', ...data])) as ListedEntry[];
  assert.ok(entry);
  assert.deepEqual([entry.repository, entry.deleted.kind, entry.manifests[0]?.tags, entry.expired], ['team/app', 'manifest', ['1'], false]);
  assert.equal(Date.parse(entry.expiresAt) - Date.parse(entry.deletedAt), 30 * 86_400_000, 'the default 30 days');
  assert.match(await berthCliOk(['trash', 'list', 'other', ...data]), /^The trash of other is empty\.$/m);

  // gc beside the server keeps what the trash holds, however old.
  assert.match(await berthCliOk(['gc', '--grace', '0', ...data]), /^Kept 1 deleted manifest of the trash \(restorable until the entry expires\)\.$/m);

  assert.match(await berthCliOk(['trash', 'restore', entry.id, ...data]), /^Restored team\/app@sha256:[0-9a-f]{12}… \(1\): team\/app:1\.$/m);
  await statusSettles(`${berth.url}/v2/team/app/manifests/1`, basic('ci', ci), 200);
  const pulled = join(work, 'pulled');
  await skopeoCopy(ref, `dir:${pulled}`, ['--src-creds', `ci:${ci}`]);
  assert.deepEqual(await readFile(join(pulled, 'manifest.json')), image.manifestBytes);
  for (const blob of [image.config, ...image.layers]) {
    assert.equal(await sha256File(join(pulled, blob.digest.replace('sha256:', ''))), await sha256File(blobPath(image.dir, blob.digest)), blob.digest);
  }
  const restores = (await berthCliOk(['audit', '--json', '--action', 'trash.restore', ...data])).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(restores.map((event) => [event.actor, event.client, event.repository]), [['admin', 'cli', 'team/app']]);

  // A namespace whose deletes are not kept: its entry has expired at once, `empty --expired-only` drops it, gc frees it.
  assert.match(await berthCliOk(['trash', 'days', 'tmp', ...data]), /^Deletes in tmp stay in the trash for 30 day\(s\)\.$/m);
  assert.match(await berthCliOk(['trash', 'days', 'tmp', '0', ...data]), /^Deletes in tmp are now freed by the next garbage collection \(was 30\)\./m);
  await skopeoCopy(image.ref, dockerRef(berth.host, 'tmp/scratch', 'x'), ['--dest-creds', `ci:${ci}`]);
  assert.match(await berthCliOk(['image', 'rm', 'tmp/scratch:x', ...data]), /^Deleted tag tmp\/scratch:x\./m);
  const listed = JSON.parse(await berthCliOk(['trash', 'list', 'tmp', '--json', ...data])) as ListedEntry[];
  assert.equal(listed[0]?.expired, true);
  await fails(['trash', 'restore', listed[0]?.id ?? '', ...data], 1, /expired at .*: it is deleted for good/);
  assert.match(await berthCliOk(['trash', 'empty', '--expired-only', ...data]), /^Dropped 1 expired trash entry for good\. "berth gc" frees their space\.$/m);
  assert.deepEqual(JSON.parse(await berthCliOk(['trash', 'list', '--json', ...data])), []);
  // Or a collection drops it (audited as trash.expire) and frees its space in the same run.
  await skopeoCopy(image.ref, dockerRef(berth.host, 'tmp/scratch', 'y'), ['--dest-creds', `ci:${ci}`]);
  await berthCliOk(['image', 'rm', 'tmp/scratch:y', ...data]);
  assert.match(await berthCliOk(['gc', '--grace', '0', ...data]), /^1 expired trash entry was dropped for good\.$/m);
  const expiries = (await berthCliOk(['audit', '--json', '--action', 'trash.expire', ...data])).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(expiries.map((event) => [event.actor, event.repository]), [['admin', 'tmp/scratch']]);

  // A client's DELETE through the server: the namespace's days, set a moment ago by the CLI, and the audit event
  // naming the entry that restores it.
  const cleaner = lastLine(await berthCliOk(['token', 'create', '--name', 'cleaner', '--scope', 'team/*:pull,delete', ...data]));
  assert.match(await berthCliOk(['trash', 'days', 'team', '2', ...data]), /^Deletes in team are now restorable for 2 day\(s\) \(was 30\)\./m);
  await skopeoDelete(ref, ['--creds', `cleaner:${cleaner}`]);
  const [byClient] = JSON.parse(await berthCliOk(['trash', 'list', 'team', '--json', ...data])) as Array<ListedEntry & { deletedBy: string }>;
  assert.equal(byClient?.deletedBy, 'cleaner');
  assert.equal(Date.parse(byClient?.expiresAt ?? '') - Date.parse(byClient?.deletedAt ?? ''), 2 * 86_400_000);
  const deletes = (await berthCliOk(['audit', '--json', '--action', 'delete', '--namespace', 'team', ...data])).trim().split('\n').map((line) => JSON.parse(line) as { actor: string; detail?: { trashEntry?: string } });
  assert.deepEqual(deletes.map((event) => [event.actor, event.detail?.trashEntry]), [['admin', entry.id], ['cleaner', byClient?.id]]);

  // Mistakes: how the command was called (exit 2), what the trash holds (exit 1).
  await fails(['trash', 'restore', '../../state', ...data], 2, /"\.\.\/\.\.\/state" is not a trash entry id \(16 hex characters\): see "berth trash list"/);
  await fails(['trash', 'restore', '0123456789abcdef', ...data], 1, /no trash entry "0123456789abcdef": see "berth trash list"/);
  await fails(['trash', 'days', 'tmp', 'forever', ...data], 2, /DAYS must be a whole number from 0 to 3650, not "forever"/);
  await fails(['trash', 'days', 'team/app', '3', ...data], 2, /invalid namespace "team\/app"/);
  await fails(['trash', 'list', 'a b', ...data], 2, /invalid namespace "a b"/);
  const help = await berthCliOk(['--help']);
  assert.match(help, /^ {2}trash +list, restore and empty deleted images/m);
});
