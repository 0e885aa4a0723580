import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditResponse, EncryptionRotateResponse, EncryptionStatusResponse } from '../../registry/admin/contract.js';
import { sha256 } from '../support/oci-client.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { startAdminServer, type AdminServer } from './admin-fixture.js';

/**
 * Encryption at rest through the admin API (the GUI's Settings): status, enable (existing blobs encrypted in the
 * background while the server serves them), rotate; each audited. The registry here serves the storage through the
 * encrypting layer, as `berth serve` does.
 */

let admin: AdminServer;
let keysDir: string;
before(async () => {
  keysDir = await createTempDir('berth-admin-keys-');
  admin = await startAdminServer({ keyRingFile: join(keysDir, 'ring.json') });
});
after(async () => {
  await admin.close();
  await removeDir(keysDir);
});

const marker = Buffer.from('ADMIN-ENCRYPTION-MARKER-91d2');

function content(size: number): Buffer {
  const bytes = randomBytes(size);
  for (let at = 0; at + marker.length <= size; at += 1000) marker.copy(bytes, at);
  return bytes;
}

async function pushBlob(bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const response = await fetch(`${admin.url}/v2/team/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  await response.arrayBuffer();
  assert.equal(response.status, 201);
  return digest;
}

async function filesUnder(dir: string): Promise<Buffer[]> {
  const found: Buffer[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) found.push(await readFile(join(entry.parentPath, entry.name)));
  }
  return found;
}

describe('encryption API', () => {
  it('reports off, enables (existing blobs encrypted in the background), serves them byte-exact, rotates; audited', async () => {
    const before = await admin.api<EncryptionStatusResponse>('GET', '/api/encryption');
    assert.equal(before.status, 200);
    assert.equal(before.body.enabled, false);
    assert.equal(before.body.keyRing.activeKey, undefined);
    assert.match(before.body.keyRing.source, /ring\.json/);

    const blobs = [content(300_000), content(10)];
    const digests = await Promise.all(blobs.map(pushBlob));
    assert.deepEqual((await admin.api<EncryptionStatusResponse>('GET', '/api/encryption')).body.blobs, { encrypted: 0, plaintext: 2 });

    const enabled = await admin.api<EncryptionStatusResponse>('POST', '/api/encryption/enable');
    assert.equal(enabled.status, 202);
    assert.equal(enabled.body.enabled, true);
    assert.match(enabled.body.keyRing.activeKey ?? '', /^mk-[0-9a-f]{16}$/);
    let status = enabled.body;
    for (let tries = 0; status.pass?.running && tries < 200; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = (await admin.api<EncryptionStatusResponse>('GET', '/api/encryption')).body;
    }
    assert.deepEqual(status.pass, { running: false, encrypted: 2 });
    assert.deepEqual(status.blobs, { encrypted: 2, plaintext: 0 });

    // Written after enable: encrypted from the start.
    const later = content(70_000);
    const laterDigest = await pushBlob(later);
    for (const stored of await filesUnder(join(admin.dataDir, 'blobs'))) assert.equal(stored.indexOf(marker), -1, 'no plaintext in a blob file');
    for (const [index, digest] of [...digests, laterDigest].entries()) {
      const response = await fetch(`${admin.url}/v2/team/app/blobs/${digest}`);
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), [...blobs, later][index]);
    }

    const rotated = await admin.api<EncryptionRotateResponse>('POST', '/api/encryption/rotate');
    assert.equal(rotated.status, 200);
    assert.equal(rotated.body.previousKey, enabled.body.keyRing.activeKey);
    assert.notEqual(rotated.body.activeKey, rotated.body.previousKey);
    assert.equal(rotated.body.rewrapped, 3);
    assert.deepEqual(rotated.body.dropped, [rotated.body.previousKey]);
    const response = await fetch(`${admin.url}/v2/team/app/blobs/${digests[0]}`, { headers: { range: 'bytes=262000-262300' } });
    assert.equal(response.status, 206);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), blobs[0]?.subarray(262000, 262301));

    const audit = await admin.api<AuditResponse>('GET', '/api/audit?action=storage.encryption.*');
    assert.deepEqual(audit.body.events.map((event) => event.action).sort(), ['storage.encryption.enable', 'storage.encryption.rotate']);
  });
});
