import assert from 'node:assert/strict';
import { cp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createRegistry } from '../../registry/index.js';
import type { StorageDriver } from '../../registry/storage/driver.js';
import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { makeArtifact, makeImage, nextLink, pushManifest, request, uniqueRepo } from '../support/oci-client.js';
import { startRegistry, type RunningRegistry } from '../support/registry-server.js';

/**
 * The metadata index behind tags/list and _catalog: pages in order across it, rebuilt when deleted or of another
 * schema version, and repaired by the verify when link files change behind its back.
 */

interface TagList {
  name: string;
  tags: string[];
}

async function getJson<T>(reg: RunningRegistry, path: string): Promise<{ body: T; link: string | null }> {
  const response = await request('GET', `${reg.url}${path}`, { expected: 200 });
  return { body: (await response.json()) as T, link: response.headers.get('link') };
}

/** Follows Link rel="next" from `path` to the end; every page holds at most `n`. */
async function walkPages(reg: RunningRegistry, path: string, n: number, key: 'tags' | 'repositories'): Promise<{ items: string[]; pages: number }> {
  const items: string[] = [];
  let url: URL | undefined = new URL(`${reg.url}${path}`);
  let pages = 0;
  while (url) {
    const page: { body: Record<string, string[]>; link: string | null } = await getJson(reg, `${url.pathname}${url.search}`);
    const got = page.body[key] ?? [];
    assert.ok(got.length <= n, `a page of ${got.length} > n=${n}`);
    items.push(...got);
    pages += 1;
    url = nextLink(reg.url, page.link);
    if (url) assert.equal(url.searchParams.get('last'), got.at(-1), 'last carries the final item of the page');
    assert.ok(pages < 1000, 'pagination never ended');
  }
  return { items, pages };
}

const tagPath = (reg: RunningRegistry, repo: string, tag: string) =>
  join(reg.dataDir, 'repositories', ...repo.split('/'), '_manifests', 'tags', tag);

describe('metadata index', () => {
  it('pages tags/list and _catalog across the index in lexical order with n, last and Link', async (t) => {
    const reg = await startRegistry(t);
    const repo = uniqueRepo('paged');
    const image = await makeImage(reg.url, repo);
    // 250 tags whose lexical order differs from the push order.
    const tags = Array.from({ length: 250 }, (_, i) => `t${(i * 7919) % 250}`);
    for (const tag of tags) await pushManifest(reg.url, repo, tag, image.bytes, image.mediaType);
    await reg.registry.checkIndex();
    assert.equal(await reg.registry.index.isReady(), true);

    const sorted = [...tags].sort();
    const walked = await walkPages(reg, `/v2/${repo}/tags/list?n=100`, 100, 'tags');
    assert.deepEqual(walked.items, sorted);
    assert.equal(walked.pages, 3);
    assert.deepEqual((await getJson<TagList>(reg, `/v2/${repo}/tags/list?n=3&last=${sorted[10]}`)).body.tags, sorted.slice(11, 14));
    assert.deepEqual((await getJson<TagList>(reg, `/v2/${repo}/tags/list`)).body.tags, sorted);
    const exact = await getJson<TagList>(reg, `/v2/${repo}/tags/list?n=50&last=${sorted[199]}`);
    assert.equal(exact.body.tags.length, 50);
    assert.equal(exact.link, null, 'no Link after the last full page');

    const names = ['idx/c', 'idx/a', 'idx/b/x', 'idx/b'];
    for (const name of names) await makeImage(reg.url, name);
    const catalog = await walkPages(reg, '/v2/_catalog?n=2', 2, 'repositories');
    assert.deepEqual(catalog.items, [...names, repo].sort());
  });

  it('is rebuilt after it was deleted: listings are right at once (from the files) and after the build', async (t) => {
    const reg = await startRegistry(t);
    const repo = uniqueRepo('rebuilt');
    const image = await makeImage(reg.url, repo);
    for (const tag of ['b', 'a', 'c']) await pushManifest(reg.url, repo, tag, image.bytes, image.mediaType);
    const signature = await makeArtifact(reg.url, repo, { artifactType: 'application/vnd.example.signature', subject: image.descriptor });
    await reg.registry.checkIndex();
    await reg.registry.close();
    await rm(join(reg.dataDir, 'index'), { recursive: true });
    await reg.restart();
    assert.deepEqual((await getJson<TagList>(reg, `/v2/${repo}/tags/list?n=2`)).body.tags, ['a', 'b']);
    await reg.registry.checkIndex();
    assert.equal(await reg.registry.index.isReady(), true);
    assert.deepEqual((await getJson<TagList>(reg, `/v2/${repo}/tags/list?n=2&last=a`)).body.tags, ['b', 'c']);
    assert.deepEqual((await getJson<{ repositories: string[] }>(reg, '/v2/_catalog')).body.repositories, [repo]);
    // Referrers come back from their link files too (the rebuild lists only the folders that exist).
    const referrers = await getJson<{ manifests: Array<{ digest: string }> }>(reg, `/v2/${repo}/referrers/${image.digest}`);
    assert.deepEqual(referrers.body.manifests.map((descriptor) => descriptor.digest), [signature.digest]);
    // Owner-only, like every other file of the data directory.
    assert.equal((await stat(join(reg.dataDir, 'index'))).mode & 0o777, 0o700);
    assert.equal((await stat(join(reg.dataDir, 'index', 'repositories.sqlite'))).mode & 0o777, 0o600);
  });

  it('is rebuilt when it was written by another schema version', async (t) => {
    const reg = await startRegistry(t);
    const repo = uniqueRepo('schema');
    const image = await makeImage(reg.url, repo);
    await pushManifest(reg.url, repo, 'v1', image.bytes, image.mediaType);
    await reg.registry.checkIndex();
    await reg.registry.close();
    const db = new Database(join(reg.dataDir, 'index', 'repositories.sqlite'));
    db.prepare("UPDATE meta SET value = '0' WHERE key = 'schema'").run();
    db.prepare('DELETE FROM tags').run();
    db.close();
    await reg.restart();
    await reg.registry.checkIndex();
    assert.deepEqual((await getJson<TagList>(reg, `/v2/${repo}/tags/list`)).body.tags, ['v1']);
  });

  it('is repaired by the verify when link files change behind its back', async (t) => {
    const reg = await startRegistry(t);
    const repo = uniqueRepo('repair');
    const image = await makeImage(reg.url, repo);
    for (const tag of ['keep', 'gone']) await pushManifest(reg.url, repo, tag, image.bytes, image.mediaType);
    await reg.registry.checkIndex();
    // Another tool removes one tag and adds another by copying link files, without telling Berth.
    await rm(tagPath(reg, repo, 'gone'), { recursive: true });
    await cp(tagPath(reg, repo, 'keep'), tagPath(reg, repo, 'added'), { recursive: true });
    const result = await reg.registry.checkIndex();
    assert.equal(result.repaired, 1);
    assert.deepEqual((await getJson<TagList>(reg, `/v2/${repo}/tags/list`)).body.tags, ['added', 'keep']);
    // A repository folder removed behind its back leaves the catalog; the next check finds nothing to repair.
    await rm(join(reg.dataDir, 'repositories', ...repo.split('/')), { recursive: true });
    await reg.registry.checkIndex();
    assert.deepEqual((await getJson<{ repositories: string[] }>(reg, '/v2/_catalog')).body.repositories, []);
    assert.equal((await reg.registry.checkIndex()).repaired, 0);
  });

  it('verifies at start: a change made while Berth was stopped is repaired without a call', async (t) => {
    const reg = await startRegistry(t);
    const repo = uniqueRepo('offline');
    const image = await makeImage(reg.url, repo);
    for (const tag of ['one', 'two']) await pushManifest(reg.url, repo, tag, image.bytes, image.mediaType);
    await reg.registry.checkIndex();
    await reg.registry.close();
    await rm(tagPath(reg, repo, 'two'), { recursive: true });
    await reg.restart();
    // checkIndex() runs after the start-up check: finding nothing left to repair shows that one did it.
    assert.equal((await reg.registry.checkIndex()).repaired, 0);
    assert.deepEqual((await getJson<TagList>(reg, `/v2/${repo}/tags/list`)).body.tags, ['one']);
  });

  it('answers /v2/ and listings (from the files) while the index is still being built', async (t) => {
    const reg = await startRegistry(t);
    const repo = uniqueRepo('early');
    const image = await makeImage(reg.url, repo);
    for (const tag of ['x', 'y']) await pushManifest(reg.url, repo, tag, image.bytes, image.mediaType);
    await reg.registry.close();
    await rm(join(reg.dataDir, 'index'), { recursive: true });
    // The build's first step (the walk of /repositories) waits until released: a store too big to build quickly.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const real = createFilesystemDriver(reg.dataDir);
    const slow: StorageDriver = { ...real, list: async (path) => (path === '/repositories' ? held.then(() => real.list(path)) : real.list(path)) };
    const registry = await createRegistry({ dataDir: reg.dataDir, driver: slow, garbageCollection: false });
    t.after(() => registry.close(0));
    const { url } = await registry.listen({ host: '127.0.0.1', port: 0 });
    assert.equal((await request('GET', `${url}/v2/`, { expected: 200 })).status, 200);
    assert.equal(await registry.index.isReady(), false, 'the build is still waiting');
    const early = (await (await request('GET', `${url}/v2/${repo}/tags/list?n=1`, { expected: 200 })).json()) as TagList;
    assert.deepEqual(early.tags, ['x']);
    release();
    await registry.checkIndex();
    assert.equal(await registry.index.isReady(), true);
    const later = (await (await request('GET', `${url}/v2/${repo}/tags/list?n=1&last=x`, { expected: 200 })).json()) as TagList;
    assert.deepEqual(later.tags, ['y']);
  });
});
