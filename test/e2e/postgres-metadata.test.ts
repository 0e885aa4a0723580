import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { berthBin, startBerth, type BerthProcess } from '../support/berth-process.js';
import { call, fetchBearer } from '../support/registry-auth.js';
import { postgresSkipReason, requirePostgres, startPostgres, type PostgresDatabaseInfo, type PostgresServer } from '../support/services/postgres.js';
import { radosgwSkipReason, requireRadosgw, startRadosgw, type RadosgwServer } from '../support/services/radosgw.js';
import { makeTempDir } from '../support/temp-dir.js';
import { run, type RunResult } from '../support/tools.js';

/**
 * Two `berth serve` processes (two nodes, each its own data directory, one radosgw bucket) on one PostgreSQL database: what the CLI
 * writes through one node's metadata is honoured by the other over real HTTP, and the database password is never
 * on a command line.
 */

describe('berth on PostgreSQL metadata (two nodes)', { skip: postgresSkipReason(), timeout: 180_000 }, () => {
  let server: PostgresServer;
  before(async () => {
    requirePostgres();
    server = await startPostgres();
  });
  after(() => server?.stop());

  const cli = (args: readonly string[], env: Record<string, string | undefined>): Promise<RunResult> =>
    run(process.execPath, [berthBin, ...args], { env: { BERTH_METADATA: undefined, PGPASSWORD: undefined, ...env }, timeoutMs: 30_000 });
  const ok = async (args: readonly string[], env: Record<string, string | undefined>): Promise<string> => {
    const result = await cli(args, env);
    assert.equal(result.code, 0, `berth ${args.join(' ')}:\n${result.stderr}${result.stdout}`);
    return result.stdout;
  };

  test('berth migrate applies the schema once and says what; a URL with a password is refused with where to put it', async () => {
    const db: PostgresDatabaseInfo = await server.createDatabase();
    const env = { PGPASSWORD: db.connection.password };
    const first = await ok(['migrate', '--metadata', db.url], env);
    assert.match(
      first,
      /^applied migration 1: state sections\napplied migration 2: audit events\napplied migration 3: repository index\napplied migration 4: pull records\napplied migration 5: storage binding\napplied migration 6: shared secrets\n.*: 6 migration\(s\) applied \(schema at migration 6\)$/m,
    );
    assert.match(await ok(['migrate', '--metadata', db.url], env), /already up to date \(schema at migration 6\)/);
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

  test('a token created through node A is accepted by node B on /v2/, and its revocation through B is honoured by A', { skip: radosgwSkipReason() }, async (t) => {
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
    const env = {
      BERTH_METADATA: db.url,
      BERTH_METADATA_PASSWORD_FILE: passwordFile,
      BERTH_STORAGE: `s3://${s3.bucket}?endpoint=${s3.endpoint}&region=${s3.region}`,
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    };

    const dataA = join(work, 'node-a');
    const dataB = join(work, 'node-b');
    // The keys are per data directory: nodes behind one load balancer are given the same ones (README), so a
    // bearer token one node's /token issued is valid on the others, and an upstream password sealed by one opens on all.
    for (const name of ['jwt.key', 'secrets.key']) {
      const key = `${randomBytes(32).toString('base64url')}\n`;
      for (const dataDir of [dataA, dataB]) {
        await mkdir(join(dataDir, 'auth'), { recursive: true, mode: 0o700 });
        await writeFile(join(dataDir, 'auth', name), key, { mode: 0o600 });
      }
    }
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
});
