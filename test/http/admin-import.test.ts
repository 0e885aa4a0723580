import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AdminEvent, ImportArchiveResponse } from '../../registry/admin/contract.js';
import { berthCliOk } from '../e2e/mirror-fixture.js';
import { skopeoCopy } from '../e2e/skopeo.js';
import { corruptArchive } from '../e2e/transfer-fixture.js';
import { signInAsAdmin } from '../support/berth-admin.js';
import { startBerth } from '../support/berth-process.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';

/**
 * POST /api/images/import on a Berth with default settings: only a signed-in session with the CSRF header may
 * import; the archive streams in, `import.progress` events report uploading, checking and storing, and
 * `import.finished` the outcome; a damaged archive is a 400 BERTH_ARCHIVE_INVALID naming the entry; the uploaded
 * copy is removed either way.
 */

type ImportEvent = Extract<AdminEvent, { type: 'import.progress' | 'import.finished' }>;

/** Reads /api/events in the background, keeping the import events. */
async function collectImportEvents(url: string, cookie: string) {
  const controller = new AbortController();
  const response = await fetch(`${url}/api/events`, { headers: { cookie }, signal: controller.signal });
  assert.equal(response.status, 200);
  const events: ImportEvent[] = [];
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const data = buffer.slice(0, end).split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
          buffer = buffer.slice(end + 2);
          const event = data ? (JSON.parse(data) as AdminEvent) : undefined;
          if (event?.type === 'import.progress' || event?.type === 'import.finished') events.push(event);
        }
      }
    } catch {
      // Aborted at the end of the test.
    }
  })();
  return {
    events,
    async close() {
      controller.abort();
      await reading;
    },
  };
}

test('POST /api/images/import: guarded, streamed, progress on the event stream, a damaged archive refused by name', { skip: toolSkipReason('skopeo'), timeout: 180_000 }, async (t) => {
  requireTools('skopeo');
  const work = await makeTempDir(t, 'berth-admin-import-');
  const dataDir = join(work, 'data');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const image = await createImageLayout(join(work, 'app'), { tag: '1', layers: [{ bytes: 2 * 1024 * 1024 }] });
  const archive = join(work, 'app.tar');
  await skopeoCopy(image.ref, `oci-archive:${archive}:team/app:1`, ['--preserve-digests']);
  const bytes = await readFile(archive);
  const endpoint = `${berth.url}/api/images/import?name=app.tar`;
  const post = (headers: Record<string, string>, body: Buffer = bytes) => fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-tar', ...headers }, body });

  const anonymous = await post({ 'x-berth-admin': '1' });
  assert.equal(anonymous.status, 401);
  const cookie = await signInAsAdmin(berth);
  const forged = await post({ cookie });
  assert.equal(forged.status, 403, 'a cross-site form cannot send the CSRF header');
  assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'BERTH_ADMIN_CSRF');

  const feed = await collectImportEvents(berth.url, cookie);
  const answer = await post({ cookie, 'x-berth-admin': '1' });
  assert.equal(answer.status, 200);
  const result = (await answer.json()) as ImportArchiveResponse;
  assert.deepEqual(result.images.map((i) => `${i.repository}:${i.tag} ${i.digest}`), [`team/app:1 ${image.manifestDigest}`]);
  assert.equal(result.blobsStored, 2);

  const layer = image.layers[0]?.digest as string;
  await corruptArchive(archive, join(work, 'bad.tar'), `blobs/sha256/${layer.slice(7)}`);
  const refusedAnswer = await fetch(`${berth.url}/api/images/import?name=../../bad.tar&repository=team/other`, {
    method: 'POST',
    headers: { cookie, 'x-berth-admin': '1', 'content-type': 'application/x-tar' },
    body: await readFile(join(work, 'bad.tar')),
  });
  assert.equal(refusedAnswer.status, 400);
  const refused = (await refusedAnswer.json()) as { error: { code: string; message: string } };
  assert.equal(refused.error.code, 'BERTH_ARCHIVE_INVALID');
  assert.match(refused.error.message, new RegExp(`archive entry blobs/sha256/${layer.slice(7)} holds content with digest`));

  for (let i = 0; i < 100 && !feed.events.some((e) => e.type === 'import.finished' && !e.ok); i += 1) await new Promise((r) => setTimeout(r, 50));
  await feed.close();
  const good = feed.events.filter((e) => e.archive === 'app.tar');
  const phases = [...new Set(good.flatMap((e) => (e.type === 'import.progress' ? [e.phase] : [])))];
  assert.deepEqual(phases, ['uploading', 'checking', 'storing'], 'progress in order: upload, digest check, storing');
  const lastUpload = good.filter((e) => e.type === 'import.progress' && e.phase === 'uploading').at(-1);
  assert.deepEqual(lastUpload && lastUpload.type === 'import.progress' && [lastUpload.bytes, lastUpload.total], [bytes.length, bytes.length]);
  assert.deepEqual(good.filter((e) => e.type === 'import.finished').map((e) => e.type === 'import.finished' && `${e.ok} ${e.message}`), ['true imported team/app:1']);
  // The uploaded name is only a label: a path in it is reduced to its base name.
  assert.ok(feed.events.some((e) => e.type === 'import.finished' && !e.ok && e.archive === 'bad.tar'));

  assert.deepEqual(await readdir(join(dataDir, 'import-uploads')), [], 'no uploaded copy is left');
  const listed = JSON.parse(await berthCliOk(['image', 'list', '--json', '--data', dataDir])) as Array<{ repository: string }>;
  assert.deepEqual(listed.map((r) => r.repository), ['team/app']);
});
