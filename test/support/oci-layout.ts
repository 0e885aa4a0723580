import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { tarStream, type RandomFile } from './tar-writer.js';

/**
 * OCI image layouts (image-spec `image-layout.md`) built on disk without a network, for real clients:
 * `skopeo copy oci:DIR:TAG docker://HOST/repo:tag`. Layers are real tar archives with random content (so every
 * image has new digests), gzip-compressed or plain; everything is streamed, so a 256 MiB layer never sits
 * in memory. Several images may share one layout directory: index.json gains one entry per tag.
 */

export const mediaTypes = {
  imageManifest: 'application/vnd.oci.image.manifest.v1+json',
  imageIndex: 'application/vnd.oci.image.index.v1+json',
  imageConfig: 'application/vnd.oci.image.config.v1+json',
  layerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
} as const;

export const refNameAnnotation = 'org.opencontainers.image.ref.name';

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface LayerSpec {
  /** Number of regular files in the layer (default 1). */
  readonly files?: number;
  /** Total bytes of file content, split evenly among the files. */
  readonly bytes: number;
  /** gzip the tar (default true). Plain tar is much faster to build and to push: use it for big layers. */
  readonly compress?: boolean;
}

export interface ImageLayoutOptions {
  /** Tag for index.json's `org.opencontainers.image.ref.name` (default 'latest'). */
  readonly tag?: string;
  readonly layers: readonly LayerSpec[];
  /** Default linux/amd64. */
  readonly platform?: Platform;
  /** Image config labels (`config.Labels`). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Manifest annotations. */
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

export interface LayerInfo extends Descriptor {
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  readonly diffId: string;
  /** Paths of the regular files in the tar. */
  readonly files: readonly string[];
}

export interface ImageLayout {
  readonly dir: string;
  readonly tag: string;
  /** `oci:DIR:TAG`, for skopeo. */
  readonly ref: string;
  readonly manifestDigest: string;
  /** The exact manifest bytes written (what a registry must return for this image). */
  readonly manifestBytes: Buffer;
  readonly platform: Platform;
  readonly layers: readonly LayerInfo[];
  readonly config: Descriptor;
  /** Sum of layer and config blob sizes (what a push uploads). */
  readonly totalBytes: number;
}

export interface IndexLayoutOptions {
  readonly tag?: string;
  /** Default linux/amd64 and linux/arm64. */
  readonly platforms?: readonly Platform[];
  /** Layers for each platform's image (each image gets its own random content). Default one 64 KiB gzip layer. */
  readonly layersPerImage?: readonly LayerSpec[];
  readonly labels?: Readonly<Record<string, string>>;
}

export interface IndexLayout {
  readonly dir: string;
  readonly tag: string;
  readonly ref: string;
  /** Digest of the image index: what the tag resolves to. */
  readonly manifestDigest: string;
  /** The exact image index bytes. */
  readonly manifestBytes: Buffer;
  readonly images: readonly ImageLayout[];
}

/** Path of a blob inside a layout. */
export function blobPath(dir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (!algorithm || !hex) throw new Error(`not a digest: ${digest}`);
  return join(dir, 'blobs', algorithm, hex);
}

async function ensureLayout(dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
}

function tempBlobPath(dir: string): string {
  return join(dir, 'blobs', 'sha256', `.tmp-${randomBytes(8).toString('hex')}`);
}

/** Moves a finished temp file to its content address (identical content may already be there). */
async function commitBlob(dir: string, tmp: string, digest: string): Promise<void> {
  const target = blobPath(dir, digest);
  try {
    await stat(target);
    await rm(tmp, { force: true });
  } catch {
    await rename(tmp, target);
  }
}

/** Writes a small in-memory blob (config, manifest, index); returns its descriptor. */
async function writeSmallBlob(dir: string, mediaType: string, bytes: Buffer): Promise<Descriptor> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const tmp = tempBlobPath(dir);
  await writeFile(tmp, bytes);
  await commitBlob(dir, tmp, digest);
  return { mediaType, digest, size: bytes.length };
}

/** Passes bytes through while hashing and counting them. */
class HashCounter extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

let layerCounter = 0;

/** Streams one layer: random files → tar → (diff_id hash) → [gzip] → (digest hash) → temp file → blobs/sha256/<hex>. */
export async function writeLayer(dir: string, spec: LayerSpec): Promise<LayerInfo> {
  const fileCount = Math.max(1, spec.files ?? 1);
  const layerId = `${process.pid}-${++layerCounter}-${randomBytes(3).toString('hex')}`;
  const base = Math.floor(spec.bytes / fileCount);
  const files: RandomFile[] = [];
  for (let i = 0; i < fileCount; i++) {
    // The first file takes the remainder so the sizes add up to spec.bytes exactly.
    files.push({ name: `data/layer-${layerId}/file-${i}.bin`, size: base + (i === 0 ? spec.bytes - base * fileCount : 0) });
  }
  const compress = spec.compress ?? true;
  const uncompressed = new HashCounter();
  const stored = new HashCounter();
  const tmp = tempBlobPath(dir);
  try {
    const source = Readable.from(tarStream(['data', `data/layer-${layerId}`], files));
    // gzip level 1: the content is random and will not shrink anyway; spend no time trying.
    if (compress) await pipeline(source, uncompressed, createGzip({ level: 1 }), stored, createWriteStream(tmp));
    else await pipeline(source, uncompressed, createWriteStream(tmp));
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  const diffId = `sha256:${uncompressed.hash.digest('hex')}`;
  const digest = compress ? `sha256:${stored.hash.digest('hex')}` : diffId;
  const size = compress ? stored.bytes : uncompressed.bytes;
  await commitBlob(dir, tmp, digest);
  return { mediaType: compress ? mediaTypes.layerTarGzip : mediaTypes.layerTar, digest, size, diffId, files: files.map((f) => f.name) };
}

const defaultPlatform: Platform = { os: 'linux', architecture: 'amd64' };

function configJson(platform: Platform, layers: readonly LayerInfo[], labels: Readonly<Record<string, string>> | undefined): Buffer {
  const created = new Date().toISOString();
  const config = {
    created,
    author: 'berth test support',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      WorkingDir: '/',
      ...(labels && Object.keys(labels).length > 0 ? { Labels: labels } : {}),
    },
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
    history: layers.map((layer, index) => ({ created, created_by: `berth test layer ${index} (${layer.files.length} files)` })),
  };
  return Buffer.from(JSON.stringify(config));
}

interface IndexEntry extends Descriptor {
  readonly annotations?: Record<string, string>;
  readonly platform?: Platform;
}

/** Adds (or replaces) the entry for `tag` in index.json, keeping other tags of the same layout. */
async function tagInIndex(dir: string, tag: string, descriptor: Descriptor): Promise<void> {
  const indexFile = join(dir, 'index.json');
  let manifests: IndexEntry[] = [];
  try {
    const existing = JSON.parse(await readFile(indexFile, 'utf8')) as { manifests?: IndexEntry[] };
    manifests = (existing.manifests ?? []).filter((entry) => entry.annotations?.[refNameAnnotation] !== tag);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  manifests.push({ mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, annotations: { [refNameAnnotation]: tag } });
  const index = { schemaVersion: 2, mediaType: mediaTypes.imageIndex, manifests };
  await writeFile(indexFile, `${JSON.stringify(index, null, 2)}\n`);
}

/** Writes layers, config and manifest blobs; does not touch index.json. */
async function writeImage(dir: string, tag: string, options: ImageLayoutOptions): Promise<ImageLayout> {
  const platform = options.platform ?? defaultPlatform;
  const layers: LayerInfo[] = [];
  for (const spec of options.layers) layers.push(await writeLayer(dir, spec));
  const config = await writeSmallBlob(dir, mediaTypes.imageConfig, configJson(platform, layers, options.labels));
  const manifest = {
    schemaVersion: 2,
    mediaType: mediaTypes.imageManifest,
    config,
    layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    ...(options.annotations ? { annotations: options.annotations } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2));
  const written = await writeSmallBlob(dir, mediaTypes.imageManifest, manifestBytes);
  return {
    dir,
    tag,
    ref: `oci:${dir}:${tag}`,
    manifestDigest: written.digest,
    manifestBytes,
    platform,
    layers,
    config,
    totalBytes: config.size + layers.reduce((sum, layer) => sum + layer.size, 0),
  };
}

/** Creates (or adds a tag to) an OCI layout holding one single-platform image. */
export async function createImageLayout(dir: string, options: ImageLayoutOptions): Promise<ImageLayout> {
  const tag = options.tag ?? 'latest';
  await ensureLayout(dir);
  const image = await writeImage(dir, tag, options);
  await tagInIndex(dir, tag, { mediaType: mediaTypes.imageManifest, digest: image.manifestDigest, size: image.manifestBytes.length });
  return image;
}

/** Creates (or adds a tag to) an OCI layout holding a multi-platform image index. */
export async function createIndexLayout(dir: string, options: IndexLayoutOptions = {}): Promise<IndexLayout> {
  const tag = options.tag ?? 'latest';
  const platforms = options.platforms ?? [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ];
  const layers = options.layersPerImage ?? [{ bytes: 64 * 1024, files: 2 }];
  await ensureLayout(dir);
  const images: ImageLayout[] = [];
  for (const platform of platforms) images.push(await writeImage(dir, tag, { tag, layers, platform, labels: options.labels }));
  const index = {
    schemaVersion: 2,
    mediaType: mediaTypes.imageIndex,
    manifests: images.map((image) => ({
      mediaType: mediaTypes.imageManifest,
      digest: image.manifestDigest,
      size: image.manifestBytes.length,
      platform: image.platform,
    })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(index, null, 2));
  const written = await writeSmallBlob(dir, mediaTypes.imageIndex, manifestBytes);
  await tagInIndex(dir, tag, written);
  return { dir, tag, ref: `oci:${dir}:${tag}`, manifestDigest: written.digest, manifestBytes, images };
}
