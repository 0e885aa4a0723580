import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertOciError,
  makeArtifact,
  makeImage,
  mediaTypes,
  pushManifest,
  randomDigest,
  request,
  uniqueRepo,
  type Descriptor,
  type Image,
} from '../support/oci-client.js';
import { startRegistry, type RunningRegistry } from '../support/registry-server.js';

interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

const sbomType = 'application/vnd.example.sbom+json';
const sigType = 'application/vnd.example.signature';

let reg: RunningRegistry;
let repo: string;
let subject: Image;
let sbom: Awaited<ReturnType<typeof makeArtifact>>;
let sig: Awaited<ReturnType<typeof makeArtifact>>;
let configTyped: Awaited<ReturnType<typeof makeArtifact>>;

before(async () => {
  reg = await startRegistry();
  repo = uniqueRepo('ref');
  subject = await makeImage(reg.url, repo, { tag: 'app' });
  sbom = await makeArtifact(reg.url, repo, { artifactType: sbomType, subject: subject.descriptor, annotations: { 'org.example.kind': 'sbom' } });
  sig = await makeArtifact(reg.url, repo, { artifactType: sigType, subject: subject.descriptor });
  // No artifactType field: the referrers descriptor must take the config's media type instead.
  configTyped = await makeArtifact(reg.url, repo, { configMediaType: 'application/vnd.example.config.v1+json', subject: subject.descriptor });
  await makeArtifact(reg.url, repo, { artifactType: sbomType }); // no subject: never a referrer
});
after(() => reg.close());

async function referrers(name: string, digest: string, query = ''): Promise<{ response: Response; index: ReferrersIndex }> {
  const response = await request('GET', `${reg.url}/v2/${name}/referrers/${digest}${query}`, { expected: 200 });
  const index = (await response.json()) as ReferrersIndex;
  return { response, index };
}

function byDigest(index: ReferrersIndex, digest: string): Descriptor | undefined {
  return index.manifests.find((d) => d.digest === digest);
}

describe('GET /v2/<name>/referrers/<digest>', () => {
  it('lists every manifest whose subject is the digest as an OCI image index', async () => {
    const { response, index } = await referrers(repo, subject.digest);
    assert.match(response.headers.get('content-type') ?? '', /^application\/vnd\.oci\.image\.index\.v1\+json/);
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, mediaTypes.ociIndex);
    assert.deepEqual(index.manifests.map((d) => d.digest).sort(), [sbom.digest, sig.digest, configTyped.digest].sort());
  });

  it('gives full descriptors: mediaType, digest, size, artifactType and annotations', async () => {
    const { index } = await referrers(repo, subject.digest);
    const entry = byDigest(index, sbom.digest);
    assert.ok(entry, 'sbom referrer missing');
    assert.equal(entry.mediaType, mediaTypes.ociManifest);
    assert.equal(entry.size, sbom.bytes.length);
    assert.equal(entry.artifactType, sbomType);
    assert.deepEqual(entry.annotations, { 'org.example.kind': 'sbom' });
    assert.equal(byDigest(index, configTyped.digest)?.artifactType, 'application/vnd.example.config.v1+json');
  });

  it('filters by ?artifactType= and says so in OCI-Filters-Applied', async () => {
    const { response, index } = await referrers(repo, subject.digest, `?artifactType=${encodeURIComponent(sbomType)}`);
    assert.equal(response.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(index.manifests.map((d) => d.digest), [sbom.digest]);
    const none = await referrers(repo, subject.digest, '?artifactType=application%2Fvnd.example.none');
    assert.deepEqual(none.index.manifests, []);
  });

  it('answers a digest without referrers with 200 and an empty index, not 404', async () => {
    const { index } = await referrers(repo, randomDigest());
    assert.equal(index.mediaType, mediaTypes.ociIndex);
    assert.deepEqual(index.manifests, []);
    const known = await referrers(repo, sig.digest);
    assert.deepEqual(known.index.manifests, []);
  });

  it('lists referrers pushed before their subject, and an index can be a referrer', async () => {
    const name = uniqueRepo('ref');
    const future = await makeImage(reg.url, uniqueRepo('ref')); // lives elsewhere: never pushed to `name`
    const early = await makeArtifact(reg.url, name, { artifactType: sigType, subject: future.descriptor });
    const child = await makeImage(reg.url, name);
    const indexReferrer = await pushManifest(reg.url, name, 'idx', {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      artifactType: 'application/vnd.example.bundle',
      manifests: [child.descriptor],
      subject: future.descriptor,
    });
    const { index } = await referrers(name, future.digest);
    assert.deepEqual(index.manifests.map((d) => d.digest).sort(), [early.digest, indexReferrer.digest].sort());
    assert.equal(byDigest(index, indexReferrer.digest)?.mediaType, mediaTypes.ociIndex);
    assert.equal(byDigest(index, indexReferrer.digest)?.artifactType, 'application/vnd.example.bundle');
  });

  it('keeps referrers per repository', async () => {
    const other = uniqueRepo('ref');
    await makeImage(reg.url, other, { tag: 'x' });
    const { index } = await referrers(other, subject.digest);
    assert.deepEqual(index.manifests, []);
  });

  it('refuses an invalid digest with 400', async () => {
    await assertOciError(await request('GET', `${reg.url}/v2/${repo}/referrers/sha256:nope`), 400, 'DIGEST_INVALID', 'referrers bad digest');
    await assertOciError(await request('GET', `${reg.url}/v2/${repo}/referrers/app`), 400, 'DIGEST_INVALID', 'referrers by tag');
  });
});
