import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { reachableFromLoopbackOnly, serverAddresses } from '../../registry/cli/server-address.js';
import { currentProcessIdentity } from '../../registry/runtime/process-liveness.js';
import { findRunningServer, writeServerRecord, type ServerRecord } from '../../registry/runtime/server-record.js';
import { makeTempDir } from '../support/temp-dir.js';

function record(dataDir: string, overrides: Partial<ServerRecord> = {}): ServerRecord {
  return {
    format: 1,
    process: currentProcessIdentity(),
    version: '0.0.0',
    dataDir,
    auth: 'token',
    urls: { http: 'http://127.0.0.1:15000', https: 'https://127.0.0.1:15443' },
    upstreams: [],
    updatedAt: new Date().toISOString(),
    ...overrides,
  };
}

test('a record of a live process is the running server; a dead pid or a reused one is not', async (t) => {
  const dataDir = await makeTempDir(t);
  await writeServerRecord(dataDir, record(dataDir));
  assert.equal((await findRunningServer(dataDir))?.urls.http, 'http://127.0.0.1:15000');

  // A process that has exited: its pid is free (or taken by someone else).
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  await writeServerRecord(dataDir, record(dataDir, { process: { ...currentProcessIdentity(), pid: child.pid as number } }));
  assert.equal(await findRunningServer(dataDir), undefined);

  // Our own pid but another start time: the pid was reused by a process that is not the server (Linux only).
  if (process.platform === 'linux') {
    const identity = currentProcessIdentity();
    await writeServerRecord(dataDir, record(dataDir, { process: { ...identity, pid: process.ppid, startedAtMs: identity.startedAtMs - 3_600_000 } }));
    assert.equal(await findRunningServer(dataDir), undefined);
  }
});

test('the addresses come from the running server, else from the settings with the defaults', async (t) => {
  const dataDir = await makeTempDir(t);
  assert.deepEqual(await serverAddresses(dataDir), { http: 'http://127.0.0.1:5000', https: 'https://127.0.0.1:5443' });
  await writeServerRecord(dataDir, record(dataDir, { urls: { http: 'http://0.0.0.0:15000' } }));
  const addresses = await serverAddresses(dataDir);
  assert.equal(addresses.running?.process.pid, process.pid);
  // A wildcard bind address is dialled on loopback.
  assert.deepEqual({ http: addresses.http, https: addresses.https }, { http: 'http://127.0.0.1:15000', https: undefined });
});

test('a server running on a non-loopback address is not "loopback only", whatever the settings say', async (t) => {
  const dataDir = await makeTempDir(t);
  assert.equal(await reachableFromLoopbackOnly(dataDir, true), true);
  assert.equal(await reachableFromLoopbackOnly(dataDir, false), false);
  await writeServerRecord(dataDir, record(dataDir, { urls: { http: 'http://127.0.0.1:15000', https: 'https://[::1]:15443' } }));
  assert.equal(await reachableFromLoopbackOnly(dataDir, true), true);
  await writeServerRecord(dataDir, record(dataDir, { urls: { http: 'http://127.0.0.1:15000', https: 'https://0.0.0.0:15443' } }));
  assert.equal(await reachableFromLoopbackOnly(dataDir, true), false);
});
