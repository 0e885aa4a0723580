import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { startContainerd } from '../support/daemons/containerd.js';
import { startDockerd } from '../support/daemons/dockerd.js';
import { containerd, ctr, daemonSkipReason, dockerCli, dockerd, requireDaemonTools, runc } from '../support/daemons/requirements.js';
import { mountsBelow, sweepAbandonedSandboxes } from '../support/daemons/sandbox.js';
import { trackChild } from '../support/tools.js';

/**
 * The daemon test support leaves nothing behind, whichever way a test ends: daemons that crashed (their
 * mounts stay behind them), a test process ended by SIGTERM (its exit hook cleans up) or by SIGKILL (the next
 * test process sweeps up after it); and two instances side by side never share a socket or a directory.
 */

const tools = [dockerd, dockerCli, containerd, ctr, runc];
const childScript = fileURLToPath(new URL('../support/daemons/sandbox-child.js', import.meta.url));

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Running (a zombie waiting for init to reap it counts as gone). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Polls until `check` holds (a killed process takes a moment to go), failing after `timeoutMs`. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface ChildReport {
  readonly dir: string;
  readonly pids: readonly number[];
}

/** Runs sandbox-child.js until it printed its dockerd's sandbox, then ends it with `signal`. */
async function childDiesWith(signal: NodeJS.Signals): Promise<ChildReport> {
  const child = spawn(process.execPath, [childScript, 'dockerd'], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let output = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const report = await new Promise<ChildReport>((resolve, reject) => {
    let line = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      line += chunk;
      if (line.includes('\n')) resolve(JSON.parse(line) as ChildReport);
    });
    void exited.then(() => reject(new Error(`sandbox-child exited before starting dockerd:\n${output}`)));
  });
  assert.ok(mountsBelow(report.dir).length > 0, 'dockerd bind-mounts its data root: there is something to unmount');
  child.kill(signal);
  await exited;
  return report;
}

test('daemon sandboxes leave no process, mount or directory behind', { skip: daemonSkipReason(...tools), timeout: 300_000 }, async (t) => {
  requireDaemonTools(...tools);

  await t.test('daemons that were killed: their mounts are unmounted, then the directory goes', async (tt) => {
    const instance = await startDockerd(tt);
    const dir = instance.sandbox.dir;
    await instance.dockerd.kill();
    await instance.containerd.kill();
    assert.ok(mountsBelow(dir).length > 0, `a killed dockerd leaves its data root mounted (${dir})`);
    await instance.stop();
    assert.deepEqual(mountsBelow(dir), []);
    assert.equal(await exists(dir), false, `${dir} removed`);
  });

  await t.test('a test process ended by SIGTERM takes its daemons and their sandboxes with it', async () => {
    const { dir, pids } = await childDiesWith('SIGTERM');
    await eventually('the daemons exited', () => pids.every((pid) => !isAlive(pid)));
    assert.deepEqual(mountsBelow(dir), []);
    assert.equal(await exists(dir), false, `${dir} removed by the exit hook`);
  });

  await t.test('after a test process died of SIGKILL, the next one sweeps its daemons and sandboxes away', async () => {
    const { dir, pids } = await childDiesWith('SIGKILL');
    // Another test process starting meanwhile may sweep first; either way the sweep leaves nothing.
    sweepAbandonedSandboxes();
    await eventually('the daemons exited', () => pids.every((pid) => !isAlive(pid)));
    await eventually(`${dir} unmounted and removed`, async () => mountsBelow(dir).length === 0 && !(await exists(dir)));
  });

  await t.test('two dockerds and two containerds side by side have nothing in common', async (tt) => {
    const [first, second] = await Promise.all([startDockerd(tt), startDockerd(tt)]);
    const [third, fourth] = await Promise.all([startContainerd(tt), startContainerd(tt)]);
    assert.ok(first && second && third && fourth);
    const dirs = [first.sandbox.dir, second.sandbox.dir, third.sandbox.dir, fourth.sandbox.dir];
    assert.equal(new Set(dirs).size, 4);
    // Each answers on its own socket with its own identity (dockerd's ID comes from its own trust key).
    const ids = await Promise.all([first, second].map(async (instance) => (await instance.dockerOk(['info', '--format', '{{.ID}}'])).stdout.trim()));
    assert.notEqual(ids[0], ids[1]);
    for (const instance of [third, fourth]) await instance.ctrOk(['namespaces', 'create', 'only-here']);
    await third.ctrOk(['namespaces', 'remove', 'only-here']);
    assert.match((await fourth.ctrOk(['namespaces', 'ls', '--quiet'])).stdout, /^only-here$/m, 'a change in one containerd is not seen in the other');
    assert.doesNotMatch((await third.ctrOk(['namespaces', 'ls', '--quiet'])).stdout, /^only-here$/m);
  });
});
