import { isDigest, parseDigest } from '../core/digest.js';
import { isPathNotFound, type StorageDriver } from './driver.js';
import { pathFor } from './paths.js';

/**
 * Every repository folder under /repositories, in lexical order: what storage upkeep (garbage collection, the
 * upload purge) must visit. A folder is a repository when it holds one of the `_`-prefixed storage folders; names
 * nest (`team/app/api`), so the walk goes on below folders that are repositories themselves. What clients and
 * people are shown is listedRepositories below.
 */
export async function walkRepositories(driver: StorageDriver): Promise<string[]> {
  const found: string[] = [];
  async function visit(prefix: string): Promise<void> {
    const path = prefix ? pathFor({ kind: 'repository', repository: prefix }) : pathFor({ kind: 'repositoriesRoot' });
    const children = (await driver.list(path)).sort();
    if (prefix && children.some((child) => child === '_manifests' || child === '_layers' || child === '_uploads')) found.push(prefix);
    for (const child of children) {
      if (child.startsWith('_') || child.includes('.tmp')) continue;
      await visit(prefix ? `${prefix}/${child}` : child);
    }
  }
  await visit('');
  return found.sort();
}

/**
 * The repositories the catalog, the admin API (and so the GUI) and the CLI list: those holding at least one
 * manifest, i.e. something a client can pull. A folder left by an abandoned upload (only `_uploads`), a push still
 * sending its layers (only `_layers`) and a repository whose every manifest was deleted are storage, not content;
 * CNCF distribution lists the last kind and its maintainers call that a bug (distribution#1585). One readdir per
 * repository more than the walk itself, and a stat until the first revision link.
 */
export async function listedRepositories(driver: StorageDriver): Promise<string[]> {
  const listed: string[] = [];
  for (const repository of await walkRepositories(driver)) {
    if (await holdsManifest(driver, repository)) listed.push(repository);
  }
  return listed;
}

/** Digest algorithms a manifest revision can be stored under (as repository-store.ts's referrers walk knows them). */
const revisionAlgorithms = ['sha256', 'sha512'];

async function holdsManifest(driver: StorageDriver, repository: string): Promise<boolean> {
  for (const algorithm of revisionAlgorithms) {
    for (const hex of await driver.list(pathFor({ kind: 'manifestRevisions', repository, algorithm }))) {
      const digest = isDigest(`${algorithm}:${hex}`) ? parseDigest(`${algorithm}:${hex}`) : undefined;
      if (!digest) continue;
      // A revision folder without its link is a write a crash cut off: it holds nothing.
      try {
        await driver.stat(pathFor({ kind: 'manifestRevisionLink', repository, digest }));
        return true;
      } catch (error) {
        if (!isPathNotFound(error)) throw error;
      }
    }
  }
  return false;
}
