import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { berthBin, startBerth, type BerthLogLine } from '../support/berth-process.js';
import { startDistribution } from '../support/distribution.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason, trackChild } from '../support/tools.js';
import { berthCliOk, httpGet } from './mirror-fixture.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/**
 * What `berth serve` logs for people and for machines: JSON lines when its output is a pipe (the desktop app and
 * these tests read them), readable lines on a terminal, and one info line per manifest push, per manifest pull
 * (all of them, not the audit trail's one a minute) and per blob fetched from an upstream.
 */

const basic = (name: string, secret: string) => ({ Authorization: `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}` });
const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';
const byMsg = (lines: readonly BerthLogLine[], msg: string) => lines.filter((line) => line.msg === msg);

test('piped: JSON lines, with a line per push, per pull and per blob fetched from an upstream (default token auth)', { skip: toolSkipReason('skopeo', 'docker-registry'), timeout: 120_000 }, async (t) => {
  requireTools('skopeo', 'docker-registry');
  const dataDir = await makeTempDir(t, 'berth-logs-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  assert.equal(berth.ready.level, 30);
  assert.equal(typeof berth.ready.time, 'number');
  assert.equal(berth.ready.dataDir, dataDir);
  assert.equal(berth.ready.auth, 'token');

  const secret = lastLine(await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', '--data', dataDir]));
  const image = await createImageLayout(join(await makeTempDir(t), 'app'), { tag: '1', layers: [{ bytes: 64 * 1024 }, { bytes: 8 * 1024 }] });
  await skopeoCopy(image.ref, dockerRef(berth.host, 'team/app', '1'), ['--dest-creds', `ci:${secret}`]);
  const pushed = await berth.waitForLog((line) => line.msg === 'image pushed' && line.repository === 'team/app');
  assert.deepEqual(
    { ...pushed, time: 0, pid: 0, hostname: '', durationMs: 0 },
    {
      level: 30,
      time: 0,
      pid: 0,
      hostname: '',
      name: 'berth',
      repository: 'team/app',
      tag: '1',
      digest: image.manifestDigest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: image.manifestBytes.length + image.totalBytes,
      manifestSize: image.manifestBytes.length,
      durationMs: 0,
      actor: 'ci',
      client: '127.0.0.1',
      msg: 'image pushed',
    },
  );
  assert.ok(typeof pushed.durationMs === 'number' && pushed.durationMs >= 0);

  // Three pulls of the manifest within a minute: three log lines, one audit event.
  for (let i = 0; i < 3; i++) assert.equal((await httpGet(`${berth.url}/v2/team/app/manifests/1`, basic('ci', secret))).status, 200);
  const layer = image.layers[0];
  assert.ok(layer);
  assert.equal((await fetch(`${berth.url}/v2/team/app/blobs/${layer.digest}`, { headers: basic('ci', secret) }).then((r) => r.arrayBuffer())).byteLength, layer.size);
  const pulls = async () => byMsg(berth.logLines(), 'image pulled').filter((line) => line.repository === 'team/app');
  await berth.waitForLog(() => byMsg(berth.logLines(), 'image pulled').length >= 3);
  const pulled = await pulls();
  assert.equal(pulled.length, 3, 'every manifest pull is logged');
  for (const line of pulled) {
    assert.deepEqual([line.tag, line.digest, line.size, line.actor, line.client], ['1', image.manifestDigest, image.manifestBytes.length + image.totalBytes, 'ci', '127.0.0.1']);
  }
  const audited = (await berthCliOk(['audit', '--json', '--action', 'pull', '--data', dataDir])).trim().split('\n').filter(Boolean);
  assert.equal(audited.length, 1, 'the audit trail keeps one pull per client and manifest per minute');
  assert.ok(!berth.logLines().some((line) => line.level === 30 && JSON.stringify(line).includes(layer.digest)), 'no info line per blob pulled from Berth');

  // A pull through the mirror logs each blob that came from the upstream, with its size and how long it took.
  const upstream = await startDistribution();
  t.after(() => upstream.stop());
  await skopeoCopy(image.ref, dockerRef(upstream.host, 'library/app', '1'));
  await berthCliOk(['upstream', 'add', 'up', upstream.url, '--data', dataDir]);
  const reader = lastLine(await berthCliOk(['token', 'create', '--name', 'reader', '--scope', 'up/*:pull', '--data', dataDir]));
  const out = await makeTempDir(t, 'berth-logs-pull-');
  await skopeoCopy(dockerRef(berth.host, 'up/library/app', '1'), `dir:${out}`, ['--src-creds', `reader:${reader}`]);
  for (const blob of [image.config, ...image.layers]) {
    const fetched = await berth.waitForLog((line) => line.msg === 'blob fetched from upstream' && line.digest === blob.digest);
    assert.deepEqual([fetched.level, fetched.upstream, fetched.repository, fetched.remote, fetched.size], [30, 'up', 'up/library/app', 'library/app', blob.size]);
    assert.ok(typeof fetched.durationMs === 'number' && fetched.durationMs >= 0);
  }
  assert.equal((await pulls()).length, 3);
  assert.ok(byMsg(berth.logLines(), 'image pulled').some((line) => line.repository === 'up/library/app' && line.actor === 'reader'));
});

/** `berth serve` on a pseudo-terminal (util-linux's script), as a person starts it; resolves with what it printed. */
function serveOnTerminal(t: { after: (fn: () => unknown) => void }, dataDir: string, extra: readonly string[] = []) {
  const command = [process.execPath, berthBin, 'serve', '--data', dataDir, '--listen', '127.0.0.1:0', '--tls-listen', 'off', '--auth', 'none', ...extra]
    .map((word) => `'${word.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TERM: 'xterm' } });
  trackChild(child, true);
  t.after(() => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // gone already
    }
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  // Colours and carriage returns are the terminal's business: the tests read the text.
  const text = () => output.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '');
  const waitFor = async (pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> => {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
      const match = pattern.exec(text());
      if (match) return match;
    }
    throw new Error(`no ${pattern} in what berth serve printed on the terminal:\n${text()}`);
  };
  return { text, waitFor, raw: () => output };
}

test('on a terminal: readable lines with the local time and key=value fields, colours, and the push line', { skip: toolSkipReason('script', 'skopeo'), timeout: 60_000 }, async (t) => {
  requireTools('script', 'skopeo');
  const dataDir = await makeTempDir(t, 'berth-logs-tty-');
  const terminal = serveOnTerminal(t, dataDir);
  const ready = await terminal.waitFor(/^\[(\d\d):(\d\d):\d\d\.\d{3}\] INFO: berth ready url=(http:\/\/127\.0\.0\.1:\d+) dataDir=(\S+) auth=none$/m);
  const now = new Date();
  const minutes = Number(ready[1]) * 60 + Number(ready[2]);
  const local = now.getHours() * 60 + now.getMinutes();
  assert.ok(Math.abs(minutes - local) <= 1 || Math.abs(minutes - local) === 1439, `a local time: ${ready[0]} at ${now.toString()}`);
  assert.equal(ready[4], dataDir);
  assert.match(terminal.raw(), /\x1b\[32mINFO\x1b\[39m/, 'the level in colour on a terminal');
  const host = new URL(ready[3] ?? '').host;

  const image = await createImageLayout(join(await makeTempDir(t), 'app'), { tag: '1', layers: [{ bytes: 48 * 1024 }] });
  await skopeoCopy(image.ref, dockerRef(host, 'team/app', '1'));
  const line = await terminal.waitFor(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: image pushed repository=team\/app tag=1 digest=(sha256:[0-9a-f]{64}) mediaType=\S+ size=([\d.]+ KiB) manifestSize=\d+ B durationMs=[\d.]+ actor=anonymous client=127\.0\.0\.1$/m);
  assert.equal(line[1], image.manifestDigest);
  assert.doesNotMatch(terminal.text(), /^\{/m, 'no JSON on a terminal');
});

test('on a terminal with --log-format json: JSON lines all the same', { skip: toolSkipReason('script'), timeout: 60_000 }, async (t) => {
  requireTools('script');
  const dataDir = await makeTempDir(t, 'berth-logs-tty-json-');
  const terminal = serveOnTerminal(t, dataDir, ['--log-format', 'json']);
  const match = await terminal.waitFor(/^(\{.*"msg":"berth ready".*\})$/m);
  const ready = JSON.parse(match[1] ?? '{}') as Record<string, unknown>;
  assert.equal(ready.dataDir, dataDir);
  assert.match(String(ready.url), /^http:\/\/127\.0\.0\.1:\d+$/);
});
