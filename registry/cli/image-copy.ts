import { parseDigest } from '../core/digest.js';
import { parseManifest } from '../core/manifest.js';
import type { RepositoryStore, StoredManifest } from '../storage/repository-store.js';

/**
 * Copies an image between repositories of this Berth without moving content: the blobs are content-addressed, so
 * the copy links each one into the destination and stores the same manifest bytes there (same digest, byte for
 * byte). An index comes with all its children. Writes follow the registry's push order (blobs linked, children,
 * then the manifest the tag points at), so a reader never sees a tag to something incomplete.
 */
export interface ImageCopyPlan {
  /** Every manifest to store, children before the index that lists them; the last one is the source itself. */
  manifests: StoredManifest[];
  /** Each distinct blob (config and layers) of every manifest. */
  blobs: string[];
}

/** What keeps an image from being copied: parts the source does not hold (a mirror fetches layers on first pull). */
export interface MissingParts {
  blobs: string[];
  /** Children of an index that are not stored here, with their platform when the index names one. */
  children: Array<{ digest: string; platform?: string }>;
}

export async function planImageCopy(
  repositories: RepositoryStore,
  source: string,
  root: StoredManifest,
): Promise<{ plan: ImageCopyPlan; missing: MissingParts }> {
  const manifests: StoredManifest[] = [];
  const blobs = new Set<string>();
  const missing: MissingParts = { blobs: [], children: [] };
  const seen = new Set<string>();
  async function visit(manifest: StoredManifest): Promise<void> {
    if (seen.has(manifest.digest)) return;
    seen.add(manifest.digest);
    const parsed = parseManifest(manifest.bytes);
    for (const child of parsed.manifests) {
      const stored = await repositories.getManifest(source, child.digest);
      if (!stored) {
        const platform = child.platform ? [child.platform.os, child.platform.architecture, child.platform.variant].filter(Boolean).join('/') : undefined;
        missing.children.push({ digest: child.digest, ...(platform ? { platform } : {}) });
        continue;
      }
      await visit(stored);
    }
    for (const blob of parsed.blobs) {
      if (blobs.has(blob.digest)) continue;
      blobs.add(blob.digest);
      if ((await repositories.blobSize(source, parseDigest(blob.digest))) === undefined) missing.blobs.push(blob.digest);
    }
    manifests.push(manifest);
  }
  await visit(root);
  return { plan: { manifests, blobs: [...blobs] }, missing };
}

export interface ImageCopyResult {
  /** Blobs newly linked into the destination (the rest were there already). */
  linked: number;
  /** Manifests stored under the destination, the source's own included. */
  manifests: number;
}

/** Carries out a plan with nothing missing; `tag` undefined stores the image by digest only. */
export async function copyImage(repositories: RepositoryStore, plan: ImageCopyPlan, destination: string, tag: string | undefined): Promise<ImageCopyResult> {
  let linked = 0;
  for (const blob of plan.blobs) {
    const digest = parseDigest(blob);
    if ((await repositories.blobSize(destination, digest)) !== undefined) continue;
    await repositories.linkBlob(destination, digest);
    linked += 1;
  }
  const root = plan.manifests.at(-1);
  for (const manifest of plan.manifests) {
    const reference = manifest === root && tag !== undefined ? tag : manifest.digest;
    await repositories.putManifest(destination, reference, manifest.bytes, manifest.mediaType);
  }
  return { linked, manifests: plan.manifests.length };
}
