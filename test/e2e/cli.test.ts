import assert from 'node:assert/strict';
import { test } from 'node:test';
import { berthBin, startBerth } from '../support/berth-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { run } from '../support/tools.js';

/** The `berth` command as an operator meets it: help, refusing unsafe listeners, and a clean stop. */

test('berth --help lists the serve command', async () => {
  const result = await run(process.execPath, [berthBin, '--help'], { timeoutMs: 15_000 });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^\s+serve\s+\S/m, `no serve command in:\n${result.stdout}`);
  const serveHelp = await run(process.execPath, [berthBin, 'serve', '--help'], { timeoutMs: 15_000 });
  assert.equal(serveHelp.code, 0, serveHelp.stderr);
  assert.match(serveHelp.stdout, /--listen/);
  assert.match(serveHelp.stdout, /--data/);
});

test('berth serve refuses plain HTTP on a non-loopback address without --force-plain-http', async (t) => {
  const dataDir = await makeTempDir(t);
  const result = await run(process.execPath, [berthBin, 'serve', '--data', dataDir, '--listen', '0.0.0.0:5000'], { timeoutMs: 15_000 });
  assert.equal(result.code, 2, `exit code ${result.code}; stderr: ${result.stderr}; stdout: ${result.stdout}`);
  assert.match(result.stderr, /refusing plain HTTP/i, 'the message should say what was refused');
  assert.match(result.stderr, /0\.0\.0\.0/, 'the message should name the address');
  assert.match(result.stderr, /TLS|force/i, 'the message should say what to do instead');
  assert.doesNotMatch(result.stdout, /berth ready/);
});

test('berth serve rejects an unknown option with exit code 2', async (t) => {
  const dataDir = await makeTempDir(t);
  const result = await run(process.execPath, [berthBin, 'serve', '--data', dataDir, '--no-such-option'], { timeoutMs: 15_000 });
  assert.equal(result.code, 2, `exit code ${result.code}; stderr: ${result.stderr}`);
  assert.match(result.stderr, /no-such-option/);
});

test('SIGTERM stops berth serve with exit code 0 and a "stopped" log line', async (t) => {
  const dataDir = await makeTempDir(t);
  const berth = await startBerth({ dataDir });
  t.after(() => berth.stop('SIGKILL'));
  const answer = await fetch(`${berth.url}/v2/`);
  assert.equal(answer.status, 200);
  await answer.arrayBuffer();

  const exit = await berth.stop('SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(berth.logLines().some((line) => line.msg === 'stopped'), `no "stopped" line in:\n${berth.logs()}`);
  await assert.rejects(fetch(`${berth.url}/v2/`), 'the port still answers after the stop');
});
