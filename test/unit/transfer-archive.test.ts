import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { pack } from 'tar-stream';
import { parseDigest } from '../../registry/core/digest.js';
import { isTransferError } from '../../registry/transfer/archive-error.js';
import { writeArchive } from '../../registry/transfer/archive-writer.js';
import { planExport } from '../../registry/transfer/export-plan.js';
import { importArchive } from '../../registry/transfer/image-import.js';
import { startRegistry, type RunningRegistry } from '../support/registry-server.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * The archive rules of registry/transfer/ against real stores on disk: unsafe entries (`..`, absolute paths, links),
 * oversized manifests and digest mismatches are refused naming the entry with nothing written; a classic `docker save`
 * archive (manifest.json only) is imported under Docker's names; referrers survive an export and an import.
 */

interface Entry {
  name: string;
  content?: Buffer;
  type?: 'file' | 'symlink' | 'link' | 'directory';
  linkname?: string;
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const blobEntry = (bytes: Buffer): Entry => ({ name: `blobs/sha256/${sha256(bytes).slice(7)}`, content: bytes });
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

async function writeTar(path: string, entries: readonly Entry[]): Promise<string> {
  const archive = pack();
  const done = pipeline(archive, createWriteStream(path));
  for (const entry of entries) {
    const content = entry.type && entry.type !== 'file' ? Buffer.alloc(0) : (entry.content ?? Buffer.alloc(0));
    await new Promise<void>((resolve, reject) =>
      archive.entry({ name: entry.name, type: entry.type ?? 'file', linkname: entry.linkname, size: content.length }, content, (error) => (error ? reject(error) : resolve())),
    );
  }
  archive.finalize();
  await done;
  return path;
}

/** An image (config, one layer, manifest) as layout entries, and optionally a referrer (an SBOM-like artifact) of it. */
function image(withReferrer = false) {
  const config = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const layer = randomBytes(64 * 1024);
  const manifest = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
  });
  const empty = json({});
  const sbom = Buffer.from('{"spdxVersion":"SPDX-2.3"}');
  const referrer = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/spdx+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: empty.length },
    layers: [{ mediaType: 'application/spdx+json', digest: sha256(sbom), size: sbom.length }],
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length },
  });
  const index = json({
    schemaVersion: 2,
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'team/app:1' } },
      ...(withReferrer ? [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(referrer), size: referrer.length }] : []),
    ],
  });
  const entries: Entry[] = [
    { name: 'oci-layout', content: json({ imageLayoutVersion: '1.0.0' }) },
    { name: 'index.json', content: index },
    blobEntry(config),
    blobEntry(layer),
    blobEntry(manifest),
    ...(withReferrer ? [blobEntry(empty), blobEntry(sbom), blobEntry(referrer)] : []),
  ];
  return { entries, manifest, layer, config, referrer, manifestDigest: sha256(manifest), referrerDigest: sha256(referrer) };
}

function fileSource(path: string) {
  return { open: () => createReadStream(path) };
}

async function assertNothingImported(running: RunningRegistry): Promise<void> {
  assert.deepEqual(await running.registry.repositories.listRepositories(), []);
  assert.equal(await readFile(running.sentinelPath, 'utf8'), running.sentinelText, 'nothing outside the data directory changed');
}

async function refusal(running: RunningRegistry, path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(importArchive(running.registry, fileSource(path)), (error: unknown) => {
    assert.ok(isTransferError(error), `a TransferError, not ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  });
  await assertNothingImported(running);
}

test('unsafe entries are refused by name before anything is written', async (t) => {
  const running = await startRegistry(t);
  const dir = await makeTempDir(t, 'berth-archive-');
  const { entries } = image();
  await refusal(running, await writeTar(join(dir, 'climb.tar'), [...entries, { name: '../outside.txt', content: Buffer.from('owned') }]), /archive entry "\.\.\/outside\.txt" climbs out of the archive/);
  await refusal(running, await writeTar(join(dir, 'deep.tar'), [...entries, { name: 'blobs/../../outside.txt', content: Buffer.from('x') }]), /"blobs\/\.\.\/\.\.\/outside\.txt" climbs out/);
  await refusal(running, await writeTar(join(dir, 'absolute.tar'), [{ name: '/etc/passwd', content: Buffer.from('x') }, ...entries]), /archive entry "\/etc\/passwd" is an absolute path/);
  await refusal(running, await writeTar(join(dir, 'symlink.tar'), [...entries, { name: 'blobs/sha256/link', type: 'symlink', linkname: '/etc/passwd' }]), /archive entry "blobs\/sha256\/link" is a symbolic link \(to "\/etc\/passwd"\)/);
  await refusal(running, await writeTar(join(dir, 'hardlink.tar'), [...entries, { name: 'oci', type: 'link', linkname: 'index.json' }]), /"oci" is a hard link/);
  await refusal(running, await writeTar(join(dir, 'empty.tar'), []), /neither an OCI image layout \(no index\.json\) nor a "docker save" archive/);
  const notTar = join(dir, 'not.tar');
  await writeFile(notTar, randomBytes(4096));
  await refusal(running, notTar, /not a readable tar archive/);
});

test('a digest mismatch, a missing blob and an oversized manifest are refused naming the entry', async (t) => {
  const running = await startRegistry(t);
  const dir = await makeTempDir(t, 'berth-archive-');
  const { entries, layer } = image();
  const layerName = `blobs/sha256/${sha256(layer).slice(7)}`;
  const tampered = entries.map((entry) => (entry.name === layerName ? { ...entry, content: Buffer.concat([layer.subarray(1), Buffer.from([layer[0] ?? 0])]) } : entry));
  await refusal(running, await writeTar(join(dir, 'tampered.tar'), tampered), new RegExp(`archive entry ${layerName} holds content with digest sha256:[0-9a-f]{64}, not the one its name gives: the archive is corrupt`));
  await refusal(running, await writeTar(join(dir, 'missing.tar'), entries.filter((entry) => entry.name !== layerName)), new RegExp(`needs blob ${sha256(layer)}, which the archive does not hold`));

  const huge = Buffer.concat([Buffer.from('{"schemaVersion":2,"x":"'), Buffer.alloc(5 * 1024 * 1024, 0x61), Buffer.from('"}')]);
  const oversized = [
    { name: 'oci-layout', content: json({ imageLayoutVersion: '1.0.0' }) },
    { name: 'index.json', content: json({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(huge), size: huge.length, annotations: { 'org.opencontainers.image.ref.name': 'team/big:1' } }] }) },
    blobEntry(huge),
  ];
  await refusal(running, await writeTar(join(dir, 'huge.tar'), oversized), /manifest blobs\/sha256\/[0-9a-f]{64} is 5242906 bytes, more than the 4194304 a manifest may have/);
  // No upload session or blob was started for any of them.
  assert.deepEqual(await running.registry.uploads.purge(0), 0);
  assert.equal(await running.registry.blobs.size(parseDigest(sha256(layer))), undefined);
});

test('a classic docker save archive (manifest.json only) imports under docker\'s names, config and layers byte for byte', async (t) => {
  const running = await startRegistry(t);
  const dir = await makeTempDir(t, 'berth-archive-');
  const config = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const layer = Buffer.concat([Buffer.from('etc/hostname'), randomBytes(20_000)]);
  const configName = `${sha256(config).slice(7)}.json`;
  const archive = await writeTar(join(dir, 'busybox.tar'), [
    { name: configName, content: config },
    { name: 'abc123/layer.tar', content: layer },
    { name: 'abc123/VERSION', content: Buffer.from('1.0') },
    { name: 'manifest.json', content: json([{ Config: configName, RepoTags: ['busybox:latest', 'localhost:5000/team/tool:2'], Layers: ['abc123/layer.tar'] }]) },
    { name: 'repositories', content: json({ busybox: { latest: 'abc123' } }) },
  ]);
  const result = await importArchive(running.registry, fileSource(archive));
  assert.equal(result.format, 'docker');
  assert.deepEqual(result.images.map((image) => `${image.repository}:${image.tag}`), ['library/busybox:latest', 'team/tool:2']);
  const stored = await running.registry.repositories.getManifest('library/busybox', 'latest');
  assert.ok(stored);
  const manifest = JSON.parse(stored.bytes.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string; mediaType: string }> };
  assert.equal(manifest.config.digest, sha256(config));
  assert.deepEqual(manifest.layers.map((l) => [l.digest, l.mediaType]), [[sha256(layer), 'application/vnd.oci.image.layer.v1.tar']]);
  assert.equal((await running.registry.repositories.getManifest('team/tool', '2'))?.digest, stored.digest);
  assert.deepEqual(await running.registry.blobs.read(parseDigest(sha256(config))), config);
});

test('referrers go with their image through an export and an import, digests unchanged', async (t) => {
  const first = await startRegistry(t);
  const second = await startRegistry(t);
  const dir = await makeTempDir(t, 'berth-archive-');
  const built = image(true);
  await importArchive(first.registry, fileSource(await writeTar(join(dir, 'in.tar'), built.entries)));
  const referrers = (await first.registry.repositories.referrers('team/app', parseDigest(built.manifestDigest))).map((d) => d.digest);
  assert.deepEqual(referrers, [built.referrerDigest], 'the unnamed index entry with a subject went beside its subject');

  const plan = await planExport(first.registry.repositories, [{ repository: 'team/app', reference: '1' }]);
  const exported = join(dir, 'out.tar');
  await writeArchive(first.registry.blobs, plan, createWriteStream(exported));
  const result = await importArchive(second.registry, fileSource(exported));
  assert.deepEqual(result.images.map((image) => `${image.repository}:${image.tag} ${image.digest}`), [`team/app:1 ${built.manifestDigest}`]);
  assert.deepEqual((await second.registry.repositories.referrers('team/app', parseDigest(built.manifestDigest))).map((d) => d.digest), [built.referrerDigest]);
  assert.deepEqual((await second.registry.repositories.getManifest('team/app', built.referrerDigest))?.bytes, built.referrer);
  assert.deepEqual(await second.registry.blobs.read(parseDigest(sha256(built.layer))), built.layer);
});
