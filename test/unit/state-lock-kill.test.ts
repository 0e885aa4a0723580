import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createStateStore, withFileLock, type LockTakeOver } from '../../registry/state/index.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * The state lock under kill -9, with real processes: holders killed while they hold the lock, and several waiters
 * (separate processes, like the server and CLIs) updating all the while. Every update that resolved must be in the
 * file (no lost update), no two processes may ever be inside at once, and a killed holder's lock is taken over at
 * once, not after the stale timeout.
 */
const childScript = fileURLToPath(new URL('../support/state-child.js', import.meta.url));
const rounds = Number(process.env.LOCK_KILL_ROUNDS ?? 4);
const waiters = Number(process.env.LOCK_KILL_WAITERS ?? 4);
const incrementsEach = 40;
const holdersKilledPerRound = Number(process.env.LOCK_KILL_HOLDERS ?? 6);
/** How long a slow waiter takes before each change to the lock. */
const slowFsMs = 40;
/** How long each update stays inside the lock. */
const insideMs = Number(process.env.LOCK_KILL_INSIDE_MS ?? 20);

interface Child {
  process: ChildProcess;
  stderr: () => string;
  /** Resolves on the first stdout line equal to `line`. */
  printed(line: string): Promise<void>;
  exited: Promise<number | null>;
}

function spawnChild(args: string[], slowFsMs = 0): Child {
  const env = { ...process.env, BERTH_TEST_SLOW_FS_MS: String(slowFsMs), BERTH_TEST_INSIDE_MS: String(insideMs) };
  const child = spawn(process.execPath, [childScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  const listeners: Array<() => void> = [];
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const listener of listeners) listener();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    process: child,
    stderr: () => stderr,
    exited,
    printed: (line) =>
      new Promise<void>((resolve, reject) => {
        const check = () => stdout.split('\n').includes(line) && resolve();
        listeners.push(check);
        check();
        void exited.then((code) => reject(new Error(`child exited (${code}) before printing ${line}: ${stderr}`)));
      }),
  };
}

function counterOf(settings: Record<string, unknown>): number {
  return typeof settings.counter === 'number' ? settings.counter : 0;
}

test(`kill -9 of lock holders while ${waiters} waiter processes update: no lost update, never two inside`, { timeout: 300_000 }, async (t) => {
  let takeOvers = 0;
  for (let round = 0; round < rounds; round++) {
    const dir = await makeTempDir(t, 'berth-lock-kill-');
    const marker = join(dir, 'inside');
    // The first holder takes the lock before the waiters start, so they all queue behind a holder that dies.
    const first = spawnChild([dir, 'hold']);
    await first.printed('holding');
    // Half of the waiters on a "loaded machine": long gaps between their look at the lock and their next step.
    const running = Array.from({ length: waiters }, (_, index) => spawnChild([dir, String(incrementsEach), marker], index % 2 === 0 ? slowFsMs : 0));
    first.process.kill('SIGKILL');
    await first.exited;
    takeOvers += 1;
    // More holders join the queue and are killed once they hold the lock, while the waiters go on.
    for (let n = 1; n < holdersKilledPerRound; n++) {
      const holder = spawnChild([dir, 'hold']);
      await holder.printed('holding');
      holder.process.kill('SIGKILL');
      await holder.exited;
      takeOvers += 1;
    }
    const codes = await Promise.all(running.map((child) => child.exited));
    for (const [index, child] of running.entries()) {
      assert.doesNotMatch(child.stderr(), /overlap/, `round ${round}: waiter ${index} was inside together with another process`);
      assert.equal(codes[index], 0, `round ${round}: waiter ${index} failed: ${child.stderr()}`);
    }
    const store = await createStateStore(dir);
    const counter = counterOf(store.read().settings);
    await store.close();
    assert.equal(counter, waiters * incrementsEach, `round ${round}: ${waiters * incrementsEach - counter} updates lost`);
    const left = (await readdir(dir)).filter((name) => name.endsWith('.tmp'));
    assert.deepEqual(left, [], 'no temp file left behind');
  }
  t.diagnostic(`${rounds} rounds, ${takeOvers} holders killed with ${waiters} waiters (half of them slow) each doing ${incrementsEach} updates: none lost, never two inside`);
});

test('a start killed at once left an empty lock file and a temp file: the next start neither waits for staleness nor keeps them', { timeout: 60_000 }, async (t) => {
  const dir = await makeTempDir(t, 'berth-lock-kill-');
  const first = await createStateStore(dir);
  await first.close();
  // What a kill between the lock's create and its write, and one between a temp write and its rename, leave.
  await writeFile(join(dir, 'state.json.lock'), '');
  await writeFile(join(dir, `.state.json.${2 ** 22 + 7}.0badc0de.tmp`), '{"half": ');
  const past = new Date(Date.now() - 5_000);
  await utimes(join(dir, 'state.json.lock'), past, past);
  const store = await createStateStore(dir, { lock: { staleMs: 3_600_000, timeoutMs: 10_000 } });
  t.after(() => store.close());
  assert.deepEqual((await readdir(dir)).sort(), ['state.json', 'state.json.lock.d']);
});

test('a holder killed with SIGKILL: the next start takes the lock at once because its owner is gone, not after staleMs', { timeout: 60_000 }, async (t) => {
  const dir = await makeTempDir(t, 'berth-lock-kill-');
  const holder = spawnChild([dir, 'hold']);
  await holder.printed('holding');
  holder.process.kill('SIGKILL');
  await holder.exited;
  const takeOvers: LockTakeOver[] = [];
  // An hour of staleness: a take-over by age cannot happen within the test's timeout.
  const store = await createStateStore(dir, { lock: { staleMs: 3_600_000, timeoutMs: 20_000, onTakeOver: (x) => takeOvers.push(x) } });
  t.after(() => store.close());
  assert.deepEqual(takeOvers.map((x) => [x.reason, x.owner?.pid]), [['owner-gone', holder.process.pid]]);
  await withFileLock(join(dir, 'state.json.lock'), async () => undefined, { staleMs: 3_600_000, timeoutMs: 1_000 });
});
