import { parseDigest } from '../core/digest.js';
import { parseManifest, type Descriptor, type Platform } from '../core/manifest.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { RepositoryStore, StoredManifest } from '../storage/repository-store.js';
import { TransferError } from './archive-error.js';
import { refNameAnnotation } from './image-names.js';

/**
 * What an export writes, worked out before its first byte: every manifest (with its bytes, so digests stay
 * exact) and every blob with its size, each once, and the archive's index.json (and, for `--format docker`,
 * docker's manifest.json). An image this Berth holds only in part (a mirror that has fetched some platforms or
 * layers) is refused, saying what is missing, rather than exported as an archive nothing could load.
 */
export interface ExportRequest {
  readonly repository: string;
  /** A tag or a digest. */
  readonly reference: string;
}

export interface ExportOptions {
  /** `oci` (default): an OCI image layout with every platform and referrer. `docker`: what `docker load` reads, one platform. */
  readonly format?: 'oci' | 'docker';
  /**
   * For `docker`: `os/arch[/variant]` picked from a multi-platform index; default the host's. A single-platform image
   * given an explicit platform it is not (read from its config) is refused rather than exported as the wrong one.
   */
  readonly platform?: string;
}

export interface ExportPlan {
  readonly manifests: ReadonlyArray<{ digest: string; bytes: Buffer }>;
  readonly blobs: ReadonlyArray<{ digest: string; size: number }>;
  /** The root files, JSON-encoded, in the order written: oci-layout, index.json, manifest.json. */
  readonly files: ReadonlyArray<{ name: string; bytes: Buffer }>;
  /** What was asked for, as exported: `team/app:1` → sha256:… */
  readonly images: ReadonlyArray<{ repository: string; reference: string; digest: string }>;
  /** Bytes of all manifests and blobs. */
  readonly contentBytes: number;
}

const unknownImage = (message: string) => new TransferError('BERTH_IMAGE_UNKNOWN', message);

const shownPlatform = (platform: Platform | undefined) => (platform ? [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/') : undefined);

/** `linux/amd64` for Node's `linux` + `x64`; arm (32-bit) as `linux/arm/v7`, the common one. */
export function hostPlatform(): string {
  const architecture = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
  return `linux/${architecture}${architecture === 'arm' ? '/v7' : ''}`;
}

function matchesPlatform(platform: Platform | undefined, wanted: string): boolean {
  if (!platform) return false;
  const [os, architecture, variant] = wanted.split('/');
  if (platform.os !== os || platform.architecture !== architecture) return false;
  // `linux/arm64` matches an index entry that says variant v8, and one that names none.
  return variant === undefined || platform.variant === undefined || platform.variant === variant;
}

/** The platform an image config declares (`os`, `architecture`, `variant`), when it is a readable config. */
function platformOfConfig(bytes: Buffer): Platform | undefined {
  try {
    const config = JSON.parse(bytes.toString('utf8')) as { os?: unknown; architecture?: unknown; variant?: unknown };
    if (typeof config.os !== 'string' || typeof config.architecture !== 'string') return undefined;
    return { os: config.os, architecture: config.architecture, ...(typeof config.variant === 'string' ? { variant: config.variant } : {}) };
  } catch {
    return undefined;
  }
}

const describe = (request: ExportRequest) => `${request.repository}${request.reference.includes(':') ? '@' : ':'}${request.reference}`;

export async function planExport(repositories: RepositoryStore, requests: readonly ExportRequest[], options: ExportOptions = {}, blobStore?: BlobStore): Promise<ExportPlan> {
  const format = options.format ?? 'oci';
  const platform = options.platform ?? hostPlatform();
  const manifests = new Map<string, Buffer>();
  const blobs = new Map<string, number>();
  const indexEntries: Descriptor[] = [];
  /** Signatures, SBOMs: listed after the images, without a name (import puts them beside their subject). */
  const referrerEntries: Descriptor[] = [];
  const dockerEntries: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = [];
  const images: Array<{ repository: string; reference: string; digest: string }> = [];

  async function addManifest(request: ExportRequest, manifest: StoredManifest, withReferrers: boolean): Promise<void> {
    if (manifests.has(manifest.digest)) return;
    manifests.set(manifest.digest, manifest.bytes);
    const parsed = parseManifest(manifest.bytes);
    for (const child of parsed.manifests) {
      const stored = await repositories.getManifest(request.repository, child.digest);
      if (!stored) {
        throw unknownImage(`${describe(request)} lists the platform ${shownPlatform(child.platform) ?? child.digest} (${child.digest}), which this Berth does not hold: pull or sync every platform first`);
      }
      await addManifest(request, stored, withReferrers);
    }
    for (const blob of parsed.blobs) {
      const size = await repositories.blobSize(request.repository, parseDigest(blob.digest));
      if (size === undefined) {
        throw unknownImage(`blob ${blob.digest} of ${describe(request)} is not stored in this Berth yet (a mirror fetches layers on the first pull): pull the image through Berth once, then export it`);
      }
      blobs.set(blob.digest, size);
    }
    if (!withReferrers) return;
    for (const referrer of await repositories.referrers(request.repository, parseDigest(manifest.digest))) {
      const stored = await repositories.getManifest(request.repository, referrer.digest);
      if (!stored || manifests.has(stored.digest)) continue;
      await addManifest(request, stored, true);
      referrerEntries.push({ mediaType: stored.mediaType, digest: stored.digest, size: stored.bytes.length });
    }
  }

  for (const request of requests) {
    const root = await repositories.getManifest(request.repository, request.reference);
    if (!root) throw unknownImage(`no image ${describe(request)} in this Berth: see "berth image list ${request.repository}"`);
    const tag = request.reference.includes(':') ? undefined : request.reference;
    let image = root;
    if (format === 'docker') {
      const parsed = parseManifest(root.bytes);
      if (parsed.isIndex) {
        const child = parsed.manifests.find((entry) => matchesPlatform(entry.platform, platform));
        const offered = parsed.manifests.map((entry) => shownPlatform(entry.platform)).filter(Boolean).join(', ');
        if (!child) throw unknownImage(`${describe(request)} has no ${platform} image (it has ${offered || 'no platforms'}): pass --platform`);
        const stored = await repositories.getManifest(request.repository, child.digest);
        if (!stored) throw unknownImage(`the ${platform} image of ${describe(request)} (${child.digest}) is not stored in this Berth: pull it once first`);
        image = stored;
      }
      const chosen = parseManifest(image.bytes);
      if (!parsed.isIndex && options.platform !== undefined && chosen.config && blobStore) {
        const config = await blobStore.read(parseDigest(chosen.config.digest));
        const own = config ? platformOfConfig(config) : undefined;
        if (own && !matchesPlatform(own, platform)) throw unknownImage(`${describe(request)} is a ${shownPlatform(own)} image, not ${platform}: leave out --platform, or export an image built for ${platform}`);
      }
      if (!chosen.config || !/^application\/vnd\.(oci\.image\.config\.v1|docker\.container\.image\.v1)\+json$/.test(chosen.config.mediaType)) {
        throw unknownImage(`${describe(request)} is an artifact (${chosen.artifactType ?? 'no config'}), not a container image docker can load: export it with --format oci`);
      }
      await addManifest(request, image, false);
      const layout = (digest: string) => `blobs/${digest.replace(':', '/')}`;
      dockerEntries.push({
        Config: layout(chosen.config.digest),
        RepoTags: tag ? [`${request.repository}:${tag}`] : [],
        Layers: chosen.blobs.filter((blob) => blob !== chosen.config).map((blob) => layout(blob.digest)),
      });
    } else {
      await addManifest(request, image, true);
    }
    const annotations = tag ? { [refNameAnnotation]: `${request.repository}:${tag}` } : undefined;
    indexEntries.push({ mediaType: image.mediaType, digest: image.digest, size: image.bytes.length, ...(annotations ? { annotations } : {}) });
    images.push({ repository: request.repository, reference: request.reference, digest: image.digest });
  }

  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const files = [
    { name: 'oci-layout', bytes: json({ imageLayoutVersion: '1.0.0' }) },
    { name: 'index.json', bytes: json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [...indexEntries, ...referrerEntries] }) },
    ...(format === 'docker' ? [{ name: 'manifest.json', bytes: json(dockerEntries) }] : []),
  ];
  const manifestList = [...manifests].map(([digest, bytes]) => ({ digest, bytes }));
  const blobList = [...blobs].filter(([digest]) => !manifests.has(digest)).map(([digest, size]) => ({ digest, size }));
  const contentBytes = manifestList.reduce((sum, m) => sum + m.bytes.length, 0) + blobList.reduce((sum, b) => sum + b.size, 0);
  return { manifests: manifestList, blobs: blobList, files, images, contentBytes };
}
