import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { currentProcessIdentity } from '../../registry/runtime/process-liveness.js';
import { createStateStore, StateFileError, withFileLock, type LockTakeOver } from '../../registry/state/index.js';
import { makeTempDir } from '../support/temp-dir.js';
import { stateStoreContract } from '../contract/state-store-contract.js';

const childScript = fileURLToPath(new URL('../support/state-child.js', import.meta.url));

function counterOf(settings: Record<string, unknown>): number {
  return typeof settings.counter === 'number' ? settings.counter : 0;
}

function runChild(dataDir: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, dataDir, String(count)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited with ${code}: ${stderr}`))));
  });
}

// The backend-neutral cases; what follows is the file store's own (modes, temp files, the lock).
stateStoreContract({
  name: 'file',
  fresh: async (t) => {
    const dir = await makeTempDir(t);
    return { open: () => createStateStore(dir) };
  },
});

test('a new data directory gets state.json (mode 0600) with the default sections', async (t) => {
  const dir = await makeTempDir(t);
  const store = await createStateStore(join(dir, 'data'));
  t.after(() => store.close());
  const info = await stat(store.path);
  assert.equal(info.mode & 0o777, 0o600);
  const onDisk = JSON.parse(await readFile(store.path, 'utf8')) as Record<string, unknown>;
  assert.deepEqual(onDisk, { schemaVersion: 1, settings: {}, namespaces: [], tokens: [], upstreams: [], syncRules: [], jobs: [], policies: [], pins: [] });
  assert.deepEqual(store.read().namespaces, []);
});

test('update writes atomically, keeps mode 0600 and leaves no temp files behind', async (t) => {
  const dir = await makeTempDir(t);
  const store = await createStateStore(dir);
  t.after(() => store.close());
  const next = await store.update((draft) => {
    draft.namespaces.push({ name: 'team', anonymousPull: false, createdAt: new Date().toISOString() });
    draft.settings.listen = '127.0.0.1:5000';
  });
  assert.equal(next.namespaces[0]?.name, 'team');
  assert.equal(store.read().settings.listen, '127.0.0.1:5000');
  assert.equal((await stat(store.path)).mode & 0o777, 0o600);
  await assertNothingLeftBehind(dir);
});

test('a failing update leaves state.json as it was', async (t) => {
  const dir = await makeTempDir(t);
  const store = await createStateStore(dir);
  t.after(() => store.close());
  await assert.rejects(
    store.update((draft) => {
      draft.settings.listen = 'half-done';
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(store.read().settings.listen, undefined);
  assert.equal(JSON.parse(await readFile(store.path, 'utf8')).settings.listen, undefined);
  await store.update((draft) => {
    draft.settings.listen = 'ok';
  });
  assert.equal(store.read().settings.listen, 'ok');
});

test('read() does not re-read an unchanged file (served from the snapshot)', async (t) => {
  const dir = await makeTempDir(t);
  const store = await createStateStore(dir, { refreshMs: 0 });
  t.after(() => store.close());
  const first = store.read();
  await sleep(5);
  assert.equal(store.read(), first, 'same object while the file is unchanged');
});

test('two real processes doing 50 increments each end at exactly 100', async (t) => {
  const dir = await makeTempDir(t);
  await Promise.all([runChild(dir, 50), runChild(dir, 50)]);
  const store = await createStateStore(dir);
  t.after(() => store.close());
  assert.equal(counterOf(store.read().settings), 100);
  await assertNothingLeftBehind(dir);
});

test('this process and a child process update concurrently without losing writes', async (t) => {
  const dir = await makeTempDir(t);
  const store = await createStateStore(dir);
  t.after(() => store.close());
  const local = (async () => {
    for (let i = 0; i < 50; i++) {
      await store.update((draft) => {
        draft.settings.counter = counterOf(draft.settings) + 1;
      });
    }
  })();
  await Promise.all([local, runChild(dir, 50)]);
  await sleep(250);
  assert.equal(counterOf(store.read().settings), 100);
});

test('a lock whose owner is gone (dead pid, or a reused pid with another start time) is taken over at once', async (t) => {
  const dir = await makeTempDir(t);
  const folder = join(dir, 'x.lock.d');
  await mkdir(folder, { recursive: true });
  const { hostname } = await import('node:os');
  const takeOvers: LockTakeOver[] = [];
  const onTakeOver = (takeOver: LockTakeOver) => takeOvers.push(takeOver);
  // A crashed CLI: a pid that does not exist on this host.
  await writeFile(join(folder, '000000000001'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), startedAtMs: Date.now(), id: 'dead', acquiredAt: '' }));
  // Huge staleMs: only the owner check can let us in.
  await withFileLock(join(dir, 'x.lock'), async () => undefined, { staleMs: 3_600_000, timeoutMs: 5_000, onTakeOver });
  assert.deepEqual(takeOvers.map((x) => [x.reason, x.owner?.id]), [['owner-gone', 'dead']]);
  // Our own pid, but recorded with another start time: the pid was reused by this process.
  await writeFile(join(folder, '000000000003'), JSON.stringify({ pid: process.pid, host: hostname(), startedAtMs: 1_000, id: 'reused', acquiredAt: '' }));
  const other = process.pid === 1 ? 2 : 1;
  await writeFile(join(folder, '000000000004'), JSON.stringify({ pid: other, host: hostname(), startedAtMs: 1_000, id: 'init', acquiredAt: '' }));
  await withFileLock(join(dir, 'x.lock'), async () => undefined, { staleMs: 3_600_000, timeoutMs: 5_000, onTakeOver });
  assert.deepEqual(takeOvers.map((x) => [x.reason, x.owner?.id]).at(-1), ['owner-gone', 'init'], 'pid 1 started at boot, not at 1970 + 1 s');
});

test('a lock of a live owner that stopped touching it is taken over after staleMs, and only then', async (t) => {
  const dir = await makeTempDir(t);
  const folder = join(dir, 'x.lock.d');
  await mkdir(folder, { recursive: true });
  const { hostname } = await import('node:os');
  const stuck = join(folder, '000000000007');
  await writeFile(stuck, JSON.stringify({ ...currentProcessIdentity(), host: hostname(), id: 'stuck', acquiredAt: '' }));
  await assert.rejects(withFileLock(join(dir, 'x.lock'), async () => undefined, { staleMs: 60_000, timeoutMs: 100 }), /timed out waiting for the lock/);
  const past = new Date(Date.now() - 120_000);
  await utimes(stuck, past, past);
  const takeOvers: LockTakeOver[] = [];
  await withFileLock(join(dir, 'x.lock'), async () => undefined, { staleMs: 60_000, timeoutMs: 2_000, onTakeOver: (x) => takeOvers.push(x) });
  assert.deepEqual(takeOvers.map((x) => [x.reason, x.generation]), [['stale', 7]]);
});

/** state.json, and the lock folder holding at most two generations and their release markers: no temp file. */
async function assertNothingLeftBehind(dir: string): Promise<void> {
  assert.deepEqual((await readdir(dir)).sort(), ['state.json', 'state.json.lock.d'], 'no temp file or old lock left behind');
  const lock = (await readdir(join(dir, 'state.json.lock.d'))).sort();
  assert.ok(lock.every((name) => /^\d{12}(\.released)?$/.test(name)) && lock.length <= 4, `lock folder: ${lock.join(', ')}`);
}

test('a held lock makes others wait, and times out with a clear error', async (t) => {
  const dir = await makeTempDir(t);
  const lockPath = join(dir, 'x.lock');
  let release!: () => void;
  const held = withFileLock(lockPath, () => new Promise<void>((resolve) => (release = resolve)));
  await sleep(20);
  await assert.rejects(
    withFileLock(lockPath, async () => undefined, { timeoutMs: 150 }),
    (error: Error & { code?: string }) => error.code === 'BERTH_LOCK_TIMEOUT' && /held by pid/.test(error.message),
  );
  release();
  await held;
  await withFileLock(lockPath, async () => undefined, { timeoutMs: 500 });
});

test('a corrupt state.json is refused with a message naming the file (not silently replaced)', async (t) => {
  const dir = await makeTempDir(t);
  await writeFile(join(dir, 'state.json'), '{ "tokens": [ oops');
  await assert.rejects(createStateStore(dir), (error: unknown) => error instanceof StateFileError && error.message.includes('state.json'));
  assert.equal(await readFile(join(dir, 'state.json'), 'utf8'), '{ "tokens": [ oops');
});

test('an older file missing sections is completed; unknown sections and a looser mode are fixed up', async (t) => {
  const dir = await makeTempDir(t);
  await writeFile(join(dir, 'state.json'), JSON.stringify({ settings: { listen: ':5000' }, future: { keep: true } }), { mode: 0o644 });
  const store = await createStateStore(dir);
  t.after(() => store.close());
  assert.equal(store.read().settings.listen, ':5000');
  assert.deepEqual(store.read().tokens, []);
  assert.equal((await stat(store.path)).mode & 0o777, 0o600);
  await store.update((draft) => {
    draft.settings.tlsNames = ['berth.local'];
  });
  const onDisk = JSON.parse(await readFile(store.path, 'utf8')) as Record<string, unknown>;
  assert.deepEqual(onDisk.future, { keep: true });
});
