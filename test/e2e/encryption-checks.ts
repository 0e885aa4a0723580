import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorageDriver } from '../../registry/storage/driver.js';
import { blobPath, type ImageLayout } from '../support/oci-layout.js';
import type { RunOptions } from '../support/tools.js';
import { sha256File } from './data-dir-check.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/**
 * What the encryption end-to-end tests look for in a store below Berth: byte windows of an image's plaintext (a
 * marker put in its config and manifest, samples of every layer) in every stored object, and skopeo pulls that are
 * byte-exact.
 */

/** Put in an image's labels and annotations: found in storage only where something is stored unencrypted. */
export const plaintextMarker = 'BERTH-ENCRYPTION-MARKER-5e1c';

/** Every object's bytes, by path, through a raw driver (no decrypting layer): what the bucket really holds. */
export async function objectsOf(driver: StorageDriver, path = '', found = new Map<string, Buffer>()): Promise<Map<string, Buffer>> {
  for (const name of await driver.list(path === '' ? '/' : path)) {
    const child = `${path}/${name}`;
    if ((await driver.stat(child)).isDirectory) await objectsOf(driver, child, found);
    else found.set(child, await driver.getContent(child));
  }
  return found;
}

/** Byte windows of an image that must appear nowhere in encrypted storage: the marker, and samples of every layer. */
export async function plaintextSamples(image: ImageLayout): Promise<Buffer[]> {
  const samples = [Buffer.from(plaintextMarker)];
  for (const layer of image.layers) {
    const bytes = await readFile(blobPath(image.dir, layer.digest));
    // Windows of random-looking bytes (tar headers and padding are names and zeros that any file may hold).
    for (const from of [0, Math.floor(bytes.length / 2), Math.floor(bytes.length * 0.9)]) {
      for (let at = from; at + 48 <= bytes.length; at += 512) {
        const window = bytes.subarray(at, at + 48);
        if (new Set(window).size >= 32) {
          samples.push(window);
          break;
        }
      }
    }
  }
  return samples;
}

/**
 * The paths of the objects holding any of `images`' samples. No exemption: the metadata index (SQLite in the data
 * directory) holds names, tags, digests, sizes and times, never annotations or labels, so it is searched too.
 */
export async function objectsWithPlaintext(objects: ReadonlyMap<string, Buffer>, images: readonly ImageLayout[]): Promise<string[]> {
  const samples = (await Promise.all(images.map(plaintextSamples))).flat();
  const found: string[] = [];
  for (const [path, bytes] of objects) {
    if (samples.some((sample) => bytes.indexOf(sample) !== -1)) found.push(path);
  }
  return found;
}

/** Pulls `repo:image.tag` with skopeo into `into` and checks the manifest and every blob byte for byte. */
export async function assertPullsExact(host: string, image: ImageLayout, repo: string, into: string, options: RunOptions = {}): Promise<void> {
  await skopeoCopy(dockerRef(host, repo, image.tag), `dir:${into}`, [], options);
  assert.deepEqual(await readFile(join(into, 'manifest.json')), image.manifestBytes, 'manifest byte-exact');
  for (const blob of [image.config, ...image.layers]) {
    assert.equal(await sha256File(join(into, blob.digest.replace('sha256:', ''))), blob.digest, `${repo} ${blob.digest} byte-exact`);
  }
}
