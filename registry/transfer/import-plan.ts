import { digestOf } from '../core/digest.js';
import { isRegistryError } from '../core/errors.js';
import { maxManifestBytes, mediaTypes, parseManifest, type Descriptor, type ParsedManifest } from '../core/manifest.js';
import { invalidArchive, refusedArchive } from './archive-error.js';
import type { ArchiveScan, ScannedFile } from './archive-scan.js';
import { nameOfLayoutImage, parseImageName, type ImageName } from './image-names.js';

/**
 * What an archive holds, worked out from its scan before anything is written: which manifests go into which
 * repository (children before the index that lists them, referrers after their subject), which blobs each needs,
 * which tags point where. Every manifest is parsed with the registry's own parser, so what a push would refuse
 * is refused here, naming the archive entry. Both formats come out the same: an OCI image layout (index.json; Docker
 * 25+ writes one too) keeps its manifests byte for byte; a classic `docker save` archive (manifest.json only)
 * carries none, so each of its images gets an OCI manifest built over its config and layers (their bytes are kept).
 */
export interface PlannedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly parsed: ParsedManifest;
}

export interface PlannedImage extends ImageName {
  readonly digest: string;
  readonly mediaType: string;
}

export interface RepositoryPlan {
  readonly repository: string;
  /** In write order: children first, referrers after what they refer to. */
  readonly manifests: PlannedManifest[];
  /** Digests of the configs and layers the manifests need. */
  readonly blobs: Set<string>;
  /** Children the archive does not hold: the repository must have them already (an index exported without them). */
  readonly externalManifests: Set<string>;
}

export interface ImportPlan {
  readonly format: 'oci' | 'docker';
  readonly images: PlannedImage[];
  readonly repositories: Map<string, RepositoryPlan>;
  /** Where each blob of the archive is: its entry name. */
  readonly blobEntries: Map<string, ScannedFile>;
}

const layoutBlobName = (digest: string) => `blobs/${digest.replace(':', '/')}`;

function jsonOf(file: ScannedFile | undefined, name: string): unknown {
  if (!file) return undefined;
  if (!file.json) throw invalidArchive(`archive entry ${name} is not a small JSON file`, name);
  try {
    return JSON.parse(file.json.toString('utf8'));
  } catch (error) {
    throw invalidArchive(`archive entry ${name} is not valid JSON: ${(error as Error).message}`, name);
  }
}

function parseOrRefuse(bytes: Buffer, mediaType: string | undefined, entry: string): ParsedManifest {
  try {
    return parseManifest(bytes, mediaType);
  } catch (error) {
    if (isRegistryError(error)) throw invalidArchive(`archive entry ${entry}: ${error.message}`, entry);
    throw error;
  }
}

function checkSize(descriptor: Descriptor, file: ScannedFile, where: string): void {
  if (descriptor.size !== file.size) {
    throw invalidArchive(`${where} says ${descriptor.digest} is ${descriptor.size} bytes, but archive entry ${file.name} holds ${file.size}`, file.name);
  }
}

export function planImport(scan: ArchiveScan, into: string | undefined): ImportPlan {
  const { files } = scan;
  if (files.has('index.json')) return planLayout(scan, into);
  if (files.has('manifest.json')) return planDockerSave(scan, into);
  throw invalidArchive('the archive is neither an OCI image layout (no index.json) nor a "docker save" archive (no manifest.json)');
}

/** Collects repositories' plans; one manifest may go into several repositories. */
function createPlanBuilder() {
  const repositories = new Map<string, RepositoryPlan>();
  return {
    repositories,
    plan(repository: string): RepositoryPlan {
      let plan = repositories.get(repository);
      if (!plan) repositories.set(repository, (plan = { repository, manifests: [], blobs: new Set(), externalManifests: new Set() }));
      return plan;
    },
  };
}

function planLayout(scan: ArchiveScan, into: string | undefined): ImportPlan {
  const { files } = scan;
  const layout = jsonOf(files.get('oci-layout'), 'oci-layout') as { imageLayoutVersion?: unknown } | undefined;
  if (!layout || typeof layout !== 'object' || typeof layout.imageLayoutVersion !== 'string') {
    throw invalidArchive('the archive has an index.json but no valid oci-layout file: not an OCI image layout', 'oci-layout');
  }
  const indexFile = files.get('index.json') as ScannedFile;
  const index = parseOrRefuse(indexFile.json ?? Buffer.alloc(0), undefined, 'index.json');
  if (!index.isIndex) throw invalidArchive('index.json is not an image index', 'index.json');

  const blobEntries = new Map<string, ScannedFile>();
  const manifests = new Map<string, PlannedManifest | null>();
  /** The manifest a descriptor names, read from the archive; null when the archive does not hold it. */
  function load(descriptor: Descriptor, where: string): PlannedManifest | null {
    const known = manifests.get(descriptor.digest);
    if (known !== undefined) return known;
    const name = layoutBlobName(descriptor.digest);
    const file = files.get(name);
    if (!file) {
      manifests.set(descriptor.digest, null);
      return null;
    }
    checkSize(descriptor, file, where);
    if (file.size > maxManifestBytes) throw refusedArchive(`${where}: manifest ${name} is ${file.size} bytes, more than the ${maxManifestBytes} a manifest may have`, name);
    if (!file.json) throw invalidArchive(`${where} names ${descriptor.digest} as a manifest, but archive entry ${name} is not JSON`, name);
    const parsed = parseOrRefuse(file.json, descriptor.mediaType, name);
    const planned: PlannedManifest = { digest: descriptor.digest, mediaType: parsed.mediaType, bytes: file.json, parsed };
    manifests.set(descriptor.digest, planned);
    return planned;
  }

  const builder = createPlanBuilder();
  /** Adds a manifest and what it needs to a repository's plan, children first. */
  function add(plan: RepositoryPlan, manifest: PlannedManifest, seen: Set<string>): void {
    if (seen.has(manifest.digest)) return;
    seen.add(manifest.digest);
    const entry = layoutBlobName(manifest.digest);
    for (const child of manifest.parsed.manifests) {
      const loaded = load(child, entry);
      if (loaded) add(plan, loaded, seen);
      else plan.externalManifests.add(child.digest);
    }
    for (const blob of manifest.parsed.blobs) {
      const file = files.get(layoutBlobName(blob.digest));
      if (!file) throw invalidArchive(`manifest ${entry} needs blob ${blob.digest}, which the archive does not hold (no ${layoutBlobName(blob.digest)})`, entry);
      checkSize(blob, file, `manifest ${entry}`);
      blobEntries.set(blob.digest, file);
      plan.blobs.add(blob.digest);
    }
    if (!plan.manifests.some((m) => m.digest === manifest.digest)) plan.manifests.push(manifest);
  }

  const images: PlannedImage[] = [];
  const seenPerRepository = new Map<string, Set<string>>();
  const seenIn = (repository: string) => {
    let seen = seenPerRepository.get(repository);
    if (!seen) seenPerRepository.set(repository, (seen = new Set()));
    return seen;
  };
  const referrers: Array<{ manifest: PlannedManifest; subject: string; position: number }> = [];
  const unnamed: Array<{ manifest: PlannedManifest; position: number }> = [];
  index.manifests.forEach((descriptor, position) => {
    const where = `index.json manifests[${position}]`;
    const manifest = load(descriptor, where);
    if (!manifest) throw invalidArchive(`${where} names ${descriptor.digest}, which the archive does not hold (no ${layoutBlobName(descriptor.digest)})`, 'index.json');
    const name = nameOfLayoutImage(descriptor.annotations, into);
    if (name === 'invalid') {
      throw refusedArchive(`${where} names the image ${JSON.stringify(descriptor.annotations?.['org.opencontainers.image.ref.name'])}, which is not a repository:tag Berth can store: pass --repository REPO`, 'index.json');
    }
    if (name === undefined || (name.tag === undefined && into === undefined && manifest.parsed.subject)) {
      if (manifest.parsed.subject) referrers.push({ manifest, subject: manifest.parsed.subject.digest, position });
      else unnamed.push({ manifest, position });
      return;
    }
    add(builder.plan(name.repository), manifest, seenIn(name.repository));
    images.push({ ...name, digest: manifest.digest, mediaType: manifest.mediaType });
  });
  const descriptorsByDigest = new Map(index.manifests.map((descriptor) => [descriptor.digest, descriptor]));
  const onlyRepository = () => (builder.repositories.size === 1 ? [...builder.repositories.keys()][0] : undefined);
  for (const { manifest, position } of unnamed) {
    const repository = into ?? onlyRepository();
    if (repository === undefined) {
      const tag = descriptorsByDigest.get(manifest.digest)?.annotations?.['org.opencontainers.image.ref.name'];
      const what = tag ? `names only the tag "${tag}", no repository` : 'has no image name';
      throw refusedArchive(`index.json manifests[${position}] (${manifest.digest}) ${what}: pass --repository REPO to say where it goes`, 'index.json');
    }
    add(builder.plan(repository), manifest, seenIn(repository));
    images.push({ repository, digest: manifest.digest, mediaType: manifest.mediaType });
  }
  // A referrer (signature, SBOM) goes wherever its subject went; its subject must be written first.
  for (const { manifest, subject, position } of referrers) {
    const homes = [...builder.repositories.values()].filter((plan) => plan.manifests.some((m) => m.digest === subject));
    const targets = homes.length > 0 ? homes : [into ?? onlyRepository()].filter((r): r is string => r !== undefined).map((r) => builder.plan(r));
    if (targets.length === 0) throw refusedArchive(`index.json manifests[${position}] refers to ${subject}, which no named image of the archive holds: pass --repository REPO`, 'index.json');
    for (const plan of targets) add(plan, manifest, seenIn(plan.repository));
  }
  if (images.length === 0 && referrers.length === 0) throw invalidArchive('index.json lists no images: there is nothing to import', 'index.json');
  return { format: 'oci', images, repositories: builder.repositories, blobEntries };
}

interface DockerSaveItem {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

function layerMediaType(file: ScannedFile): string {
  if (file.head[0] === 0x1f && file.head[1] === 0x8b) return 'application/vnd.oci.image.layer.v1.tar+gzip';
  if (file.head.length >= 4 && file.head.readUInt32LE(0) === 0xfd2fb528) return 'application/vnd.oci.image.layer.v1.tar+zstd';
  return 'application/vnd.oci.image.layer.v1.tar';
}

function planDockerSave(scan: ArchiveScan, into: string | undefined): ImportPlan {
  const { files } = scan;
  const items = jsonOf(files.get('manifest.json'), 'manifest.json');
  if (!Array.isArray(items) || items.length === 0) throw invalidArchive('manifest.json is not a list of images', 'manifest.json');
  const builder = createPlanBuilder();
  const images: PlannedImage[] = [];
  const blobEntries = new Map<string, ScannedFile>();
  (items as DockerSaveItem[]).forEach((item, position) => {
    const where = `manifest.json[${position}]`;
    if (typeof item !== 'object' || item === null || typeof item.Config !== 'string' || !Array.isArray(item.Layers)) {
      throw invalidArchive(`${where} has no Config and Layers`, 'manifest.json');
    }
    const fileOf = (name: unknown, what: string): ScannedFile => {
      const file = typeof name === 'string' ? files.get(name.replace(/^\.\//, '')) : undefined;
      if (!file) throw invalidArchive(`${where} names ${what} ${JSON.stringify(name)}, which the archive does not hold`, 'manifest.json');
      return file;
    };
    const config = fileOf(item.Config, 'the config');
    if (!config.json) throw invalidArchive(`${where}: the config ${config.name} is not JSON`, config.name);
    const layers = item.Layers.map((layer) => fileOf(layer, 'the layer'));
    const manifestJson = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: layers.map((layer) => ({ mediaType: layerMediaType(layer), digest: layer.digest, size: layer.size })),
    };
    const bytes = Buffer.from(JSON.stringify(manifestJson));
    const manifest: PlannedManifest = { digest: digestOf(bytes), mediaType: mediaTypes.ociManifest, bytes, parsed: parseManifest(bytes) };
    for (const file of [config, ...layers]) blobEntries.set(file.digest, file);
    const repoTags = Array.isArray(item.RepoTags) ? item.RepoTags : [];
    const names: ImageName[] = [];
    for (const text of repoTags) {
      const name = typeof text === 'string' ? parseImageName(text, true) : undefined;
      if (!name) throw refusedArchive(`${where} tags the image ${JSON.stringify(text)}, which is not a repository:tag Berth can store: pass --repository REPO`, 'manifest.json');
      names.push(into ? { repository: into, ...(name.tag ? { tag: name.tag } : {}) } : name);
    }
    if (names.length === 0) {
      if (!into) throw refusedArchive(`${where} is an image without a tag: pass --repository REPO to say where it goes`, 'manifest.json');
      names.push({ repository: into });
    }
    for (const name of names) {
      const plan = builder.plan(name.repository);
      for (const file of [config, ...layers]) plan.blobs.add(file.digest);
      if (!plan.manifests.some((m) => m.digest === manifest.digest)) plan.manifests.push(manifest);
      images.push({ ...name, digest: manifest.digest, mediaType: manifest.mediaType });
    }
  });
  return { format: 'docker', images, repositories: builder.repositories, blobEntries };
}
