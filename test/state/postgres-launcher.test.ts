import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import pg from 'pg';
import { postgresSkipReason, startPostgres } from '../support/services/postgres.js';

/** The test launcher itself: PostgreSQL 15 answers as `berth` with the password only, and stop() leaves nothing. */
test('startPostgres serves a berth database to the berth role; stop() ends the server and removes its directory', { skip: postgresSkipReason(), timeout: 120_000 }, async () => {
  const server = await startPostgres();
  console.log(`# postgres started in ${(server.startupMs / 1000).toFixed(2)} s`);
  let dataDir = '';
  let postmasterPid = 0;
  try {
    assert.match(server.url, /^postgres:\/\/berth@127\.0\.0\.1:\d+\/berth$/);
    const client = new pg.Client(server.connection);
    await client.connect();
    try {
      const { rows } = await client.query<{ version: string; user: string; db: string }>(
        'SELECT version() AS version, current_user AS user, current_database() AS db',
      );
      assert.match(rows[0]?.version ?? '', /^PostgreSQL 15\./);
      assert.equal(rows[0]?.user, 'berth');
      assert.equal(rows[0]?.db, 'berth');
    } finally {
      await client.end();
    }
    // Over TCP the password is required: the tests exercise the same authentication as a deployment.
    const wrongPassword = new pg.Client({ ...server.connection, password: 'wrong' });
    await assert.rejects(wrongPassword.connect(), /password authentication failed/);
    dataDir = (await server.psql('SHOW data_directory')).trim();
    postmasterPid = Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
    assert.ok(postmasterPid > 0);
  } finally {
    await server.stop();
  }
  assert.equal(existsSync(`/proc/${postmasterPid}`), false, `postmaster ${postmasterPid} is gone`);
  assert.equal(existsSync(dataDir), false, `${dataDir} is removed`);
});
