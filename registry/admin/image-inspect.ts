import { parseDigest } from '../core/digest.js';
import { maxManifestBytes, parseManifest, type Descriptor, type Platform } from '../core/manifest.js';
import type { Registry } from '../index.js';
import type { StoredManifest } from '../storage/repository-store.js';
import { tagComparator } from './tag-order.js';
import type {
  DescriptorView,
  ImageConfigView,
  IndexChild,
  LayerHistoryEntry,
  ManifestDetail,
  PlatformString,
  TagSummary,
  UntaggedManifest,
} from './contract.js';

/**
 * What the GUI shows about an image, read from the registry's own stores (never over HTTP to itself). Manifests
 * and configs are small JSON documents read whole (configs only up to the manifest size cap); layers are never
 * read, their sizes come from the descriptors. Results per digest are cached: content by digest never changes.
 */
export interface ImageInspector {
  /**
   * Undefined when the repository has no such tag or digest. `digest`, when the caller already knows what the tag
   * points at (a listing), saves reading the tag's link.
   */
  summary(repository: string, reference: string, digest?: string): Promise<TagSummary | undefined>;
  /** The image size of a stored manifest (as TagSummary.size), without its tag facts or pull records: for the pull log. */
  imageSize(repository: string, digest: string): Promise<number | undefined>;
  detail(repository: string, reference: string): Promise<ManifestDetail | undefined>;
  /** Manifests no tag points at, newest push first; undefined when the repository does not exist. */
  untagged(repository: string): Promise<UntaggedManifest[] | undefined>;
  /** Unique bytes referenced by the repository's manifests, and its newest push; undefined when it does not exist. */
  repositoryFacts(repository: string): Promise<{ size: number; lastPushedAt?: Date } | undefined>;
}

interface Facts {
  size: number;
  platforms: PlatformString[];
  createdAt?: string;
}

const cacheLimit = 2000;

/** Config media types of runnable images (OCI and Docker); any other config marks an artifact. */
const imageConfigTypes = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

export function platformString(platform: { os?: unknown; architecture?: unknown; variant?: unknown } | undefined): PlatformString | undefined {
  if (!platform || typeof platform.os !== 'string' || typeof platform.architecture !== 'string') return undefined;
  if (platform.os === 'unknown' && platform.architecture === 'unknown') return undefined; // attestation manifests in buildx indexes
  return [platform.os, platform.architecture, typeof platform.variant === 'string' ? platform.variant : undefined].filter(Boolean).join('/');
}

function descriptorView(descriptor: Descriptor): DescriptorView {
  const view: DescriptorView = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
  if (descriptor.artifactType) view.artifactType = descriptor.artifactType;
  if (descriptor.annotations) view.annotations = descriptor.annotations;
  return view;
}

type RawConfig = {
  history?: unknown;
  created?: unknown;
  os?: unknown;
  architecture?: unknown;
  variant?: unknown;
  config?: { Env?: unknown; Cmd?: unknown; Entrypoint?: unknown; WorkingDir?: unknown; User?: unknown; ExposedPorts?: unknown; Labels?: unknown };
};

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function configView(raw: RawConfig): ImageConfigView {
  const inner = typeof raw.config === 'object' && raw.config !== null ? raw.config : {};
  const labels: Record<string, string> = {};
  if (typeof inner.Labels === 'object' && inner.Labels !== null) {
    for (const [key, value] of Object.entries(inner.Labels)) if (typeof value === 'string') labels[key] = value;
  }
  const view: ImageConfigView = {
    env: strings(inner.Env),
    cmd: strings(inner.Cmd),
    entrypoint: strings(inner.Entrypoint),
    exposedPorts: typeof inner.ExposedPorts === 'object' && inner.ExposedPorts !== null ? Object.keys(inner.ExposedPorts) : [],
    labels,
  };
  const optional = {
    created: text(raw.created),
    os: text(raw.os),
    architecture: text(raw.architecture),
    variant: text(raw.variant),
    workingDir: text(inner.WorkingDir),
    user: text(inner.User),
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) (view as unknown as Record<string, string>)[key] = value;
  return view;
}

/**
 * The config's `history` with each step that made a layer paired with that layer, in order (image-spec: the
 * entries without `empty_layer` correspond to `layers` one to one). Steps beyond the last layer keep no index.
 */
export function historyView(raw: RawConfig | null, layerCount: number): LayerHistoryEntry[] {
  if (!raw || !Array.isArray(raw.history)) return [];
  const entries: LayerHistoryEntry[] = [];
  let layer = 0;
  for (const item of raw.history.slice(0, 1000) as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const step = item as { created_by?: unknown; created?: unknown; comment?: unknown; empty_layer?: unknown };
    const entry: LayerHistoryEntry = { emptyLayer: step.empty_layer === true };
    const createdBy = text(step.created_by);
    const created = text(step.created);
    const comment = text(step.comment);
    if (createdBy) entry.createdBy = createdBy;
    if (created) entry.created = created;
    if (comment) entry.comment = comment;
    if (!entry.emptyLayer && layer < layerCount) entry.layer = layer++;
    entries.push(entry);
  }
  return entries;
}

/** `registry` is resolved per call (see AdminDeps.registry). */
export function createImageInspector(registryOf: () => Registry): ImageInspector {
  const facts = new Map<string, Facts>();
  const configs = new Map<string, RawConfig | null>();

  function remember<V>(map: Map<string, V>, key: string, value: V): V {
    if (map.size >= cacheLimit) map.delete(map.keys().next().value as string);
    map.set(key, value);
    return value;
  }

  /** The image config as JSON, or null when it is not JSON (an artifact's), too big, or missing. */
  async function readConfig(descriptor: Descriptor | undefined): Promise<RawConfig | null> {
    if (!descriptor || descriptor.size > maxManifestBytes || !descriptor.mediaType.includes('json')) return null;
    const cached = configs.get(descriptor.digest);
    if (cached !== undefined) return cached;
    const bytes = await registryOf().blobs.read(parseDigest(descriptor.digest));
    let parsed: RawConfig | null = null;
    try {
      const value: unknown = bytes ? JSON.parse(bytes.toString('utf8')) : null;
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) parsed = value as RawConfig;
    } catch {
      parsed = null;
    }
    return remember(configs, descriptor.digest, parsed);
  }

  /** Size, platforms and creation time of a stored manifest; for an index, over the children stored here. */
  async function factsOf(repository: string, manifest: StoredManifest): Promise<Facts> {
    const cached = facts.get(manifest.digest);
    if (cached) return cached;
    const parsed = parseManifest(manifest.bytes);
    const counted = new Set<string>([manifest.digest]);
    let size = manifest.bytes.length;
    const addBlobs = (blobs: Descriptor[]) => {
      for (const blob of blobs) {
        if (counted.has(blob.digest)) continue;
        counted.add(blob.digest);
        size += blob.size;
      }
    };
    let result: Facts;
    if (!parsed.isIndex) {
      addBlobs(parsed.blobs);
      const config = await readConfig(parsed.config);
      const platform = config ? platformString(config as Platform) : undefined;
      result = { size, platforms: platform ? [platform] : [], createdAt: text(config?.created) };
    } else {
      const platforms: PlatformString[] = [];
      let createdAt: string | undefined;
      for (const child of parsed.manifests) {
        const stored = await registryOf().repositories.getManifest(repository, child.digest);
        const platform = platformString(child.platform);
        if (platform && !platforms.includes(platform)) platforms.push(platform);
        if (!stored || counted.has(child.digest)) continue;
        counted.add(child.digest);
        size += stored.bytes.length;
        const childParsed = parseManifest(stored.bytes);
        addBlobs(childParsed.blobs);
        if (!createdAt && !childParsed.isIndex) createdAt = text((await readConfig(childParsed.config))?.created);
      }
      result = { size, platforms, createdAt };
    }
    return remember(facts, manifest.digest, result);
  }

  /**
   * What each tag points at. Every tag is one link read: a few at a time, since a repository may hold 10,000 and the
   * reads are independent (a metadata index would answer this at once).
   */
  async function tagDigests(repository: string, tags: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const batch = 16;
    for (let start = 0; start < tags.length; start += batch) {
      const slice = tags.slice(start, start + batch);
      const manifests = await Promise.all(slice.map((tag) => registryOf().repositories.getManifest(repository, tag)));
      slice.forEach((tag, index) => {
        const digest = manifests[index]?.digest;
        if (digest) found.set(tag, digest);
      });
    }
    return found;
  }

  return {
    async summary(repository, reference, digest) {
      const manifest = await registryOf().repositories.getManifest(repository, digest ?? reference);
      if (!manifest) return undefined;
      const { size, platforms, createdAt } = await factsOf(repository, manifest);
      const usage = await registryOf().pulls.tagUsage(repository, reference, manifest.digest);
      const summary: TagSummary = { tag: reference, digest: manifest.digest, mediaType: manifest.mediaType, size, platforms, pullCount: usage.pullCount };
      if (createdAt) summary.createdAt = createdAt;
      const pushedAt = await registryOf().repositories.pushedAt(repository, reference);
      if (pushedAt) summary.pushedAt = pushedAt.toISOString();
      if (usage.lastPulledAt) summary.lastPulledAt = usage.lastPulledAt.toISOString();
      return summary;
    },

    async imageSize(repository, digest) {
      const manifest = await registryOf().repositories.getManifest(repository, digest);
      return manifest ? (await factsOf(repository, manifest)).size : undefined;
    },

    async detail(repository, reference) {
      const manifest = await registryOf().repositories.getManifest(repository, reference);
      if (!manifest) return undefined;
      const parsed = parseManifest(manifest.bytes);
      const { size, platforms } = await factsOf(repository, manifest);
      const tags: string[] = [];
      for (const [tag, digest] of await tagDigests(repository, (await registryOf().repositories.listTags(repository)) ?? [])) {
        if (digest === manifest.digest) tags.push(tag);
      }
      const children: IndexChild[] = [];
      for (const child of parsed.manifests) {
        const stored = await registryOf().repositories.getManifest(repository, child.digest);
        const view: IndexChild = { ...descriptorView(child), present: stored !== undefined };
        if (stored) view.imageSize = (await factsOf(repository, stored)).size;
        const platform = platformString(child.platform);
        if (platform) view.platform = platform;
        children.push(view);
      }
      const detail: ManifestDetail = {
        repository,
        reference,
        digest: manifest.digest,
        mediaType: manifest.mediaType,
        isIndex: parsed.isIndex,
        manifestSize: manifest.bytes.length,
        size,
        platforms,
        // `latest` first, then t1, t2, t10: the drawer shows the first few of a digest with a thousand tags.
        tags: tags.sort(tagComparator('name')),
        // blobs is [config, ...layers] (foreign layers with urls left out: they are not stored here).
        layers: parsed.isIndex ? [] : parsed.blobs.slice(1).map(descriptorView),
        history: [],
        pullCount: 0,
        children,
        referrers: (await registryOf().repositories.referrers(repository, parseDigest(manifest.digest))).map(descriptorView),
      };
      // parseManifest falls back to the config's media type for artifactType (the referrers API rule): an image's
      // config type there means a plain image, not an artifact.
      const artifactType = parsed.artifactType && !imageConfigTypes.has(parsed.artifactType) ? parsed.artifactType : undefined;
      if (artifactType) detail.artifactType = artifactType;
      if (parsed.config) {
        detail.configDescriptor = descriptorView(parsed.config);
        // An artifact's config (often `{}`) is no image config: showing it as one would list an empty Env, Cmd, ...
        const config = artifactType ? null : await readConfig(parsed.config);
        if (config) detail.config = configView(config);
        detail.history = historyView(config, detail.layers.length);
      }
      const pushedAt = await registryOf().repositories.pushedAt(repository, reference);
      if (pushedAt) detail.pushedAt = pushedAt.toISOString();
      const usage = await registryOf().pulls.tagUsage(repository, reference, manifest.digest);
      detail.pullCount = usage.pullCount;
      if (usage.lastPulledAt) detail.lastPulledAt = usage.lastPulledAt.toISOString();
      if (parsed.subject) detail.subject = descriptorView(parsed.subject);
      if (parsed.annotations) detail.annotations = parsed.annotations;
      return detail;
    },

    async untagged(repository) {
      const store = registryOf().repositories;
      const digests = await store.listManifests(repository);
      const tags = await store.listTags(repository);
      if (!digests || !tags) return undefined;
      const tagged = new Set((await tagDigests(repository, tags)).values());
      // Children of any stored index (tagged or not) are its platforms, not strays.
      const children = new Set<string>();
      const manifests: Array<{ manifest: StoredManifest; parsed: ReturnType<typeof parseManifest> }> = [];
      for (const digest of digests) {
        const manifest = await store.getManifest(repository, digest);
        if (!manifest) continue;
        const parsed = parseManifest(manifest.bytes);
        for (const child of parsed.manifests) children.add(child.digest);
        if (!tagged.has(digest)) manifests.push({ manifest, parsed });
      }
      const views: Array<UntaggedManifest & { time: number }> = [];
      for (const { manifest, parsed } of manifests) {
        const { size, platforms } = await factsOf(repository, manifest);
        const role = parsed.subject ? 'referrer' : children.has(manifest.digest) ? 'platform' : 'untagged';
        const view: UntaggedManifest & { time: number } = { digest: manifest.digest, mediaType: manifest.mediaType, role, size, platforms, time: 0 };
        if (parsed.artifactType && !imageConfigTypes.has(parsed.artifactType)) view.artifactType = parsed.artifactType;
        if (parsed.subject) view.subject = parsed.subject.digest;
        const pushedAt = await store.pushedAt(repository, manifest.digest);
        if (pushedAt) {
          view.pushedAt = pushedAt.toISOString();
          view.time = pushedAt.getTime();
        }
        views.push(view);
      }
      views.sort((a, b) => b.time - a.time || (a.digest < b.digest ? -1 : 1));
      return views.map(({ time: _time, ...view }) => view);
    },

    async repositoryFacts(repository) {
      const store = registryOf().repositories;
      const digests = await store.listManifests(repository);
      if (!digests) return undefined;
      const counted = new Set<string>();
      let size = 0;
      let last: Date | undefined;
      const newer = (time: Date | undefined) => {
        if (time && (!last || time > last)) last = time;
      };
      for (const digest of digests) {
        const manifest = await store.getManifest(repository, digest);
        if (!manifest) continue;
        newer(await store.pushedAt(repository, digest));
        if (!counted.has(digest)) {
          counted.add(digest);
          size += manifest.bytes.length;
        }
        for (const blob of parseManifest(manifest.bytes).blobs) {
          if (counted.has(blob.digest)) continue;
          counted.add(blob.digest);
          size += blob.size;
        }
      }
      // A tag moved onto an older manifest is a push too.
      for (const tag of (await store.listTags(repository)) ?? []) newer(await store.pushedAt(repository, tag));
      return last ? { size, lastPushedAt: last } : { size };
    },
  };
}
