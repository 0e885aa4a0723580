import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBerth } from '../support/berth-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { berthCli, berthCliOk } from './mirror-fixture.js';

/**
 * One source of truth for where the running server listens: `berth serve --listen` on a port that is not the
 * default, then every command that prints an address (status, ui-url, mirror-config, trust) must print that port,
 * and say so plainly when no server runs. Pasted as printed, a wrong address makes dockerd fall back to Docker Hub
 * without a word, and sends the admin's sign-in code to whoever holds port 5000.
 */
test('the CLI prints the running server\'s real addresses, and says when none runs', async (t) => {
  const dataDir = await makeTempDir(t, 'berth-addresses-');
  // Default settings (token auth, HTTPS on), only the ports picked by the kernel so tests do not collide.
  const berth = await startBerth({ dataDir, auth: null, listen: '127.0.0.1:0', tlsListen: '127.0.0.1:0' });
  t.after(() => berth.stop());
  const httpUrl = berth.url;
  const httpsUrl = String(berth.ready.tlsUrl);
  assert.match(httpsUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(new URL(httpUrl).port, '5000');

  // status: what it really listens on, the pid, the auth mode.
  const status = await berthCliOk(['status', '--data', dataDir]);
  assert.match(status, new RegExp(`is running on ${escape(dataDir)} \\(pid ${berth.pid}, up `));
  assert.match(status, new RegExp(`registry, HTTP +${escape(httpUrl)}`));
  assert.match(status, new RegExp(`registry, HTTPS +${escape(httpsUrl)}`));
  assert.match(status, /access tokens required/);
  const report = JSON.parse(await berthCliOk(['status', '--json', '--data', dataDir])) as { running: boolean; pid: number; listeners: { http: string; https: string } };
  assert.deepEqual({ running: report.running, pid: report.pid, listeners: report.listeners }, { running: true, pid: berth.pid, listeners: { http: httpUrl, https: httpsUrl } });

  // ui-url: a link to the real port, which signs a browser in.
  const link = (await berthCliOk(['ui-url', '--data', dataDir])).trim();
  assert.ok(link.startsWith(`${httpUrl}/ui/signin?code=`), link);
  const signIn = await fetch(link, { redirect: 'manual' });
  assert.equal(signIn.status, 303);
  assert.ok((await berthCliOk(['ui-url', '--https', '--data', dataDir])).startsWith(`${httpsUrl}/ui/signin?code=`));

  // mirror-config: daemon.json points at the real listener; no "not running" note.
  const printed = await berthCli(['mirror-config', '--data', dataDir]);
  assert.equal(printed.code, 0, printed.stderr);
  assert.equal(printed.stderr, '');
  const daemonJson = JSON.parse(/^\{[\s\S]*?^\}/m.exec(printed.stdout)?.[0] ?? 'null') as Record<string, string[]>;
  assert.deepEqual(daemonJson['registry-mirrors'], [httpUrl]);

  // trust: the certs.d folder of the real HTTPS port.
  const trust = await berthCliOk(['trust', '--data', dataDir]);
  assert.match(trust, new RegExp(`certs\\.d/localhost:${new URL(httpsUrl).port}/`));

  // The record is the owner's only and holds no secret; the log holds no sign-in code.
  const recordPath = join(dataDir, 'server.json');
  assert.equal((await stat(recordPath)).mode & 0o777, 0o600);
  assert.doesNotMatch(await readFile(recordPath, 'utf8'), /code=|berth_/);
  assert.doesNotMatch(berth.logs(), /signin\?code=/, 'the log never holds a live sign-in link');
  assert.ok(berth.logLines().some((line) => /berth ui-url/.test(String(line.msg))), 'the log says how to get a sign-in link');

  // A second server on the same data directory is refused, naming the first.
  const second = await berthCli(['serve', '--data', dataDir, '--listen', '127.0.0.1:0', '--tls-listen', 'off']);
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`Berth already runs on ${escape(dataDir)} \\(pid ${berth.pid}, ${escape(httpUrl)}\\)`));

  // Stopped: every command says so, and nothing prints a link to a port nobody holds.
  await berth.stop();
  const stopped = await berthCli(['status', '--data', dataDir]);
  assert.equal(stopped.code, 3);
  assert.match(stopped.stdout, /No Berth server is running on .*Start it with: berth serve --data/);
  const noLink = await berthCli(['ui-url', '--data', dataDir]);
  assert.equal(noLink.code, 1);
  assert.equal(noLink.stdout, '');
  assert.match(noLink.stderr, /no Berth server is running on .*start it with "berth serve --data/);
  const offline = await berthCli(['mirror-config', '--data', dataDir]);
  assert.equal(offline.code, 0);
  assert.match(offline.stderr, /note: no Berth server is running on .*addresses from its settings/);
});

test('a server killed with -9 leaves nothing that blocks or misleads the next start', async (t) => {
  const dataDir = await makeTempDir(t, 'berth-addresses-');
  const first = await startBerth({ dataDir, listen: '127.0.0.1:0' });
  first.kill();
  await first.exited;
  // Its record is still on disk, but its process is gone: not running.
  const status = await berthCli(['status', '--data', dataDir]);
  assert.equal(status.code, 3, status.stdout);
  const second = await startBerth({ dataDir, listen: '127.0.0.1:0' });
  t.after(() => second.stop());
  const report = JSON.parse(await berthCliOk(['status', '--json', '--data', dataDir])) as { pid: number; listeners: { http: string } };
  assert.equal(report.pid, second.pid);
  assert.equal(report.listeners.http, second.url);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
