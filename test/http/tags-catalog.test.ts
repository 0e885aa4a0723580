import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertOciError, makeImage, nextLink, pushManifest, request, uniqueRepo } from '../support/oci-client.js';
import { startRegistry, type RunningRegistry } from '../support/registry-server.js';

// Chosen so that lexical order differs from insertion order and from "natural" (numeric-aware) order.
const tags = ['v2', 'v10', 'v1', 'latest', '1.0', 'beta', 'alpha', '2024.01'];
const sortedTags = ['1.0', '2024.01', 'alpha', 'beta', 'latest', 'v1', 'v10', 'v2'];

let reg: RunningRegistry;
let repo: string;

before(async () => {
  reg = await startRegistry();
  repo = uniqueRepo('tags');
  const image = await makeImage(reg.url, repo);
  for (const tag of tags) await pushManifest(reg.url, repo, tag, image.bytes, image.mediaType);
});
after(() => reg.close());

interface TagList {
  name: string;
  tags: string[];
}

async function tagPage(path: string): Promise<{ body: TagList; link: string | null }> {
  const response = await request('GET', `${reg.url}${path}`, { expected: 200 });
  return { body: (await response.json()) as TagList, link: response.headers.get('link') };
}

describe('GET /v2/<name>/tags/list', () => {
  it('lists all tags in lexical order with the repository name', async () => {
    const { body, link } = await tagPage(`/v2/${repo}/tags/list`);
    assert.equal(body.name, repo);
    assert.deepEqual(body.tags, sortedTags);
    assert.equal(link, null, 'a complete list needs no Link');
  });

  it('pages with n and a Link rel="next" header that carries n and last', async () => {
    const first = await tagPage(`/v2/${repo}/tags/list?n=3`);
    assert.deepEqual(first.body.tags, sortedTags.slice(0, 3));
    const next = nextLink(reg.url, first.link);
    assert.ok(next, 'Link header missing on a partial page');
    assert.equal(next.pathname, `/v2/${repo}/tags/list`);
    assert.equal(next.searchParams.get('n'), '3');
    assert.equal(next.searchParams.get('last'), sortedTags[2]);

    const collected = [...first.body.tags];
    let url: URL | undefined = next;
    for (let pages = 0; url && pages < 10; pages++) {
      const page = await tagPage(`${url.pathname}${url.search}`);
      assert.ok(page.body.tags.length <= 3);
      collected.push(...page.body.tags);
      url = nextLink(reg.url, page.link);
    }
    assert.equal(url, undefined, 'pagination never ended');
    assert.deepEqual(collected, sortedTags);
  });

  it('starts after `last` (exclusive), with or without n', async () => {
    assert.deepEqual((await tagPage(`/v2/${repo}/tags/list?last=beta`)).body.tags, ['latest', 'v1', 'v10', 'v2']);
    assert.deepEqual((await tagPage(`/v2/${repo}/tags/list?n=2&last=beta`)).body.tags, ['latest', 'v1']);
    assert.deepEqual((await tagPage(`/v2/${repo}/tags/list?n=5&last=v2`)).body.tags, []);
  });

  it('returns an empty list and no Link for n=0, and everything for a large n', async () => {
    const zero = await tagPage(`/v2/${repo}/tags/list?n=0`);
    assert.deepEqual(zero.body.tags, []);
    assert.equal(zero.link, null);
    const all = await tagPage(`/v2/${repo}/tags/list?n=1000`);
    assert.deepEqual(all.body.tags, sortedTags);
    assert.equal(all.link, null);
  });

  it('answers an unknown repository with 404 NAME_UNKNOWN', async () => {
    await assertOciError(await request('GET', `${reg.url}/v2/${uniqueRepo('tags')}/tags/list`), 404, 'NAME_UNKNOWN', 'tags of unknown repo');
  });
});

describe('GET /v2/_catalog', () => {
  const repos = ['zeta/app', 'alpha', 'mid-repo', 'alpha/app', 'b.c/d_e'];
  const sortedRepos = ['alpha', 'alpha/app', 'b.c/d_e', 'mid-repo', 'zeta/app'];
  let fresh: RunningRegistry;

  before(async () => {
    fresh = await startRegistry();
    for (const name of repos) await makeImage(fresh.url, name, { tag: 'latest' });
  });
  after(() => fresh.close());

  async function catalogPage(path: string): Promise<{ repositories: string[]; link: string | null }> {
    const response = await request('GET', `${fresh.url}${path}`, { expected: 200 });
    const body = (await response.json()) as { repositories: string[] };
    return { repositories: body.repositories, link: response.headers.get('link') };
  }

  it('lists every repository in lexical order', async () => {
    const page = await catalogPage('/v2/_catalog');
    assert.deepEqual(page.repositories, sortedRepos);
  });

  it('pages with n/last and Link rel="next"', async () => {
    const first = await catalogPage('/v2/_catalog?n=2');
    assert.deepEqual(first.repositories, sortedRepos.slice(0, 2));
    const next = nextLink(fresh.url, first.link);
    assert.ok(next, 'Link header missing on a partial catalog page');
    assert.equal(next.pathname, '/v2/_catalog');
    assert.equal(next.searchParams.get('n'), '2');
    assert.equal(next.searchParams.get('last'), 'alpha/app');
    const collected = [...first.repositories];
    let url: URL | undefined = next;
    for (let pages = 0; url && pages < 10; pages++) {
      const page = await catalogPage(`${url.pathname}${url.search}`);
      collected.push(...page.repositories);
      url = nextLink(fresh.url, page.link);
    }
    assert.deepEqual(collected, sortedRepos);
    assert.deepEqual((await catalogPage('/v2/_catalog?last=b.c%2Fd_e')).repositories, ['mid-repo', 'zeta/app']);
  });
});
