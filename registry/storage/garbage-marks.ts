import type { BlobStore } from './blob-store.js';
import { manifestReferences } from './repository-index-builder.js';
import type { ManifestReferences, RepositoryIndex } from './repository-index.js';

/**
 * The mark phase of garbage collection, from the metadata index in one pass: every repository's roots (manifest
 * revisions, intents included, and tag targets) are followed through what each manifest references (config, layers,
 * an index's children and theirs) to the digests the repository keeps. What a manifest references comes from the
 * index (recorded when it was stored) or, once, from its bytes, and is looked up once per run however many
 * repositories share it: the cost is O(links + references), not repositories x blobs.
 *
 * Extra roots (the trash's manifests, lifecycle/trash.ts) are followed like revisions of their repository, so what
 * a deleted-but-restorable image needs (its bytes, layers, layer links) stays, also in a repository that has no link
 * left; one whose bytes are gone does not make its repository unreadable (it is not a revision any more).
 */
export type ExtraRoots = () => Promise<ReadonlyArray<{ repository: string; digest: string }>>;

export interface RepositoryMarks {
  /** Root manifests: revisions (and intents) and tag targets. */
  roots: Set<string>;
  /** Manifests followed so far (roots and children). */
  manifests: Set<string>;
  /** Every digest the roots keep: themselves, their blobs, children and the children's blobs. */
  referenced: Set<string>;
  /** Layer links the index holds (intents included). */
  layers: Set<string>;
  /**
   * Roots whose bytes are missing or not a manifest: what they keep is unknown, so none of the repository's layer
   * links may be judged unreferenced (never guess when guessing wrong loses data).
   */
  unreadable: number;
}

export interface Marker {
  /** Reads the index and marks every repository. */
  markAll(): Promise<Map<string, RepositoryMarks>>;
  /** Follows `roots` into `marks` (manifests already followed are skipped): for manifests that appeared since markAll. */
  follow(marks: RepositoryMarks, roots: Iterable<string>, options?: { required?: boolean }): Promise<void>;
}

export function createMarker(index: RepositoryIndex, blobs: Pick<BlobStore, 'read'>, extraRoots?: ExtraRoots): Marker {
  const known = new Map<string, ManifestReferences | null>();
  const referencesOf = async (manifest: string): Promise<ManifestReferences | null> => {
    let references = known.get(manifest);
    if (references === undefined) {
      references = (await manifestReferences(blobs, index, manifest)) ?? null;
      known.set(manifest, references);
    }
    return references;
  };

  async function follow(marks: RepositoryMarks, roots: Iterable<string>, { required = true } = {}): Promise<void> {
    const pending: Array<{ digest: string; root: boolean }> = [];
    for (const root of roots) {
      marks.roots.add(root);
      pending.push({ digest: root, root: required });
    }
    // Children are followed even when they are not revisions any more (deleted by digest while the index still
    // names them), so an index that is kept stays complete.
    for (let next = pending.pop(); next; next = pending.pop()) {
      if (marks.manifests.has(next.digest)) continue;
      marks.manifests.add(next.digest);
      marks.referenced.add(next.digest);
      const references = await referencesOf(next.digest);
      if (!references) {
        // A root must be readable; a child may legitimately be absent (a platform a pull-through cache never fetched).
        if (next.root) marks.unreadable += 1;
        continue;
      }
      for (const blob of references.blobs) marks.referenced.add(blob);
      for (const child of references.manifests) pending.push({ digest: child, root: false });
      // The subject is not followed: a referrer (signature, SBOM) does not keep the image it points at alive.
    }
  }

  return {
    follow,
    async markAll() {
      const marks = new Map<string, RepositoryMarks>();
      const roots = new Map<string, string[]>();
      const marksOf = (repository: string): RepositoryMarks => {
        let entry = marks.get(repository);
        if (!entry) {
          entry = { roots: new Set(), manifests: new Set(), referenced: new Set(), layers: new Set(), unreadable: 0 };
          marks.set(repository, entry);
          roots.set(repository, []);
        }
        return entry;
      };
      for (const { repository, kind, digest } of await index.linkedDigests()) {
        const entry = marksOf(repository);
        if (kind === 'layer') entry.layers.add(digest);
        else roots.get(repository)?.push(digest);
      }
      const extra = extraRoots ? await extraRoots() : [];
      for (const { repository } of extra) marksOf(repository);
      for (const [repository, entry] of marks) await follow(entry, roots.get(repository) ?? []);
      for (const { repository, digest } of extra) await follow(marksOf(repository), [digest], { required: false });
      return marks;
    },
  };
}
