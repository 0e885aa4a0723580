import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

/**
 * Offline consistency check of a Berth data directory (layout in registry/storage/paths.ts), run after crashes:
 * every blob is what its address says, and every tag leads to a manifest whose content is all there.
 * It reads the disk directly, not through the server, so a server that hides corruption cannot fool it.
 */

export interface DataDirReport {
  /** Number of `blobs/sha256/<2>/<hex>/data` files checked. */
  readonly blobs: number;
  /** Number of tag links checked. */
  readonly tags: number;
  /** Files under blobs/ that are not `data` (e.g. temp files a crash left behind): not corruption, but worth knowing. */
  readonly strays: readonly string[];
  /**
   * Tag folders without `current/link`: a crash between creating the folder and the atomic rename of the link.
   * Berth does not list such tags, so they are leftovers, not corruption.
   */
  readonly incompleteTags: readonly string[];
  /** Everything that is wrong; empty when the directory is consistent. */
  readonly problems: readonly string[];
}

/** sha256 of a file, streamed (blobs can be hundreds of MiB). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), hash);
  return `sha256:${hash.digest('hex')}`;
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Path of a blob's data file. */
export function blobDataPath(dataDir: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

/** Paths of every blob data file (for counting: content addressing means a re-upload adds no file). */
export async function listBlobFiles(dataDir: string): Promise<string[]> {
  const root = join(dataDir, 'blobs', 'sha256');
  const files: string[] = [];
  for (const prefix of await listDir(root)) {
    for (const hex of await listDir(join(root, prefix))) {
      if (await exists(join(root, prefix, hex, 'data'))) files.push(join(root, prefix, hex, 'data'));
    }
  }
  return files;
}

/** Repository names (they contain slashes) found under repositories/, by their `_manifests` folders. */
async function listRepositories(dataDir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    const entries = await listDir(join(dataDir, 'repositories', relative));
    if (entries.includes('_manifests')) found.push(relative);
    for (const entry of entries) if (!entry.startsWith('_')) await walk(relative === '' ? entry : `${relative}/${entry}`);
  };
  await walk('');
  return found;
}

interface ManifestShape {
  readonly config?: { readonly digest?: string };
  readonly layers?: readonly { readonly digest?: string }[];
  readonly manifests?: readonly { readonly digest?: string }[];
}

export async function checkDataDir(dataDir: string): Promise<DataDirReport> {
  const problems: string[] = [];
  const strays: string[] = [];
  const incompleteTags: string[] = [];
  const root = join(dataDir, 'blobs', 'sha256');
  let blobs = 0;
  for (const prefix of await listDir(root)) {
    for (const hex of await listDir(join(root, prefix))) {
      const dir = join(root, prefix, hex);
      if (!hex.startsWith(prefix) || !/^[0-9a-f]{64}$/.test(hex)) {
        strays.push(dir);
        continue;
      }
      for (const file of await listDir(dir)) {
        if (file !== 'data') strays.push(join(dir, file));
      }
      if (!(await exists(join(dir, 'data')))) continue;
      blobs += 1;
      const actual = await sha256File(join(dir, 'data'));
      if (actual !== `sha256:${hex}`) problems.push(`blob ${hex} holds content with digest ${actual}`);
    }
  }

  let tags = 0;
  for (const repo of await listRepositories(dataDir)) {
    const repoDir = join(dataDir, 'repositories', repo);
    const tagsDir = join(repoDir, '_manifests', 'tags');
    for (const tag of await listDir(tagsDir)) {
      const where = `${repo}:${tag}`;
      const linkPath = join(tagsDir, tag, 'current', 'link');
      let digest: string;
      try {
        digest = (await readFile(linkPath, 'utf8')).trim();
        tags += 1;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          incompleteTags.push(where);
          continue;
        }
        problems.push(`${where}: tag link unreadable (${(error as Error).message})`);
        continue;
      }
      if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
        problems.push(`${where}: tag link holds ${JSON.stringify(digest.slice(0, 100))}, not a digest`);
        continue;
      }
      const hex = digest.slice('sha256:'.length);
      if (!(await exists(join(repoDir, '_manifests', 'revisions', 'sha256', hex, 'link')))) {
        problems.push(`${where}: manifest ${digest} has no revision link in the repository`);
      }
      const manifestPath = blobDataPath(dataDir, digest);
      if (!(await exists(manifestPath))) {
        problems.push(`${where}: manifest blob ${digest} missing`);
        continue;
      }
      // Manifests are small (the server caps them at 4 MiB), so reading one whole is fine.
      let manifest: ManifestShape;
      try {
        manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ManifestShape;
      } catch (error) {
        problems.push(`${where}: manifest ${digest} is not JSON (${(error as Error).message})`);
        continue;
      }
      const referenced = [
        manifest.config?.digest,
        ...(manifest.layers ?? []).map((layer) => layer.digest),
        ...(manifest.manifests ?? []).map((child) => child.digest),
      ];
      for (const child of referenced) {
        if (child === undefined) continue;
        if (!(await exists(blobDataPath(dataDir, child)))) problems.push(`${where}: manifest ${digest} references missing blob ${child}`);
      }
    }
  }
  return { blobs, tags, strays, incompleteTags, problems };
}
