import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { berthBin, startBerth, type BerthProcess } from '../support/berth-process.js';
import { call, fetchBearer } from '../support/registry-auth.js';
import { postgresSkipReason, requirePostgres, startPostgres, type PostgresDatabaseInfo, type PostgresServer } from '../support/services/postgres.js';
import { radosgwSkipReason, requireRadosgw, startRadosgw, type RadosgwServer } from '../support/services/radosgw.js';
import { makeTempDir } from '../support/temp-dir.js';
import { run, type RunResult } from '../support/tools.js';

/**
 * Two `berth serve` processes (two nodes, each its own data directory, one radosgw bucket) on one PostgreSQL database: what the CLI
 * writes through one node's metadata is honoured by the other over real HTTP, the keys they share come from the
 * database under the operator's master key, and neither the database password nor the master key is ever on a
 * command line.
 */

describe('berth on PostgreSQL metadata (two nodes)', { skip: postgresSkipReason(), timeout: 180_000 }, () => {
  let server: PostgresServer;
  before(async () => {
    requirePostgres();
    server = await startPostgres();
  });
  after(() => server?.stop());

  const cli = (args: readonly string[], env: Record<string, string | undefined>, input?: string): Promise<RunResult> =>
    run(process.execPath, [berthBin, ...args], {
      env: { BERTH_METADATA: undefined, PGPASSWORD: undefined, BERTH_MASTER_KEY_FILE: undefined, BERTH_MASTER_KEY: undefined, ...env },
      timeoutMs: 30_000,
      ...(input !== undefined ? { input } : {}),
    });
  const ok = async (args: readonly string[], env: Record<string, string | undefined>, input?: string): Promise<string> => {
    const result = await cli(args, env, input);
    assert.equal(result.code, 0, `berth ${args.join(' ')}:\n${result.stderr}${result.stdout}`);
    return result.stdout;
  };

  test('berth migrate applies the schema once and says what; a URL with a password is refused with where to put it', async () => {
    const db: PostgresDatabaseInfo = await server.createDatabase();
    const env = { PGPASSWORD: db.connection.password };
    const first = await ok(['migrate', '--metadata', db.url], env);
    assert.match(
      first,
      /^applied migration 1: state sections\napplied migration 2: audit events\napplied migration 3: repository index\napplied migration 4: pull records\napplied migration 5: storage binding\napplied migration 6: shared secrets\napplied migration 7: quota usage\napplied migration 8: trash\napplied migration 9: secret revisions\n.*: 9 migration\(s\) applied \(schema at migration 9\)$/m,
    );
    assert.match(await ok(['migrate', '--metadata', db.url], env), /already up to date \(schema at migration 9\)/);
    const withPassword = db.url.replace('berth@', `berth:${db.connection.password}@`);
    const refused = await cli(['migrate', '--metadata', withPassword], {});
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /the URL contains a password.*PGPASSWORD.*BERTH_METADATA_PASSWORD_FILE/s);
    assert.ok(!refused.stderr.includes(db.connection.password), 'the password is not echoed back');
    const wrong = await cli(['migrate', '--metadata', db.url], { PGPASSWORD: 'wrong' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /password authentication failed for user "berth"/);
    const file = await cli(['migrate'], {});
    assert.equal(file.code, 2);
    assert.match(file.stderr, /berth migrate is for a PostgreSQL metadata database: pass --metadata/);
  });

  test('with one master key and no copied files, node B accepts what node A issued (access token, bearer token) and opens the upstream password sealed through A; revocation through B is honoured by A', { skip: radosgwSkipReason() }, async (t) => {
    // Nodes on one database share one storage too: a database is bound to the first node's storage, and a node on
    // its own data directory would be refused at start (storage/storage-binding.ts).
    requireRadosgw();
    const s3: RadosgwServer = await startRadosgw();
    t.after(() => s3.stop());
    const db = await server.createDatabase();
    const work = await makeTempDir(t);
    // The password from a file (owner-only), as a service manager would hand it over; BERTH_METADATA instead of the flag.
    const passwordFile = join(work, 'pg-password');
    await writeFile(passwordFile, `${db.connection.password}\n`, { mode: 0o600 });
    await chmod(passwordFile, 0o644);
    const loose = await cli(['status', '--data', work], { BERTH_METADATA: db.url, BERTH_METADATA_PASSWORD_FILE: passwordFile });
    assert.equal(loose.code, 2, loose.stderr);
    assert.match(loose.stderr, /is readable by others \(mode 644\): chmod 600/);
    await chmod(passwordFile, 0o600);
    const database = {
      BERTH_METADATA: db.url,
      BERTH_METADATA_PASSWORD_FILE: passwordFile,
      BERTH_STORAGE: `s3://${s3.bucket}?endpoint=${s3.endpoint}&region=${s3.region}`,
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    };

    const dataA = join(work, 'node-a');
    const dataB = join(work, 'node-b');
    // The operator's master key, one file given to every node (README); nothing is copied between data directories.
    const masterKeyFile = join(work, 'master.key');
    await writeFile(masterKeyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    await chmod(masterKeyFile, 0o644);
    const serveOnce = (dataDir: string, extra: Record<string, string | undefined>) =>
      cli(['serve', '--data', dataDir, '--listen', '127.0.0.1:0', '--tls-listen', 'off'], { ...database, ...extra });
    const loosekey = await serveOnce(dataA, { BERTH_MASTER_KEY_FILE: masterKeyFile });
    assert.equal(loosekey.code, 2, loosekey.stderr);
    assert.match(loosekey.stderr, new RegExp(`BERTH_MASTER_KEY_FILE: ${masterKeyFile} is readable by others \\(mode 644\\): chmod 600`));
    const nokey = await serveOnce(dataA, {});
    assert.equal(nokey.code, 2, nokey.stderr);
    assert.match(nokey.stderr, /needs the master key .* neither BERTH_MASTER_KEY_FILE nor BERTH_MASTER_KEY is set: openssl rand -base64 32 > \/etc\/berth\/master\.key && chmod 600/);
    await chmod(masterKeyFile, 0o600);
    const env = { ...database, BERTH_MASTER_KEY_FILE: masterKeyFile };
    const nodes: BerthProcess[] = [];
    t.after(() => Promise.all(nodes.map((node) => node.stop())));
    // Both start at once on an unmigrated database: each migrates at start, under the migration lock.
    const [a, b] = await Promise.all([dataA, dataB].map((dataDir) => startBerth({ dataDir, auth: 'token', tlsListen: 'off', env })));
    nodes.push(a!, b!);
    const nodeA = a!;
    const nodeB = b!;
    assert.equal(nodeA.ready.metadata, db.url);

    const secret = (await ok(['token', 'create', '--data', dataA, '--name', 'ci', '--scope', '*:pull'], env)).trimEnd().split('\n').at(-1) ?? '';
    assert.ok(secret.length > 20, `a secret on the last line: ${secret}`);
    const credentials = { kind: 'basic' as const, username: 'ci', password: secret };
    // The token service of node B, which never saw the CLI run on A, grants it.
    const started = Date.now();
    let bearer = await fetchBearer(nodeB.url, [], { credentials });
    while (bearer.result.status !== 200 && Date.now() - started < 1000) {
      await sleep(20);
      bearer = await fetchBearer(nodeB.url, [], { credentials });
    }
    assert.equal(bearer.result.status, 200, `node B's /token: ${bearer.result.status} ${bearer.result.text}`);
    const base = await call('GET', `${nodeB.url}/v2/`, { credentials: { kind: 'bearer', jwt: bearer.jwt ?? '' } });
    assert.equal(base.status, 200, base.text);
    // A bearer token from node A's token service is honoured by node B (the same key): a load balancer may send
    // a client's /token and its next /v2/ request to different nodes.
    const fromA = await fetchBearer(nodeA.url, [], { credentials });
    assert.equal(fromA.result.status, 200, fromA.result.text);
    assert.equal((await call('GET', `${nodeB.url}/v2/`, { credentials: { kind: 'bearer', jwt: fromA.jwt ?? '' } })).status, 200);
    // Basic credentials straight on /v2/ too.
    assert.equal((await call('GET', `${nodeB.url}/v2/`, { credentials })).status, 200);
    assert.equal((await call('GET', `${nodeA.url}/v2/`, { credentials })).status, 200);

    // Neither node has key files: the keys are rows of the database, sealed with the master key (the encryption key
    // ring too: a new S3 + PostgreSQL deployment is encrypted at rest by default).
    for (const dataDir of [dataA, dataB]) {
      for (const name of ['jwt.key', 'secrets.key']) assert.equal(existsSync(join(dataDir, 'auth', name)), false, `${name} in ${dataDir}`);
    }
    assert.equal((await server.psql('SELECT name FROM berth_secrets ORDER BY name;', db.name)).trim(), 'encryption-key-ring\njwt-signing-key\nsecret-box-key');

    // An upstream password given through node A's data directory opens on node B: in `berth upstream test`, and in
    // the running node's pull-through, which sends it upstream.
    const upstream = await startBasicUpstream(t, 'robot', 'right-password');
    await ok(['upstream', 'add', 'priv', upstream.url, '--username', 'robot', '--password-stdin', '--data', dataA], env, 'right-password\n');
    assert.match(await ok(['upstream', 'test', 'priv', '--data', dataB], env), /reachable, credentials accepted/);
    upstream.authorizations.length = 0;
    const pulledAt = Date.now();
    while (!upstream.authorizations.includes(upstream.expected) && Date.now() - pulledAt < 3000) {
      await call('GET', `${nodeB.url}/v2/priv/app/manifests/1`, { credentials });
      await sleep(50);
    }
    assert.ok(upstream.authorizations.includes(upstream.expected), `node B sent the password upstream: ${upstream.authorizations.join(', ') || 'no credentials at all'}`);

    // A node given another master key is refused at start with what to fix, and changes nothing: A and B go on.
    const otherKeyFile = join(work, 'other.key');
    await writeFile(otherKeyFile, randomBytes(32), { mode: 0o600 });
    const wrongKey = await serveOnce(join(work, 'node-c'), { BERTH_MASTER_KEY_FILE: otherKeyFile });
    assert.equal(wrongKey.timedOut, false, 'a refused start exits');
    assert.equal(wrongKey.code, 1, wrongKey.stderr);
    assert.match(wrongKey.stderr, new RegExp(`the master key from BERTH_MASTER_KEY_FILE ${otherKeyFile} does not open the shared key "jwt-signing-key": every node needs the master key the cluster was set up with`));
    const again = await fetchBearer(nodeA.url, [], { credentials });
    assert.equal((await call('GET', `${nodeB.url}/v2/`, { credentials: { kind: 'bearer', jwt: again.jwt ?? '' } })).status, 200);

    // Revoked through node B's data directory: node A refuses it within a second.
    await ok(['token', 'revoke', 'ci', '--data', dataB], env);
    const revokedAt = Date.now();
    let status = 200;
    while (Date.now() - revokedAt < 1000) {
      status = (await call('GET', `${nodeA.url}/v2/`, { credentials })).status;
      if (status === 401) break;
      await sleep(20);
    }
    assert.equal(status, 401, 'node A still accepted the token revoked through node B');

    // The audit trail is shared too: node B's `berth audit` shows what the CLI did through node A.
    const trail = (await ok(['audit', '--data', dataB, '--action', 'token.*', '--json'], env)).trim().split('\n').map((line) => JSON.parse(line) as { action: string });
    assert.deepEqual(trail.map((entry) => entry.action), ['token.create', 'token.revoke']);

    // berth status names the backend; the per-node files stay in each data directory.
    const status_ = await ok(['status', '--data', dataA], env);
    assert.match(status_, new RegExp(`Metadata: ${db.url.replace(/[.]/g, '\\.')}`));
    const json = JSON.parse(await ok(['status', '--data', dataB, '--json'], env)) as { metadata: string; running: boolean };
    assert.deepEqual({ metadata: json.metadata, running: json.running }, { metadata: db.url, running: true });
    const { rows } = { rows: (await server.psql("SELECT section FROM berth_state_sections WHERE section = 'tokens';", db.name)).trim() };
    assert.equal(rows, 'tokens', 'the tokens live in the database');
    for (const dataDir of [dataA, dataB]) assert.equal(existsSync(join(dataDir, 'state.json')), false, `no state.json in ${dataDir}`);
    for (const node of nodes) assert.ok(!node.logs().includes(db.connection.password), 'the password is not in the log');
  });

  test('berth secrets rotate-master re-seals the shared keys with a new master key: a password sealed before opens with the new one only', async (t) => {
    const db = await server.createDatabase();
    const work = await makeTempDir(t);
    const data = join(work, 'node');
    const oldKeyFile = join(work, 'master.key');
    await writeFile(oldKeyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const newKeyFile = join(work, 'master.key.new');
    await writeFile(newKeyFile, randomBytes(32), { mode: 0o600 });
    const base = { BERTH_METADATA: db.url, PGPASSWORD: db.connection.password };
    const withOld = { ...base, BERTH_MASTER_KEY_FILE: oldKeyFile };
    const withNew = { ...base, BERTH_MASTER_KEY_FILE: newKeyFile };
    await ok(['migrate'], base);
    const upstream = await startBasicUpstream(t, 'robot', 'right-password');
    await ok(['upstream', 'add', 'priv', upstream.url, '--username', 'robot', '--password-stdin', '--data', data], withOld, 'right-password\n');

    const rotate = ['secrets', 'rotate-master', '--new-key-file', newKeyFile, '--data', data];
    await chmod(newKeyFile, 0o644);
    const loose = await cli(rotate, withOld);
    assert.equal(loose.code, 2, loose.stderr);
    assert.match(loose.stderr, /--new-key-file: .*master\.key\.new is readable by others \(mode 644\): chmod 600/);
    await chmod(newKeyFile, 0o600);
    const rotated = await ok(rotate, withOld);
    // The secret box's key existed (the password was sealed with it); the signing key, not needed yet, is made now.
    assert.match(rotated, /^Sealed 2 shared key\(s\) with the master key in .*master\.key\.new: secret-box-key, jwt-signing-key\.$/m);
    assert.match(rotated, /a node started with the old master key is now refused/);

    assert.match(await ok(['upstream', 'test', 'priv', '--data', data], withNew), /reachable, credentials accepted/);
    const stale = await cli(['upstream', 'test', 'priv', '--data', data], withOld);
    assert.equal(stale.code, 1, stale.stderr);
    assert.match(stale.stderr, /does not open the shared key "secret-box-key": every node needs the master key the cluster was set up with/);
    assert.match(await ok(rotate, withOld), /sealed with the master key in .* already: nothing to do/);
    const trail = (await ok(['audit', '--data', data, '--action', 'secrets.*', '--json'], withNew)).trim().split('\n').map((line) => JSON.parse(line) as { action: string });
    assert.deepEqual(trail.map((entry) => entry.action), ['secrets.rotate-master', 'secrets.rotate-master']);
  });
});

/**
 * An upstream registry that wants Basic credentials (as a private registry does): /v2/ answers 200 with the right
 * ones, 401 with a Basic challenge otherwise; it has no images. It records every Authorization header it gets.
 */
async function startBasicUpstream(t: TestContext, username: string, password: string): Promise<{ url: string; expected: string; authorizations: string[] }> {
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const authorizations: string[] = [];
  const upstream = createServer((req, res) => {
    const given = req.headers.authorization;
    if (given !== undefined) authorizations.push(given);
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    res.setHeader('Content-Type', 'application/json');
    if (given !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="private"' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    } else if (req.url === '/v2/') {
      res.writeHead(200).end('{}');
    } else {
      res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    }
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    upstream.closeAllConnections();
    return new Promise<void>((resolve) => upstream.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, expected, authorizations };
}
