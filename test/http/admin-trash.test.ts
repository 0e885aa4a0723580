import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type {
  AuditResponse,
  Namespace,
  DeleteManifestResponse,
  DeleteRepositoryResponse,
  EmptyTrashResponse,
  RestoreTrashResponse,
  TrashDaysResponse,
  TrashResponse,
} from '../../registry/admin/contract.js';
import { makeArtifact, makeImage, mediaTypes, request } from '../support/oci-client.js';
import { assertAdminError, startAdminServer, type AdminServer } from './admin-fixture.js';

/**
 * The trash through the admin API (what the GUI's Trash page uses): every delete answers with its entry, the list,
 * restore with its refusals in the contract's error shape, emptying, each namespace's trash days, and the audit trail.
 */

let admin: AdminServer;
before(async () => {
  admin = await startAdminServer();
});
after(() => admin.close());

const q = encodeURIComponent;
const day = 86_400_000;

async function manifestStatus(repository: string, reference: string): Promise<number> {
  const response = await request('GET', `${admin.url}/v2/${repository}/manifests/${reference}`, { headers: { accept: mediaTypes.ociManifest } });
  await response.arrayBuffer();
  return response.status;
}

describe('the trash over the admin API', () => {
  it('a manifest deleted in the GUI goes to the trash with its referrer, is listed, and is restored with both', async () => {
    const image = await makeImage(admin.url, 'shop/app', { tag: '1', layers: 2 });
    const sbom = await makeArtifact(admin.url, 'shop/app', { artifactType: 'application/spdx+json', subject: image.descriptor });
    const deleted = await admin.api<DeleteManifestResponse>('DELETE', `/api/manifests?repository=shop/app&reference=${q(image.digest)}`);
    assert.equal(deleted.status, 200);
    assert.equal(deleted.body.deleted, 'manifest');
    assert.match(deleted.body.trashEntry, /^[0-9a-f]{16}$/);
    assert.equal(Date.parse(deleted.body.expiresAt) - Date.now() > 29 * day, true, 'kept 30 days by default');
    assert.equal(await manifestStatus('shop/app', '1'), 404);
    assert.equal(await manifestStatus('shop/app', sbom.digest), 404);

    const listed = await admin.api<TrashResponse>('GET', '/api/trash?namespace=shop');
    assert.equal(listed.status, 200);
    const [entry] = listed.body.entries;
    assert.equal(entry?.id, deleted.body.trashEntry);
    assert.deepEqual(entry?.manifests.map((manifest) => manifest.digest), [image.digest, sbom.digest]);
    assert.deepEqual(entry?.manifests[0]?.tags, ['1']);
    assert.equal(entry?.deletedBy, 'admin');
    assert.equal(entry?.expired, false);
    assert.deepEqual((await admin.api<TrashResponse>('GET', '/api/trash?namespace=other')).body.entries, []);

    const restored = await admin.api<RestoreTrashResponse>('POST', `/api/trash/${deleted.body.trashEntry}/restore`, {});
    assert.equal(restored.status, 200);
    assert.deepEqual(restored.body, { id: deleted.body.trashEntry, repository: 'shop/app', tags: ['1'], manifestsRestored: 2 });
    assert.equal(await manifestStatus('shop/app', '1'), 200);
    assert.equal(await manifestStatus('shop/app', sbom.digest), 200);
    assert.deepEqual((await admin.api<TrashResponse>('GET', '/api/trash?namespace=shop')).body.entries, []);

    const audit = await admin.api<AuditResponse>('GET', '/api/audit?action=trash.restore');
    assert.equal(audit.body.events.length, 1);
    assert.equal(audit.body.events[0]?.repository, 'shop/app');
    assert.deepEqual(audit.body.events[0]?.detail, { trashEntry: deleted.body.trashEntry, tags: ['1'], manifestsRestored: 2, force: false });
  });

  it('refuses in the contract\'s terms: a moved tag (409), an unknown or malformed id (404), bad options (400); a refusal changes nothing', async () => {
    const first = await makeImage(admin.url, 'shop/web', { tag: 'live' });
    const deleted = await admin.api<DeleteManifestResponse>('DELETE', '/api/manifests?repository=shop/web&reference=live');
    assert.equal(deleted.body.deleted, 'tag');
    const second = await makeImage(admin.url, 'shop/web', { tag: 'live' });
    const taken = assertAdminError(await admin.api('POST', `/api/trash/${deleted.body.trashEntry}/restore`, {}), 409, 'BERTH_TRASH_TAG_TAKEN');
    assert.match(taken.error.message, /shop\/web:live now names another manifest/);
    assert.match(taken.error.hint ?? '', /force/);
    const live = await request('GET', `${admin.url}/v2/shop/web/manifests/live`, { headers: { accept: mediaTypes.ociManifest } });
    assert.equal(live.headers.get('docker-content-digest'), second.digest);
    assertAdminError(await admin.api('POST', `/api/trash/${deleted.body.trashEntry}/restore`, { as: 'not a tag!' }), 400, 'BERTH_TRASH_INVALID');
    assertAdminError(await admin.api('POST', `/api/trash/${deleted.body.trashEntry}/restore`, { force: 'yes' }), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('POST', '/api/trash/0000000000000000/restore', {}), 404, 'BERTH_TRASH_ENTRY_NOT_FOUND');
    assertAdminError(await admin.api('POST', '/api/trash/..%2F..%2Fstate/restore', {}), 404, 'BERTH_TRASH_ENTRY_NOT_FOUND');
    assertAdminError(await admin.api('POST', `/api/trash/${deleted.body.trashEntry}/restore`, undefined, { 'x-berth-admin': '0' }), 403, 'BERTH_ADMIN_CSRF');

    const forced = await admin.api<RestoreTrashResponse>('POST', `/api/trash/${deleted.body.trashEntry}/restore`, { force: true });
    assert.equal(forced.status, 200);
    const back = await request('GET', `${admin.url}/v2/shop/web/manifests/live`, { headers: { accept: mediaTypes.ociManifest } });
    assert.ok(Buffer.from(await back.arrayBuffer()).equals(first.bytes));
  });

  it('a namespace\'s trash days set the expiry of its deletes; an expired entry cannot be restored and is emptied with expiredOnly', async () => {
    assertAdminError(await admin.api('PUT', '/api/trash/days', { namespace: 'tmp', days: -1 }), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('PUT', '/api/trash/days', { namespace: 'a/b', days: 3 }), 400, 'BERTH_TRASH_INVALID');
    assert.deepEqual((await admin.api('PUT', '/api/trash/days', { namespace: 'tmp', days: 0 })).body, { namespace: 'tmp', days: 0 });
    assert.equal(admin.state.read().policies.find((policy) => policy.scope === 'tmp')?.trashDays, 0, 'stored in the lifecycle policy');
    assert.equal((await admin.api('POST', '/api/namespaces', { name: 'shop' })).status, 201);
    const days = await admin.api<TrashDaysResponse>('GET', '/api/trash/days');
    assert.deepEqual(days.body, {
      defaultDays: 30,
      namespaces: [
        { namespace: 'shop', days: 30, isDefault: true },
        { namespace: 'tmp', days: 0, isDefault: false },
      ],
    });
    await makeImage(admin.url, 'tmp/scratch', { tag: 'x' });
    await makeImage(admin.url, 'shop/keep', { tag: 'x' });
    const gone = await admin.api<DeleteRepositoryResponse>('DELETE', '/api/repositories?repository=tmp/scratch');
    assert.equal(gone.status, 200);
    assert.deepEqual([gone.body.tags, gone.body.manifests], [1, 1]);
    assert.ok(Date.parse(gone.body.expiresAt) <= Date.now());
    const kept = await admin.api<DeleteRepositoryResponse>('DELETE', '/api/repositories?repository=shop/keep');

    const listed = (await admin.api<TrashResponse>('GET', '/api/trash')).body.entries;
    assert.equal(listed.find((entry) => entry.id === gone.body.trashEntry)?.expired, true);
    assert.deepEqual(listed.find((entry) => entry.id === gone.body.trashEntry)?.deleted, { kind: 'repository' });
    assertAdminError(await admin.api('POST', `/api/trash/${gone.body.trashEntry}/restore`, {}), 410, 'BERTH_TRASH_EXPIRED');

    const emptied = await admin.api<EmptyTrashResponse>('DELETE', '/api/trash?expiredOnly=true');
    assert.deepEqual(emptied.body, { removed: 1 });
    const left = (await admin.api<TrashResponse>('GET', '/api/trash')).body.entries.map((entry) => entry.id);
    assert.ok(left.includes(kept.body.trashEntry) && !left.includes(gone.body.trashEntry), 'only the expired entry went');
    const audit = await admin.api<AuditResponse>('GET', '/api/audit?action=trash.empty');
    assert.deepEqual(audit.body.events.at(-1)?.detail, { removed: 1, expiredOnly: true, entries: [gone.body.trashEntry] });
    const daysAudit = await admin.api<AuditResponse>('GET', '/api/audit?action=trash.days');
    assert.deepEqual(daysAudit.body.events.at(-1)?.detail, { days: 0, was: 30 });

    // Emptying a namespace drops its entries for good, restorable or not.
    assert.deepEqual((await admin.api<EmptyTrashResponse>('DELETE', '/api/trash?namespace=shop')).body.removed >= 1, true);
    assert.deepEqual((await admin.api<TrashResponse>('GET', '/api/trash?namespace=shop')).body.entries, []);
    assertAdminError(await admin.api('GET', '/api/trash?namespace=..%2Fetc'), 400, 'BERTH_VALIDATION');
  });
  it('a forced restore never moves a tag that an immutable pattern now holds: refused as a push would be, nothing changed', async () => {
    await makeImage(admin.url, 'frozen/app', { tag: 'v1' });
    const deleted = await admin.api<DeleteManifestResponse>('DELETE', '/api/manifests?repository=frozen/app&reference=v1');
    const second = await makeImage(admin.url, 'frozen/app', { tag: 'v1' });
    assert.equal((await admin.api('POST', '/api/namespaces', { name: 'frozen' })).status, 201);
    assert.equal((await admin.api('PUT', '/api/namespaces/frozen/immutable-tags', { patterns: ['v*'] })).status, 200);
    const refused = await admin.api<{ error: { message: string } }>('POST', `/api/trash/${deleted.body.trashEntry}/restore`, { force: true });
    assert.equal(refused.status, 403);
    assert.match(refused.body.error.message, /immutable/);
    const live = await request('GET', `${admin.url}/v2/frozen/app/manifests/v1`, { headers: { accept: mediaTypes.ociManifest } });
    assert.equal(live.headers.get('docker-content-digest'), second.digest, 'the tag stays where it was pushed');
    // Restored under another tag instead, as the refusal allows.
    assert.equal((await admin.api('POST', `/api/trash/${deleted.body.trashEntry}/restore`, { as: 'old-v1' })).status, 200);
  });

  it('a restore that would pass the namespace storage quota is refused as a push would be, with the usage; nothing is restored; within the quota it works', async () => {
    const usage = async () => (await admin.api<{ namespaces: Namespace[] }>('GET', '/api/namespaces')).body.namespaces.find((ns) => ns.name === 'full')?.usage.storageBytes;
    const image = await makeImage(admin.url, 'full/app', { tag: '1', layers: 1 });
    assert.equal((await admin.api('POST', '/api/namespaces', { name: 'full' })).status, 201);
    const deleted = await admin.api<DeleteManifestResponse>('DELETE', `/api/manifests?repository=full/app&reference=${q(image.digest)}`);
    assert.equal(deleted.status, 200);
    const inTrash = await usage();
    assert.ok(inTrash !== undefined && inTrash > 0, 'the trashed layers still count');
    // The namespace is full: the restore needs at least the manifest, which the namespace no longer links.
    assert.equal((await admin.api('PUT', '/api/namespaces/full/quota', { storageBytes: inTrash })).status, 200);
    const refused = await admin.api<{ error: { message: string } }>('POST', `/api/trash/${deleted.body.trashEntry}/restore`, {});
    assert.equal(refused.status, 403);
    assert.match(refused.body.error.message, /namespace "full" is over its storage quota: .* used of .*, this restore needs \d+ B/);
    assert.equal(await manifestStatus('full/app', '1'), 404, 'nothing restored');
    assert.equal((await admin.api<TrashResponse>('GET', '/api/trash?namespace=full')).body.entries.length, 1, 'the entry stays');

    assert.equal((await admin.api('PUT', '/api/namespaces/full/quota', { storageBytes: inTrash + 100_000 })).status, 200);
    assert.equal((await admin.api('POST', `/api/trash/${deleted.body.trashEntry}/restore`, {})).status, 200);
    assert.equal(await manifestStatus('full/app', '1'), 200);
    assert.ok(((await usage()) ?? 0) > inTrash, 'the restored manifest counts again');
  });
});
