import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes a large store straight into the on-disk layout that Berth and distribution share (Berth's data directory,
 * or distribution's `<rootdirectory>/docker/registry/v2`): blobs, layer links, revisions and tags, without pushing
 * (pushing 100,000 blobs over HTTP would take the benchmark's whole budget). Each repository holds one image
 * (config + layers) tagged `tagsPerRepository` times, plus `orphansPerRepository` linked layers no manifest
 * references: the garbage a collection removes.
 */
export interface SeedSpec {
  repositories: number;
  tagsPerRepository: number;
  layersPerRepository: number;
  orphansPerRepository: number;
  /** Repository names are `<prefix>/r00042`. */
  prefix: string;
}

export interface SeededStore {
  repositories: string[];
  blobs: number;
  /** A repository holding `tagsPerRepository` tags (the first one). */
  firstRepository: string;
}

const parallel = 64;

export async function seedStore(root: string, spec: SeedSpec): Promise<SeededStore> {
  const repositories: string[] = [];
  let blobs = 0;
  const jobs: Array<() => Promise<void>> = [];
  const put = (path: string, content: string | Buffer) =>
    jobs.push(async () => {
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, content);
    });
  const blob = (bytes: Buffer): string => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    put(join(root, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'), bytes);
    blobs += 1;
    return hex;
  };
  const width = String(spec.repositories).length;
  for (let r = 0; r < spec.repositories; r++) {
    const name = `${spec.prefix}/r${String(r).padStart(width, '0')}`;
    repositories.push(name);
    const repo = join(root, 'repositories', ...name.split('/'));
    const link = (folder: string, hex: string) => put(join(repo, folder, 'sha256', hex, 'link'), `sha256:${hex}`);
    const layers = Array.from({ length: spec.layersPerRepository }, () => randomBytes(64));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed: name }));
    const configHex = blob(config);
    link('_layers', configHex);
    const layerDescriptors = layers.map((bytes) => {
      const hex = blob(bytes);
      link('_layers', hex);
      return { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${hex}`, size: bytes.length };
    });
    for (let o = 0; o < spec.orphansPerRepository; o++) link('_layers', blob(randomBytes(64)));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: config.length },
        layers: layerDescriptors,
      }),
    );
    const manifestHex = blob(manifest);
    link('_manifests/revisions', manifestHex);
    for (let t = 0; t < spec.tagsPerRepository; t++) {
      const tag = join(repo, '_manifests', 'tags', `v${t}`);
      put(join(tag, 'current', 'link'), `sha256:${manifestHex}`);
      put(join(tag, 'index', 'sha256', manifestHex, 'link'), `sha256:${manifestHex}`);
    }
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < jobs.length) await (jobs[next++] as () => Promise<void>)();
    }),
  );
  return { repositories, blobs, firstRepository: repositories[0] as string };
}
