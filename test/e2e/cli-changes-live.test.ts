import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runCli } from '../../registry/cli/program.js';
import { startBerth } from '../support/berth-process.js';
import { startDistribution } from '../support/distribution.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { berthCliOk, httpGet } from './mirror-fixture.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/**
 * What the CLI writes while the server runs is honoured by the very next request, with no sleep in between: the
 * README's sequences are pasted as they are. The server is a real child process with the default settings (token
 * auth). The CLI commands run in this process, as their own state store (as a separate `berth` process has), so
 * the change is used within a millisecond of being written: a server that only notices changes now and then fails
 * here, where a separate CLI process, slow to exit, would hide it on a quiet machine.
 */
const rounds = 8;

const tokenCommand = (argv: string[]) => runCli(['token', ...argv]);
const namespaceCommand = (argv: string[]) => runCli(['namespace', ...argv]);
const upstreamCommand = (argv: string[]) => runCli(['upstream', ...argv]);
const uiUrlCommand = (argv: string[]) => runCli(['ui-url', ...argv]);

/** Runs a `berth` subcommand in this process and returns what it printed. */
async function cli(t: TestContext, command: (argv: string[]) => Promise<void>, argv: string[]): Promise<string> {
  const printed: string[] = [];
  const log = t.mock.method(console, 'log', (line: unknown) => printed.push(String(line)));
  try {
    await command(argv);
  } finally {
    log.mock.restore();
  }
  return printed.join('\n');
}

async function createToken(t: TestContext, dataDir: string, name: string, scope: string): Promise<string> {
  const printed = await cli(t, tokenCommand, ['create', '--name', name, '--scope', scope, '--data', dataDir]);
  return printed.trim().split('\n').at(-1) ?? '';
}

function basic(name: string, secret: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}` };
}

test('a token, a public namespace and an upstream added with the CLI work on the next request', { skip: toolSkipReason('skopeo', 'docker-registry') }, async (t) => {
  requireTools('skopeo', 'docker-registry');
  const dataDir = await makeTempDir(t, 'berth-cli-live-');
  const berth = await startBerth({ dataDir, auth: null, tlsListen: 'off' });
  t.after(() => berth.stop());

  // The README: TOKEN=$(npx berth token create ... | tail -n 1), then skopeo copy with it at once.
  const image = await createImageLayout(join(await makeTempDir(t), 'app'), { tag: '1', layers: [{ bytes: 32 * 1024 }] });
  for (let round = 0; round < rounds; round++) {
    const secret = await createToken(t, dataDir, `laptop${round}`, 'team/*:pull,push');
    const tags = await httpGet(`${berth.url}/v2/team/app${round}/tags/list`, basic(`laptop${round}`, secret));
    // 404 NAME_UNKNOWN: authenticated and allowed, the repository just does not exist yet. Not 401.
    assert.equal(tags.status, 404, `round ${round}: ${tags.body.toString()}`);
    const token = await httpGet(`${berth.url}/token?service=berth&scope=repository:team/app${round}:pull,push`, basic(`laptop${round}`, secret));
    assert.equal(token.status, 200, `round ${round}: ${token.body.toString()}`);
    assert.match(token.body.toString(), /"scope":"repository:team\/app\d+:pull,push"/);
  }
  // The same as separate processes, word for word as the README has it.
  const secret = (await berthCliOk(['token', 'create', '--name', 'laptop', '--scope', 'team/*:pull,push', '--data', dataDir])).trim().split('\n').at(-1) ?? '';
  await skopeoCopy(image.ref, dockerRef(berth.host, 'team/app', '1'), ['--dest-creds', `laptop:${secret}`]);

  // A namespace made public with the CLI is readable anonymously on the next request, Bearer flow included.
  await cli(t, namespaceCommand, ['set', 'team', '--anonymous-pull=true', '--data', dataDir]);
  const anonymous = await httpGet(`${berth.url}/v2/team/app/manifests/1`);
  assert.equal(anonymous.status, 200, anonymous.body.toString());
  await berthCliOk(['namespace', 'set', 'team', '--anonymous-pull=false', '--data', dataDir]);
  await cli(t, namespaceCommand, ['set', 'team', '--anonymous-pull=true', '--data', dataDir]);
  const anonymousToken = await httpGet(`${berth.url}/token?service=berth&scope=repository:team/app:pull`);
  assert.match(anonymousToken.body.toString(), /"scope":"repository:team\/app:pull"/, 'the token service granted the pull at once');

  // An upstream added with the CLI is routed to on the next request.
  const upstream = await startDistribution();
  t.after(() => upstream.stop());
  await skopeoCopy(image.ref, dockerRef(upstream.host, 'library/app', '1'));
  const reader = await createToken(t, dataDir, 'reader', '*:pull');
  for (let round = 0; round < rounds; round++) {
    await cli(t, upstreamCommand, ['add', `up${round}`, upstream.url, '--data', dataDir]);
    const pulled = await httpGet(`${berth.url}/v2/up${round}/library/app/manifests/1`, basic('reader', reader));
    assert.equal(pulled.status, 200, `round ${round}: ${pulled.body.toString()}`);
    assert.equal(pulled.headers.get('docker-content-digest'), image.manifestDigest);
    // One host, one upstream: make room for the next round's.
    await cli(t, upstreamCommand, ['remove', `up${round}`, '--data', dataDir]);
  }
});

test('a sign-in link from berth ui-url works the moment it is printed', async (t) => {
  const dataDir = await makeTempDir(t, 'berth-cli-live-');
  const berth = await startBerth({ dataDir, auth: null, tlsListen: 'off' });
  t.after(() => berth.stop());
  for (let round = 0; round < rounds; round++) {
    const link = round % 2 === 0 ? await berth.signInUrl() : (await cli(t, uiUrlCommand, ['--data', dataDir])).trim();
    const response = await fetch(link, { redirect: 'manual' });
    assert.equal(response.status, 303, `round ${round}`);
  }
});
