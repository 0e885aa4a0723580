import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '../support/oci-client.js';
import { basicHeader } from '../support/registry-auth.js';
import { blobPath, createImageLayout, type ImageLayout } from '../support/oci-layout.js';
import { createIsolatedPodman } from '../support/podman.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { absolute, createBlobSource, rawRequest, withDigest, type BlobSource } from './blob-stream.js';
import { clusterSkipReason, startCluster, type Cluster } from './cluster-fixture.js';
import { assertConformanceClean, conformanceSkipReason, runConformanceSuite } from './conformance-suite.js';
import { sha256File } from './data-dir-check.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/**
 * A team registry: three `berth serve` nodes over one radosgw bucket and one PostgreSQL database, behind haproxy
 * (round-robin per request), with token auth. What a team does with it works through the balancer although the
 * consecutive requests of one push land on different nodes: skopeo and podman push and pull, a node killed with
 * SIGKILL in the middle of a layer's upload costs the client a retry of that chunk and nothing else, and the OCI
 * conformance suite passes. Bearer tokens from one node's /token are honoured by the others (shared keys, no
 * copied files).
 */

const MiB = 1024 * 1024;

describe('a team registry: 3 nodes on radosgw and PostgreSQL behind haproxy', { skip: clusterSkipReason(), timeout: 300_000 }, () => {
  let cluster: Cluster;
  let work: string;
  /** A token for everything, and the auth file skopeo and podman read it from (never the command line). */
  let token: string;
  let authEnv: Record<string, string>;
  const authorization = (): Record<string, string> => ({ authorization: basicHeader('ci', token) });

  before(async () => {
    work = await createTempDir('berth-cluster-test-');
    cluster = await startCluster();
    token = await cluster.createToken('ci', '*:pull,push,delete');
    const authFile = join(work, 'auth.json');
    const auth = Buffer.from(`ci:${token}`).toString('base64');
    const hosts = [cluster.host, ...cluster.nodes.map((node) => node.berth.host)];
    await writeFile(authFile, JSON.stringify({ auths: Object.fromEntries(hosts.map((host) => [host, { auth }])) }), { mode: 0o600 });
    authEnv = { REGISTRY_AUTH_FILE: authFile };
  });
  after(async () => {
    await cluster?.stop();
    if (work) await removeDir(work);
  });

  /** Requests each node served since `before` (haproxy's counts). */
  const servedSince = async (before: Record<string, number>): Promise<Record<string, number>> => {
    const now = await cluster.requestsByNode();
    return Object.fromEntries(Object.entries(now).map(([name, count]) => [name, count - (before[name] ?? 0)]));
  };
  const nodesThatServed = (served: Record<string, number>): string[] => Object.keys(served).filter((name) => (served[name] ?? 0) > 0);

  async function assertPulledExact(host: string, repo: string, tag: string, image: ImageLayout, into: string): Promise<void> {
    await skopeoCopy(dockerRef(host, repo, tag), `dir:${into}`, [], { env: authEnv });
    assert.deepEqual(await readFile(join(into, 'manifest.json')), image.manifestBytes, 'the manifest pulled is the one pushed');
    for (const blob of [image.config, ...image.layers]) {
      assert.equal(await sha256File(join(into, blob.digest.replace('sha256:', ''))), await sha256File(blobPath(image.dir, blob.digest)), blob.digest);
    }
  }

  test('the cluster starts: radosgw, PostgreSQL, 3 nodes and haproxy, every node up', async (t) => {
    const { servicesMs, nodesMs, proxyMs, totalMs } = cluster.startup;
    t.diagnostic(
      `cluster startup: ${(totalMs / 1000).toFixed(1)} s (radosgw ${(cluster.radosgw.startupMs / 1000).toFixed(1)} s and PostgreSQL ` +
        `${(cluster.postgres.startupMs / 1000).toFixed(1)} s in parallel: ${(servicesMs / 1000).toFixed(1)} s; 3 nodes together ` +
        `${(nodesMs / 1000).toFixed(1)} s; haproxy ${(proxyMs / 1000).toFixed(1)} s)`,
    );
    assert.deepEqual((await cluster.proxy.stats()).map((server) => server.status), ['UP', 'UP', 'UP']);
    // Clients fetch their bearer tokens through the balancer as well: the challenge names it, not the node that answered.
    for (let index = 0; index < 3; index += 1) {
      const challenge = await fetch(`${cluster.url}/v2/`);
      assert.equal(challenge.status, 401);
      assert.match(challenge.headers.get('www-authenticate') ?? '', new RegExp(`^Bearer realm="${cluster.url}/token",service="berth"`));
    }
    // Each node says it runs on the shared backends.
    for (const node of cluster.nodes) assert.equal(node.berth.ready.metadata, cluster.database.url, `${node.name}'s ready line names the database`);
  });

  test("the balancer's public name, set once with berth ca rotate --tls-name from outside the nodes, is answered by every node", async () => {
    const name = 'registry.example.lan';
    const viaName = async (): Promise<number[]> => {
      const statuses: number[] = [];
      // Three requests: one per node in the rotation.
      for (let index = 0; index < 3; index += 1) statuses.push((await rawRequest('GET', `${cluster.url}/v2/`, { host: name })).status);
      return statuses;
    };
    assert.deepEqual(await viaName(), [421, 421, 421], 'an unknown name is refused (DNS rebinding)');
    // As the README says: from an empty admin directory, against the shared database.
    await cluster.cli(['ca', 'rotate', '--tls-name', name]);
    // The TLS names are a shared setting: the other nodes follow it without a restart.
    const deadline = Date.now() + 5000;
    let statuses = await viaName();
    while (statuses.some((status) => status !== 401) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      statuses = await viaName();
    }
    assert.deepEqual(statuses, [401, 401, 401], 'every node answers the public name (a challenge, as to any anonymous client)');
  });

  test('skopeo pushes through the balancer (its requests spread over the nodes) and another node serves the pull byte-exact', { skip: toolSkipReason('skopeo') }, async () => {
    requireTools('skopeo');
    const image = await createImageLayout(join(work, 'skopeo-layout'), {
      tag: 'v1',
      // Under one 5 MiB S3 part, several parts, and a small one: plain tar, no gzip CPU.
      layers: [{ bytes: 600 * 1024, files: 10 }, { bytes: 24 * MiB, compress: false }, { bytes: 64 * 1024 }],
    });
    const before = await cluster.requestsByNode();
    await skopeoCopy(image.ref, dockerRef(cluster.host, 'team/app', 'v1'), ['--preserve-digests'], { env: authEnv });
    const served = await servedSince(before);
    assert.deepEqual(nodesThatServed(served), ['node0', 'node1', 'node2'], `every node served part of the push: ${JSON.stringify(served)}`);

    // Each node, asked directly, serves what the push stored through all three.
    for (const node of cluster.nodes) assert.deepEqual(await manifestVia(node.berth.url, 'team/app', 'v1'), image.manifestBytes, node.name);
    await assertPulledExact(cluster.nodes[2]?.berth.host ?? '', 'team/app', 'v1', image, join(work, 'pulled-from-node2'));
  });

  test('podman pushes and pulls through the balancer', { skip: toolSkipReason('skopeo', 'podman') }, async (t) => {
    requireTools('skopeo', 'podman');
    const image = await createImageLayout(join(work, 'podman-layout'), { tag: 'v1', layers: [{ bytes: 2 * MiB, files: 8 }, { bytes: 256 * 1024 }] });
    await skopeoCopy(image.ref, dockerRef(cluster.host, 'team/podman', 'v1'), ['--preserve-digests'], { env: authEnv });
    const podman = await createIsolatedPodman(t);
    await writeFile(podman.env.REGISTRY_AUTH_FILE as string, await readFile(authEnv.REGISTRY_AUTH_FILE as string), { mode: 0o600 });
    const source = `${cluster.host}/team/podman:v1`;
    const target = `${cluster.host}/other/podman:v2`;
    await podman.runOk(['pull', '--tls-verify=false', source]);
    const before = await cluster.requestsByNode();
    await podman.runOk(['push', '--tls-verify=false', source, `docker://${target}`]);
    const served = await servedSince(before);
    assert.ok(nodesThatServed(served).length > 1, `podman's push went to more than one node: ${JSON.stringify(served)}`);

    const second = await createIsolatedPodman(t);
    await writeFile(second.env.REGISTRY_AUTH_FILE as string, await readFile(authEnv.REGISTRY_AUTH_FILE as string), { mode: 0o600 });
    await second.runOk(['pull', '--tls-verify=false', target]);
    const inspected = JSON.parse((await second.runOk(['image', 'inspect', target])).stdout) as { Id: string }[];
    assert.equal(`sha256:${inspected[0]?.Id}`, image.config.digest, 'the image podman pulled back is the one pushed');
  });

  test('the OCI conformance suite passes through haproxy with a scoped token', { skip: conformanceSkipReason }, async (t) => {
    const scoped = await cluster.createToken('conformance', 'myorg/*:pull,push,delete');
    const before = await cluster.requestsByNode();
    const run = await runConformanceSuite(t, cluster.url, { OCI_USERNAME: 'conformance', OCI_PASSWORD: scoped });
    assertConformanceClean(t, 'cluster', run, () => cluster.nodes.map((node) => `--- ${node.name} ---\n${node.berth.logs().slice(-1500)}`).join('\n'));
    const served = await servedSince(before);
    assert.deepEqual(nodesThatServed(served), ['node0', 'node1', 'node2'], `the suite's requests spread over the nodes: ${JSON.stringify(served)}`);
  });

  test('a node killed with SIGKILL in the middle of a layer upload: the client resumes through the others, the push completes, the node rejoins', { skip: toolSkipReason('skopeo') }, async (t) => {
    requireTools('skopeo');
    const repo = 'team/big';
    const blob = createBlobSource(48 * MiB);
    const digest = await blob.digest();
    const started = await rawRequest('POST', `${cluster.url}/v2/${repo}/blobs/uploads/`, authorization());
    assert.equal(started.status, 202, started.text);
    let session = absolute(cluster.url, started.headers.location);
    const first = await patch(session, blob, 0, 16 * MiB);
    assert.equal(first.status, 202, first.text);
    session = absolute(cluster.url, first.headers.location);

    // The second chunk stops after 8 MiB and waits; meanwhile the node that has it is found and killed.
    const gate = holdAfter(blob, 16 * MiB, 48 * MiB, 8 * MiB);
    const cut = rawRequest('PATCH', session, { ...authorization(), 'content-type': 'application/octet-stream', 'content-range': `${16 * MiB}-${48 * MiB - 1}`, 'content-length': String(32 * MiB) }, gate.body)
      .then((response) => response, (error: Error) => error);
    await gate.held;
    const victim = await nodeWithRequestInFlight();
    t.diagnostic(`killing ${cluster.nodes[victim]?.name} with 8 MiB of a 32 MiB chunk received`);
    await cluster.killNode(victim);
    gate.release();
    const outcome = await cut;
    assert.ok(outcome instanceof Error || outcome.status >= 500, `the cut PATCH cannot have succeeded: ${outcome instanceof Error ? outcome.message : outcome.status}`);

    // Where the upload stands, asked through the balancer (another node answers), and the rest from there.
    const status = await rawRequest('GET', session, authorization());
    assert.equal(status.status, 204, `upload status after the node died: ${status.text}`);
    const offset = rangeEnd(status.headers.range);
    assert.ok(offset >= 16 * MiB && offset <= 48 * MiB, `the first chunk (16 MiB) survived; the server says ${offset}`);
    t.diagnostic(`resuming at ${offset} of ${blob.size} bytes`);
    session = absolute(cluster.url, status.headers.location ?? session);
    const before = await cluster.requestsByNode();
    if (offset < blob.size) {
      const rest = await patch(session, blob, offset, blob.size);
      assert.equal(rest.status, 202, rest.text);
      session = absolute(cluster.url, rest.headers.location);
    }
    const done = await rawRequest('PUT', withDigest(session, digest), { ...authorization(), 'content-length': '0' });
    assert.equal(done.status, 201, `PUT after resuming at ${offset}: ${done.text}`);
    const served = await servedSince(before);
    assert.equal(served[`node${victim}`], 0, 'nothing went to the dead node');

    // Every node that is up serves the whole blob, and so does the killed one once restarted on its data directory.
    for (const [index, node] of cluster.nodes.entries()) {
      if (index === victim) continue;
      const pulled = await rawRequest('GET', `${node.berth.url}/v2/${repo}/blobs/${digest}`, authorization());
      assert.equal(pulled.status, 200, `${node.name}: ${pulled.text}`);
      assert.deepEqual([pulled.bodyBytes, pulled.bodyDigest], [blob.size, digest], `${node.name} serves the exact bytes`);
    }

    // The push finishes through the balancer: a config and the manifest, then a client pulls the image.
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digest] } }));
    const configDigest = sha256(config);
    const configPush = await rawRequest('POST', `${cluster.url}/v2/${repo}/blobs/uploads/?digest=${configDigest}`, { ...authorization(), 'content-type': 'application/octet-stream', 'content-length': String(config.length) }, Readable.from([config]));
    assert.equal(configPush.status, 201, configPush.text);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: blob.size }],
    }));
    const manifestPush = await rawRequest('PUT', `${cluster.url}/v2/${repo}/manifests/v1`, { ...authorization(), 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(manifest.length) }, Readable.from([manifest]));
    assert.equal(manifestPush.status, 201, manifestPush.text);

    // The killed node, restarted on its data directory, rejoins and serves the image like the others.
    await cluster.restartNode(victim);
    const pulled = join(work, 'pulled-after-kill');
    await skopeoCopy(dockerRef(cluster.nodes[victim]?.berth.host ?? '', repo, 'v1'), `dir:${pulled}`, [], { env: authEnv });
    assert.deepEqual(await readFile(join(pulled, 'manifest.json')), manifest);
    assert.equal(await sha256File(join(pulled, digest.replace('sha256:', ''))), digest, 'the layer pulled from the restarted node is exact');
  });

  /** PATCH [start, end) of `blob` to `session` through the balancer. */
  function patch(session: string, blob: BlobSource, start: number, end: number) {
    return rawRequest(
      'PATCH',
      session,
      { ...authorization(), 'content-type': 'application/octet-stream', 'content-range': `${start}-${end - 1}`, 'content-length': String(end - start) },
      blob.stream(start, end),
    );
  }

  /** The index of the node haproxy has a request in flight with (exactly one). */
  async function nodeWithRequestInFlight(): Promise<number> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const busy = (await cluster.proxy.stats()).filter((server) => server.current > 0);
      if (busy.length === 1) return Number(busy[0]?.name.replace('node', ''));
      assert.ok(Date.now() < deadline, `no single node with a request in flight: ${JSON.stringify(busy)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function manifestVia(url: string, repo: string, tag: string): Promise<Buffer> {
    const response = await fetch(`${url}/v2/${repo}/manifests/${tag}`, {
      headers: { ...authorization(), accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(response.status, 200, `GET ${url}/v2/${repo}/manifests/${tag}: ${response.status}`);
    return Buffer.from(await response.arrayBuffer());
  }
});

/** The offset a session's `Range: 0-<end>` header reports. */
function rangeEnd(range: string | string[] | undefined): number {
  const match = /^0-(\d+)$/.exec(String(range ?? ''));
  assert.ok(match, `Range header ${String(range)} is not 0-<end>`);
  return Number(match[1]) + 1;
}

/**
 * [start, end) of `blob` as a request body that stops after `first` bytes until release(): `held` resolves once those
 * bytes were handed to the socket.
 */
function holdAfter(blob: BlobSource, start: number, end: number, first: number): { body: Readable; held: Promise<void>; release(): void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let markHeld!: () => void;
  const held = new Promise<void>((resolve) => (markHeld = resolve));
  async function* generate(): AsyncGenerator<Buffer> {
    for await (const chunk of blob.stream(start, start + first)) yield chunk as Buffer;
    markHeld();
    await released;
    for await (const chunk of blob.stream(start + first, end)) yield chunk as Buffer;
  }
  return { body: Readable.from(generate()), held, release };
}
