import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sha256 } from '../support/oci-client.js';
import { pushBlob, send, startDefaultBerth } from './default-berth.js';

/**
 * A cross-repository mount (`POST /v2/B/blobs/uploads/?mount=D&from=A`) racing deletes of the blob: from the
 * source (DELETE /v2/A/blobs/D) and from the target itself (DELETE /v2/B/blobs/D removes the folder the mount is
 * writing its link into; that was a 500 from an ENOENT). Every answer is one the spec allows: 201 (mounted) or 202
 * (an upload session instead), and after a 201 the blob is really there unless the target's delete came after it.
 */
const rounds = 150;

test('cross-repository mounts racing deletes of the source and target blob never answer 5xx (default token auth)', { timeout: 300_000 }, async (t) => {
  const { client } = await startDefaultBerth(t);
  const statuses = new Map<string, number>();
  const count = (what: string, status: number) => statuses.set(`${what} ${status}`, (statuses.get(`${what} ${status}`) ?? 0) + 1);
  for (let round = 0; round < rounds; round++) {
    const bytes = randomBytes(512);
    const digest = sha256(bytes);
    const source = `mount/source-${round % 5}`;
    const target = `mount/target-${round % 5}`;
    await pushBlob(client, source, bytes);
    // The target had the blob once (so its link folder exists and its DELETE removes it) on every other round.
    if (round % 2 === 0) await pushBlob(client, target, bytes);
    // Each request leaves after a random moment, so every order of the three occurs.
    const after = async (request: () => Promise<Response>) => {
      await sleep(Math.random() * 4);
      return request();
    };
    const [mount, deleteSource, deleteTarget] = await Promise.all([
      after(() => send(client, 'POST', `/v2/${target}/blobs/uploads/?mount=${digest}&from=${source}`)),
      after(() => send(client, 'DELETE', `/v2/${source}/blobs/${digest}`)),
      after(() => send(client, 'DELETE', `/v2/${target}/blobs/${digest}`)),
    ]);
    const mountText = await mount.text();
    await deleteSource.arrayBuffer();
    await deleteTarget.arrayBuffer();
    count('mount', mount.status);
    count('delete source', deleteSource.status);
    count('delete target', deleteTarget.status);
    assert.ok(mount.status === 201 || mount.status === 202, `round ${round}: mount answered ${mount.status} ${mountText}`);
    assert.ok([202, 404].includes(deleteSource.status), `round ${round}: source DELETE answered ${deleteSource.status}`);
    assert.ok([202, 404].includes(deleteTarget.status), `round ${round}: target DELETE answered ${deleteTarget.status}`);
    if (mount.status === 202) {
      // A real session the client can upload into.
      const location = mount.headers.get('location');
      assert.ok(location, 'a 202 names its upload session');
      const finish = await send(client, 'PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, bytes, { 'content-type': 'application/octet-stream' });
      const text = await finish.text();
      assert.equal(finish.status, 201, `round ${round}: the fallback upload: ${text}`);
    }
  }
  t.diagnostic(`${rounds} rounds: ${[...statuses].map(([what, n]) => `${what}: ${n}`).join(', ')}`);
});
