import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PinsResponse, PinView, RepositoriesResponse, RetentionResponse, RetentionRunResponse } from '../../registry/admin/contract.js';
import { makeImage } from '../support/oci-client.js';
import { assertAdminError, startAdminServer, type AdminServer } from './admin-fixture.js';

/**
 * The admin API's retention and pin routes against a real registry: rules saved and listed (and refused with
 * BERTH_RETENTION_INVALID when out of range or outside a mirror), pins added, listed and removed (and refused with
 * BERTH_PIN_INVALID / BERTH_PIN_NOT_FOUND), a preview and a run that agree, every change audited. And the usage
 * records retention reads: a repository's total pull count beside its last 7 days.
 */

let admin: AdminServer;
before(async () => {
  admin = await startAdminServer();
});
after(() => admin.close());

test('rules: saved per scope, listed, removed; out-of-range and non-mirror rules refused', async () => {
  const empty = await admin.api<RetentionResponse>('GET', '/api/retention');
  assert.equal(empty.status, 200);
  assert.deepEqual({ ...empty.body, policies: empty.body.policies }, { policies: [], everyHours: 24, mirrorNamespaces: [] });

  const saved = await admin.api('PUT', '/api/retention', { scope: 'rules', retention: { keepNewest: 3, orderBy: 'semver' } });
  assert.equal(saved.status, 200);
  assert.deepEqual(saved.body, { scope: 'rules', retention: { keepNewest: 3, orderBy: 'semver' } });
  const listed = await admin.api<RetentionResponse>('GET', '/api/retention');
  assert.deepEqual(listed.body.policies.map((policy) => [policy.scope, policy.retention]), [['rules', { keepNewest: 3, orderBy: 'semver' }]]);

  for (const [retention, message] of [
    [{ keepNewest: 0 }, /keep-newest must be a whole number from 1/],
    [{ untaggedDays: 'soon' }, /untagged-days/],
    [{ unpulledDays: 30 }, /"rules" is not a mirror namespace/],
    [{ keep: 1 }, /unknown retention rule/],
  ] as const) {
    const refused = assertAdminError(await admin.api('PUT', '/api/retention', { scope: 'rules', retention }), 400, 'BERTH_RETENTION_INVALID');
    assert.match(refused.error.message, message);
  }
  assertAdminError(await admin.api('PUT', '/api/retention', { scope: '../etc', retention: { keepNewest: 1 } }), 400, 'BERTH_RETENTION_INVALID');
  assertAdminError(await admin.api('POST', '/api/retention/run', { dryRun: 'yes' }), 400, 'BERTH_VALIDATION');
  assertAdminError(await admin.api('PUT', '/api/retention/schedule', { everyHours: -1 }), 400, 'BERTH_VALIDATION');
  assert.equal((await admin.api('PUT', '/api/retention/schedule', { everyHours: 6 })).status, 200);
  assert.equal((await admin.api<RetentionResponse>('GET', '/api/retention')).body.everyHours, 6);

  assert.equal((await admin.api('PUT', '/api/retention', { scope: 'rules', retention: null })).status, 200);
  assert.deepEqual((await admin.api<RetentionResponse>('GET', '/api/retention')).body.policies, []);
  const { events } = await admin.audit.query({ action: 'retention.set' });
  assert.equal(events.length, 2);
});

test('pins: added once, listed, removed; bad names and unknown pins refused', async () => {
  const first = await admin.api<PinView>('POST', '/api/pins', { repository: 'pins/app', reference: '1.0' });
  assert.equal(first.status, 201);
  assert.equal(first.body.by, 'admin');
  assert.equal((await admin.api('POST', '/api/pins', { repository: 'pins/app', reference: '1.0' })).status, 200, 'pinning twice changes nothing');
  assertAdminError(await admin.api('POST', '/api/pins', { repository: 'Pins/../x', reference: '1.0' }), 400, 'BERTH_PIN_INVALID');
  assertAdminError(await admin.api('POST', '/api/pins', { repository: 'pins/app', reference: 'a b' }), 400, 'BERTH_PIN_INVALID');
  const listed = await admin.api<PinsResponse>('GET', '/api/pins?repository=pins/app');
  assert.deepEqual(listed.body.pins.map((pin) => pin.reference), ['1.0']);
  assert.equal((await admin.api('DELETE', '/api/pins?repository=pins/app&reference=1.0')).status, 200);
  assertAdminError(await admin.api('DELETE', '/api/pins?repository=pins/app&reference=1.0'), 404, 'BERTH_PIN_NOT_FOUND');
  const { events } = await admin.audit.query({ action: 'pin.*' });
  assert.deepEqual(events.map((event) => event.action), ['pin.add', 'pin.remove']);
});

test('a preview and a run over the same content agree; the run audits each removal; repositories report their pull totals', async () => {
  const repository = 'keep/app';
  for (const tag of ['1', '2', '3']) await makeImage(admin.url, repository, { tag });
  for (let i = 0; i < 3; i += 1) assert.equal((await fetch(`${admin.url}/v2/${repository}/manifests/3`)).status, 200);
  await admin.api('POST', '/api/pins', { repository, reference: '1' });
  await admin.api('PUT', '/api/retention', { scope: 'keep', retention: { keepNewest: 1 } });

  const preview = await admin.api<RetentionRunResponse>('POST', '/api/retention/run', { dryRun: true, scope: 'keep' });
  assert.equal(preview.status, 200);
  assert.deepEqual(preview.body.removals.map((removal) => `${removal.kind} ${removal.reference}`), ['tag 2']);
  assert.deepEqual(preview.body.spared.map((spared) => `${spared.reference} ${spared.why}`), ['1 pinned']);
  const run = await admin.api<RetentionRunResponse>('POST', '/api/retention/run', { dryRun: false, scope: 'keep' });
  assert.deepEqual(run.body.removals, preview.body.removals);
  assert.equal((await fetch(`${admin.url}/v2/${repository}/manifests/2`)).status, 404);
  const { events } = await admin.audit.query({ action: 'retention.remove' });
  assert.deepEqual(events.map((event) => [event.actor, event.repository, event.reference]), [['admin', repository, '2']]);

  const { body } = await admin.api<RepositoriesResponse>('GET', '/api/repositories?namespace=keep');
  assert.deepEqual(body.repositories.map((entry) => [entry.name, entry.pullCount, entry.pullsLast7Days]), [[repository, 3, 3]]);
});
