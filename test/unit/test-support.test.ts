import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readPeakRss, startBerth } from '../support/berth-process.js';
import { createBoundedLog } from '../support/bounded-log.js';
import { makeTempDir } from '../support/temp-dir.js';
import { findTool, requireTools, run, runOk, toolSkipReason } from '../support/tools.js';

/** Runs fn with process.env.CI set to `value` (undefined = unset), restoring it afterwards. */
function withCi<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env.CI;
  if (value === undefined) delete process.env.CI;
  else process.env.CI = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  }
}

test('a bounded log keeps exactly the last maxChars of what was appended, however it was chunked', () => {
  const log = createBoundedLog(10);
  let all = '';
  for (let i = 0; i < 50; i += 1) {
    const chunk = `${i},`;
    log.append(chunk);
    all += chunk;
    assert.equal(log.text(), all.slice(-10), `after chunk ${i}`);
  }
  const big = createBoundedLog(4);
  big.append('abcdefghij');
  big.append('k');
  assert.equal(big.text(), 'hijk');
});

test('findTool finds executables on PATH and nothing else', () => {
  assert.match(findTool('sh') ?? '', /^\/.*\/sh$/);
  assert.equal(findTool('berth-no-such-tool-xyz'), undefined);
});

test('outside CI a missing tool skips with the Debian package to install; in CI it fails', () => {
  const missing = { name: 'berth-no-such-tool-xyz', debianPackage: 'berth-pkg' };
  assert.equal(withCi(undefined, () => toolSkipReason(missing)), 'berth-no-such-tool-xyz not found: apt-get install berth-pkg');
  assert.equal(withCi(undefined, () => toolSkipReason('sh')), undefined);
  assert.equal(withCi('true', () => toolSkipReason(missing)), undefined, 'never skip in CI');
  assert.throws(() => withCi('true', () => requireTools('sh', missing)), /berth-no-such-tool-xyz not found: apt-get install berth-pkg \(CI is set/);
  assert.match(withCi(undefined, () => toolSkipReason('htpasswd', missing)) ?? '', /apt-get install .*berth-pkg/);
});

test('run collects output, exit code and stdin', async () => {
  const result = await run('sh', ['-c', 'echo out; echo err >&2; exit 3']);
  assert.deepEqual([result.code, result.stdout, result.stderr, result.timedOut], [3, 'out\n', 'err\n', false]);
  const echoed = await run('cat', [], { input: 'piped input' });
  assert.equal(echoed.stdout, 'piped input');
  const env = await run('sh', ['-c', 'echo "$BERTH_TEST_VALUE"'], { env: { BERTH_TEST_VALUE: 'seen' } });
  assert.equal(env.stdout, 'seen\n');
});

test('run kills on timeout, including children that hold the pipes', async () => {
  const started = Date.now();
  const result = await run('sh', ['-c', 'sleep 30 & sleep 30'], { timeoutMs: 300 });
  assert.equal(result.timedOut, true);
  assert.equal(result.code, null);
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
});

test('runOk throws with stderr; run rejects for a missing command', async () => {
  await assert.rejects(runOk('sh', ['-c', 'echo broken pipe dream >&2; exit 2']), /exited with code 2[\s\S]*broken pipe dream/);
  await assert.rejects(runOk('sleep', ['10'], { timeoutMs: 100 }), /timed out after 100 ms/);
  await assert.rejects(run('berth-no-such-tool-xyz', []), /cannot run berth-no-such-tool-xyz.*apt-get install/);
});

test('startBerth waits for the ready line and reports an early exit with its output', async (t) => {
  const dir = await makeTempDir(t);
  // A stand-in for bin/berth.js that speaks the same start-up protocol: JSON lines, "berth ready" with a url.
  const fake = join(dir, 'fake-berth.mjs');
  await writeFile(fake, `
    import { createServer } from 'node:http';
    const args = process.argv.slice(2);
    if (args.includes('--fail')) { console.error('cannot open data dir'); process.exit(4); }
    const server = createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', () => {
      console.log(JSON.stringify({ level: 30, msg: 'starting', args }));
      console.log(JSON.stringify({ level: 30, msg: 'berth ready', url: 'http://127.0.0.1:' + server.address().port }));
    });
    process.on('SIGTERM', () => { console.log(JSON.stringify({ msg: 'bye' })); process.exit(0); });
  `);
  const berth = await startBerth({ dataDir: dir, bin: fake });
  t.after(() => berth.kill());
  assert.match(berth.host, /^127\.0\.0\.1:\d+$/);
  assert.equal(await (await fetch(berth.url)).text(), 'ok');
  const starting = await berth.waitForLog((line) => line.msg === 'starting');
  assert.deepEqual((starting.args as string[]).slice(0, 7), ['serve', '--data', dir, '--listen', '127.0.0.1:0', '--auth', 'none']);
  assert.ok(((await berth.peakRssBytes()) ?? 0) > 1024 * 1024);
  assert.equal(await readPeakRss(2 ** 30), undefined, 'no such process');
  const exit = await berth.stop();
  assert.deepEqual(exit, { code: 0, signal: null });
  await berth.waitForLog((line) => line.msg === 'bye');

  await assert.rejects(startBerth({ dataDir: dir, bin: fake, args: ['--fail'] }), /exited \(code 4[\s\S]*cannot open data dir/);
});
