import { createImageLayout, type ImageLayout } from '../test/support/oci-layout.js';
import { runOk } from '../test/support/tools.js';

/**
 * The upstream content for the mirror benchmark: one big image for the pull-through figures and a set of
 * small-to-medium images for the sync figure, built as OCI layouts and pushed to the upstream registry with
 * `skopeo copy --preserve-digests`, so every registry under test serves exactly the same bytes.
 */

const mib = 1024 * 1024;

/** One image as the upstream holds it. */
export interface UpstreamImage {
  /** Repository path on the upstream, e.g. `bench/mirror`. */
  readonly repo: string;
  readonly tag: string;
  readonly image: ImageLayout;
}

export interface MirrorImageOptions {
  /** Total size of the big image's layers. */
  readonly bigMiB: number;
  /** The big image's layer count (the size is split evenly). */
  readonly bigLayers: number;
  /** Number of images for the sync figure, one repository each. */
  readonly syncImages: number;
}

export interface MirrorImages {
  readonly big: UpstreamImage;
  /** `sync/r00:1` … `sync/r19:1`. */
  readonly sync: readonly UpstreamImage[];
  /** Bytes a sync moves (layers and configs of every sync image). */
  readonly syncBytes: number;
}

/** Layer sizes of one sync image: 1, 2 and 3 MiB of random content, gzip (as real images are). */
const syncLayerMiB = [1, 2, 3] as const;

export async function buildMirrorImages(layoutDir: string, options: MirrorImageOptions): Promise<MirrorImages> {
  const layerBytes = Math.floor((options.bigMiB * mib) / options.bigLayers);
  // Plain tar: gzipping 256 MiB of random bytes would only slow the build, and --preserve-digests keeps it plain.
  const bigLayout = await createImageLayout(layoutDir, {
    tag: 'mirror-big',
    layers: Array.from({ length: options.bigLayers }, () => ({ bytes: layerBytes, files: 1, compress: false })),
  });
  const sync: UpstreamImage[] = [];
  for (let i = 0; i < options.syncImages; i++) {
    const image = await createImageLayout(layoutDir, {
      tag: `sync-${i}`,
      layers: syncLayerMiB.map((size) => ({ bytes: size * mib, files: 2 })),
    });
    sync.push({ repo: `sync/r${String(i).padStart(2, '0')}`, tag: '1', image });
  }
  return {
    big: { repo: 'bench/mirror', tag: '1', image: bigLayout },
    sync,
    syncBytes: sync.reduce((sum, entry) => sum + entry.image.totalBytes, 0),
  };
}

/** Pushes every image to `host` (`127.0.0.1:PORT`), a few at a time. */
export async function pushImages(images: readonly UpstreamImage[], host: string, parallel = 4): Promise<void> {
  const queue = [...images];
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const destination = `docker://${host}/${next.repo}:${next.tag}`;
      const args = ['--insecure-policy', 'copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', next.image.ref, destination];
      await runOk('skopeo', args, { timeoutMs: 180_000 });
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, images.length) }, worker));
}
