import { lstat, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { ensurePrivateDir, privateFileMode } from '../config/private-modes.js';
import type { Logger } from '../log.js';
import { isTransferError } from './archive-error.js';
import type { ImageImporter } from './image-importer.js';

/**
 * The watched import folder (default `<dataDir>/import`): an archive dropped in is imported (image-importer.ts),
 * then moved to `imported/`, or to `failed/` beside a `<name>.reason.txt` that says why. chokidar's
 * awaitWriteFinish takes a file only once its size has stood still for `stableMs`, so a copy in progress (a USB
 * stick, a slow network share) is not read half-written. Hidden files and the usual partial-download names
 * (`.part`, `.crdownload`, `.tmp`) are left alone until they are renamed. One archive at a time.
 */
export interface ImportFolderOptions {
  readonly folder: string;
  readonly importer: ImageImporter;
  readonly log: Logger;
  /** How long a file's size must stand still before it is taken. Default 2 s. */
  readonly stableMs?: number;
}

export interface ImportFolder {
  readonly folder: string;
  /** Resolves when every archive seen so far is handled (tests, orderly shutdown). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export const importedFolderName = 'imported';
export const failedFolderName = 'failed';
const reasonSuffix = '.reason.txt';

function isCandidate(name: string): boolean {
  return !name.startsWith('.') && !name.endsWith(reasonSuffix) && !/\.(part|crdownload|tmp|partial)$/i.test(name);
}

/** `name`, or `name` with the time inserted when `imported/name` is taken already (the same archive dropped twice). */
async function freeName(dir: string, name: string): Promise<string> {
  const taken = await lstat(join(dir, name)).then(() => true, () => false);
  if (!taken) return name;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dot = name.lastIndexOf('.');
  return dot > 0 ? `${name.slice(0, dot)}-${stamp}${name.slice(dot)}` : `${name}-${stamp}`;
}

export async function watchImportFolder(options: ImportFolderOptions): Promise<ImportFolder> {
  const { folder, importer, log } = options;
  const imported = join(folder, importedFolderName);
  const failed = join(folder, failedFolderName);
  for (const dir of [folder, imported, failed]) await ensurePrivateDir(dir);

  let queue: Promise<unknown> = Promise.resolve();
  const seen = new Set<string>();

  async function handle(path: string): Promise<void> {
    const name = basename(path);
    const info = await lstat(path).catch(() => undefined);
    // Gone meanwhile (taken back by the user) or replaced by something that is no plain file (a symlink, a folder).
    if (!info?.isFile()) {
      if (info) log.warn({ path }, 'import folder: not a regular file, left alone');
      return;
    }
    try {
      const result = await importer.importFile({ path, actor: 'admin', client: 'import-folder' });
      const target = await freeName(imported, name);
      await rename(path, join(imported, target));
      log.info({ archive: name, images: result.images.map((image) => `${image.repository}${image.tag ? `:${image.tag}` : `@${image.digest}`}`), blobsStored: result.blobsStored }, 'import folder: archive imported');
    } catch (error) {
      const reason = isTransferError(error) ? error.message : `import failed: ${(error as Error).message}`;
      const target = await freeName(failed, name);
      await rename(path, join(failed, target)).catch((moveError: unknown) => log.error({ err: moveError, path }, 'import folder: could not move the archive to failed/'));
      await writeFile(join(failed, `${target}${reasonSuffix}`), `${reason}\n\nArchive: ${name}\nTime: ${new Date().toISOString()}\nNothing from this archive was imported.\n`, { mode: privateFileMode });
      log.warn({ archive: name, reason }, 'import folder: archive refused, moved to failed/');
    }
  }

  const watcher: FSWatcher = watch(folder, {
    depth: 0,
    ignoreInitial: false,
    awaitWriteFinish: { stabilityThreshold: options.stableMs ?? 2000, pollInterval: 100 },
    // Only the folder's own files: imported/ and failed/ are where they go, not new work.
    ignored: (path, stats) => path !== folder && (stats?.isDirectory() === true || !isCandidate(basename(path)) || path.startsWith(`${imported}/`) || path.startsWith(`${failed}/`)),
  });
  watcher.on('add', (path) => {
    if (seen.has(path) || !isCandidate(basename(path))) return;
    seen.add(path);
    queue = queue.then(() => handle(path)).catch((error: unknown) => log.error({ err: error, path }, 'import folder: handling an archive failed')).finally(() => seen.delete(path));
  });
  watcher.on('error', (error) => log.warn({ err: error, folder }, 'import folder: watching failed'));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  log.info({ folder }, 'import folder: archives dropped here are imported');

  return {
    folder,
    settled: () => queue.then(() => undefined),
    async close() {
      await watcher.close();
      await queue.catch(() => undefined);
    },
  };
}
