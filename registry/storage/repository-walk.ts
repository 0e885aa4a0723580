import type { StorageDriver } from './driver.js';
import { pathFor } from './paths.js';

/**
 * Every repository under /repositories, in lexical order. A folder is a repository when it holds
 * one of the `_`-prefixed storage folders; names nest (`team/app/api`), so the walk goes on below
 * folders that are repositories themselves.
 */
export async function walkRepositories(driver: StorageDriver): Promise<string[]> {
  const found: string[] = [];
  async function visit(prefix: string): Promise<void> {
    const path = prefix ? pathFor({ kind: 'repository', repository: prefix }) : pathFor({ kind: 'repositoriesRoot' });
    const children = (await driver.list(path)).sort();
    if (prefix && children.some(isStorageFolder)) found.push(prefix);
    for (const child of children) {
      if (child.startsWith('_') || child.includes('.tmp')) continue;
      await visit(prefix ? `${prefix}/${child}` : child);
    }
  }
  await visit('');
  return found.sort();
}

const isStorageFolder = (child: string) => child === '_manifests' || child === '_layers' || child === '_uploads';

/** Whether `repository` is a repository folder (as the walk decides). */
export async function isRepository(driver: StorageDriver, repository: string): Promise<boolean> {
  return (await driver.list(pathFor({ kind: 'repository', repository }))).some(isStorageFolder);
}
