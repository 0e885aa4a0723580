import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTokenGate } from '../../registry/auth/access-gate.js';
import { createToken, revokeToken } from '../../registry/auth/access-tokens.js';
import type { AuditLog } from '../../registry/auth/audit-log.js';
import { issueBearerToken, type ResourceAccess } from '../../registry/auth/bearer-tokens.js';
import type { CredentialCheck } from '../../registry/auth/credential-check.js';
import type { AccessNeed, Caller } from '../../registry/http/access.js';
import { createStateStore, type StateStore } from '../../registry/state/index.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * The gate remembers the bearer requests it let through (auth/bearer-decisions.ts). What it rests on changes under
 * it here, between two requests with the same JWT: each change must bite on the very next request.
 */
const key = randomBytes(32);
const pull = (repository: string): AccessNeed[] => [{ repository, actions: ['pull'] }];

async function setUp(t: TestContext) {
  const store = await createStateStore(join(await makeTempDir(t), 'state.json'));
  t.after(() => store.close());
  const audited: string[] = [];
  const audit = { record: async (event: { action: string }) => void audited.push(event.action) } as unknown as AuditLog;
  const credentials = {} as CredentialCheck; // Basic credentials are not sent here.
  const gate = createTokenGate({ store, jwtKey: key, service: 'berth', realm: () => 'http://127.0.0.1:5000/token', credentials, audit });
  const authorize = (jwt: string, needs: AccessNeed[]): Caller | Error => {
    const req = { headers: { authorization: `Bearer ${jwt}` }, socket: { remoteAddress: '127.0.0.1' }, method: 'GET' } as unknown as IncomingMessage;
    try {
      return gate.authorize(req, needs) as Caller;
    } catch (error) {
      return error as Error;
    }
  };
  return { store, gate, authorize, audited };
}

async function jwtFor(store: StateStore, name: string, scopes: string[], access: ResourceAccess[], expiresIn?: number) {
  const { record } = await createToken(store, { name, scopes, ...(expiresIn === undefined ? {} : { expiresIn }) });
  return issueBearerToken({ key, issuer: 'berth', service: 'berth', subject: { kind: 'token', record }, access }).token;
}

function status(outcome: Caller | Error): string {
  if (!(outcome instanceof Error)) return `ok ${outcome.name}`;
  const error = outcome as Error & { code?: string };
  return `${error.code ?? 'error'}: ${error.message}`;
}

test('a remembered decision ends with a revocation and with narrowed scopes, on the next request', async (t) => {
  const { store, authorize } = await setUp(t);
  const jwt = await jwtFor(store, 'ci', ['team/*:pull,push'], [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
  assert.equal(status(authorize(jwt, pull('team/app'))), 'ok ci');
  assert.equal(status(authorize(jwt, pull('team/app'))), 'ok ci', 'remembered');
  // Narrowed to another namespace: the same JWT is now DENIED (the identity can never pull team/app).
  await store.update((state) => {
    const record = state.tokens.find((token) => token.name === 'ci');
    if (record) record.scopes = [{ pattern: 'other/*', actions: ['pull'] }];
  });
  assert.match(status(authorize(jwt, pull('team/app'))), /^DENIED: ci may not pull team\/app/);
  await store.update((state) => {
    const record = state.tokens.find((token) => token.name === 'ci');
    if (record) record.scopes = [{ pattern: 'team/*', actions: ['pull'] }];
  });
  assert.equal(status(authorize(jwt, pull('team/app'))), 'ok ci');
  await revokeToken(store, 'ci');
  assert.match(status(authorize(jwt, pull('team/app'))), /^UNAUTHORIZED: access token revoked/);
});

test('a decision is for its needs: what was let through for pull says nothing about push or another repository', async (t) => {
  const { store, authorize } = await setUp(t);
  const jwt = await jwtFor(store, 'reader', ['team/*:pull,push'], [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
  assert.equal(status(authorize(jwt, pull('team/app'))), 'ok reader');
  assert.match(status(authorize(jwt, [{ repository: 'team/app', actions: ['push'] }])), /^UNAUTHORIZED: token does not cover push on team\/app/);
  assert.match(status(authorize(jwt, pull('team/other'))), /^UNAUTHORIZED: token does not cover pull on team\/other/);
  assert.equal(status(authorize(jwt, pull('team/app'))), 'ok reader');
});

test('a pull let through because the namespace was public ends when it is made private', async (t) => {
  const { store, authorize } = await setUp(t);
  await store.update((state) => {
    state.namespaces.push({ name: 'open', anonymousPull: true, createdAt: new Date().toISOString() });
  });
  // A JWT granted for something else: it may still pull what anyone may pull.
  const jwt = await jwtFor(store, 'elsewhere', ['team/*:pull'], [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
  assert.equal(status(authorize(jwt, pull('open/app'))), 'ok elsewhere');
  assert.equal(status(authorize(jwt, pull('open/app'))), 'ok elsewhere');
  await store.update((state) => {
    const ns = state.namespaces.find((n) => n.name === 'open');
    if (ns) ns.anonymousPull = false;
  });
  assert.match(status(authorize(jwt, pull('open/app'))), /^DENIED: elsewhere may not pull open\/app/);
});

test("a decision does not outlive the access token's expiry", async (t) => {
  const { store, authorize } = await setUp(t);
  const jwt = await jwtFor(store, 'brief', ['team/*:pull'], [{ type: 'repository', name: 'team/app', actions: ['pull'] }], 1500);
  assert.equal(status(authorize(jwt, pull('team/app'))), 'ok brief');
  await sleep(1600);
  assert.match(status(authorize(jwt, pull('team/app'))), /^UNAUTHORIZED: access token expired/);
});
