import assert from 'node:assert/strict';
import { chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { berthCliOk } from '../e2e/mirror-fixture.js';
import { dockerRef, skopeoCopy } from '../e2e/skopeo.js';

/**
 * Issue 8, row 5: every path under the data directory is for its owner only (folders 0700, files 0600), whatever
 * the umask, so another local user reads no image, tag, state, key or audit line behind the tokens' back; and a data
 * directory that an older Berth (or a `chmod -R`) left open is closed at start, with one warning line saying how
 * many paths were tightened. Real `berth serve` children with default settings (token auth, HTTPS on).
 */

interface Entry {
  readonly path: string;
  readonly mode: number;
  readonly isDirectory: boolean;
}

/** Every path under (and including) `root`, with its permission bits. Symbolic links are listed as they are. */
async function walk(root: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  const visit = async (path: string): Promise<void> => {
    const info = await lstat(path);
    entries.push({ path, mode: info.mode & 0o7777, isDirectory: info.isDirectory() });
    if (info.isDirectory()) for (const name of await readdir(path)) await visit(join(path, name));
  };
  await visit(root);
  return entries;
}

function readableByOthers(entries: readonly Entry[]): string[] {
  return entries.filter((entry) => (entry.mode & 0o077) !== 0).map((entry) => `${entry.path} ${entry.mode.toString(8)}`);
}

/** Runs the rest of the test under umask 0: only modes Berth sets explicitly can keep others out. */
function permissiveUmask(t: TestContext): void {
  const previous = process.umask(0);
  t.after(() => {
    process.umask(previous);
  });
}

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';
const isModeWarning = (line: Record<string, unknown>) => typeof line.msg === 'string' && line.msg.startsWith('tightened ');

/** Pushes a two-layer image with skopeo and leaves one upload session open (as a client cut off mid-push would). */
async function pushAndAbandon(t: TestContext, berth: BerthProcess, dataDir: string): Promise<void> {
  const secret = lastLine(await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', '--data', dataDir]));
  const image = await createImageLayout(join(await makeTempDir(t), 'app'), { tag: '1', layers: [{ bytes: 32 * 1024 }, { bytes: 4 * 1024 }] });
  await skopeoCopy(image.ref, dockerRef(berth.host, 'team/app', '1'), ['--dest-creds', `ci:${secret}`]);
  const authorization = `Basic ${Buffer.from(`ci:${secret}`).toString('base64')}`;
  const started = await fetch(`${berth.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: { authorization } });
  assert.equal(started.status, 202, await started.text());
  const location = new URL(started.headers.get('location') ?? '', berth.url);
  const patched = await fetch(location, { method: 'PATCH', headers: { authorization, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(1024, 7) });
  assert.equal(patched.status, 202, await patched.text());
}

test('a default berth serve under umask 0 leaves no path under its data directory that group or others can read', { skip: toolSkipReason('skopeo'), timeout: 120_000 }, async (t) => {
  requireTools('skopeo');
  permissiveUmask(t);
  // A data directory Berth creates itself (mkdtemp would hand it one that is 0700 already).
  const dataDir = join(await makeTempDir(t, 'berth-private-'), 'data');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  await pushAndAbandon(t, berth, dataDir);

  const running = await walk(dataDir);
  // What the push wrote is all there: blobs, links, the open session, state, keys, certificates, audit.
  for (const part of ['blobs', 'repositories/team/app/_manifests', 'repositories/team/app/_uploads', 'state.json', 'tls/ca.key', 'tls/ca.crt', 'auth', 'audit']) {
    assert.ok(running.some((entry) => entry.path.startsWith(join(dataDir, part))), `${part} exists under the data directory`);
  }
  assert.deepEqual(readableByOthers(running), [], 'every path is owner-only while Berth runs');
  assert.equal((running[0] as Entry).mode, 0o700, 'the data directory itself is 0700');
  await berth.stop();
  assert.deepEqual(readableByOthers(await walk(dataDir)), [], 'and after it stopped');
  assert.equal(berth.logLines().filter(isModeWarning).length, 0, 'a data directory Berth made itself needs no repair');
});

test('a data directory left 0755 with 0644 files is tightened at start, with one warning naming how many paths', { skip: toolSkipReason('skopeo'), timeout: 120_000 }, async (t) => {
  requireTools('skopeo');
  permissiveUmask(t);
  const dataDir = join(await makeTempDir(t, 'berth-private-'), 'data');
  const first = await startBerth({ dataDir, auth: 'token' });
  t.after(() => first.stop());
  await pushAndAbandon(t, first, dataDir);
  await first.stop();

  // What an older Berth (or `chmod -R a+rX`) leaves behind.
  const opened = await walk(dataDir);
  for (const entry of opened) await chmod(entry.path, entry.isDirectory ? 0o755 : 0o644);
  assert.ok(opened.length > 30, `the push left a realistic tree (${opened.length} paths)`);

  const second = await startBerth({ dataDir, auth: 'token' });
  t.after(() => second.stop());
  const warning = await second.waitForLog(isModeWarning, 30_000);
  assert.equal(warning.level, 40, 'a warning');
  assert.equal(warning.fixed, opened.length, 'every opened path is counted once');
  assert.equal(warning.failed, 0);
  assert.match(String(warning.msg), new RegExp(`^tightened ${opened.length} path\\(s\\) under the data directory`));
  assert.deepEqual(readableByOthers(await walk(dataDir)), [], 'nothing under the data directory is readable by others any more');

  const status = await fetch(`${second.url}/v2/`);
  assert.equal(status.status, 401, 'still serving, token auth on');
  await second.stop();
  assert.equal(second.logLines().filter(isModeWarning).length, 1, 'one warning line, not one per path');
});
