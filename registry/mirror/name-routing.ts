import { isRepositoryName, namespaceOf } from '../core/names.js';
import type { RouteRequest } from '../http/mirror-hook.js';
import type { StateStore } from '../state/index.js';
import { isPathNotFound, type StorageDriver } from '../storage/driver.js';
import { pathFor } from '../storage/paths.js';
import type { UpstreamPool } from './upstream-pool.js';
import { upstreamRepository } from './upstream.js';

/**
 * Which local repository a client's repository name refers to, decided from the truth at the moment of the
 * request: the upstreams, namespaces and sync rules in the state file as it is now, and what is stored on disk
 * now, however it got there (a push, a sync in this server or in `berth sync run`, a cache kept by
 * `berth upstream remove`). Nothing is remembered between requests, so no process has to tell another.
 */
export interface NameRouting {
  /**
   * `hub/library/redis` for `hub/library/redis` (path prefix), for `library/redis?ns=docker.io` (containerd) and,
   * on pulls, for `library/redis` when `library` is not a local namespace (Docker's registry-mirrors: the default
   * upstream). Local names pass unchanged.
   */
  localName(name: string, request: RouteRequest): Promise<string>;
  /**
   * The local repository a pull of `name` is served from when nothing but the name is known (the token service:
   * token requests carry no `?ns=`). Equals `name` when no mirror mapping applies.
   */
  pullTarget(name: string): Promise<string>;
  /** A namespace in the state file, the target of a sync rule, or one with anything stored under it. */
  isLocalNamespace(namespace: string): Promise<boolean>;
}

export interface NameRoutingOptions {
  pool: UpstreamPool;
  state: StateStore;
  /** The registry's storage: a namespace with a folder under /repositories is local. */
  driver: StorageDriver;
}

/**
 * Requests that Docker's registry-mirrors sends: manifest GET/HEAD, blob GET, tag lists. A blob HEAD is how pushers
 * probe for existing layers, so it stays local (a new namespace would otherwise leak its digests to the default
 * upstream before its first manifest lands).
 */
function pullsFromMirror(method: string, kind: string): boolean {
  if (kind === 'manifest') return method === 'GET' || method === 'HEAD';
  if (kind === 'blob' || kind === 'tags') return method === 'GET';
  return false;
}

const noQuery = new URLSearchParams();

export function createNameRouting({ pool, state, driver }: NameRoutingOptions): NameRouting {
  async function hasStoredContent(namespace: string): Promise<boolean> {
    if (!isRepositoryName(namespace)) return false;
    try {
      return (await driver.stat(pathFor({ kind: 'repository', repository: namespace }))).isDirectory;
    } catch (error) {
      if (isPathNotFound(error)) return false;
      throw error;
    }
  }

  async function isLocalNamespace(namespace: string): Promise<boolean> {
    const recorded = state.read();
    // A sync rule's target is local from the moment the rule exists, before its first image lands.
    if (recorded.namespaces.some((ns) => ns.name === namespace) || recorded.syncRules.some((rule) => rule.into === namespace)) return true;
    return hasStoredContent(namespace);
  }

  async function localName(name: string, { method, kind, query }: RouteRequest): Promise<string> {
    const first = namespaceOf(name);
    if (pool.get(first) && name.includes('/')) return name;
    const ns = query.get('ns');
    const byHost = ns ? pool.byHost(ns) : undefined;
    const chosen = byHost ?? (pullsFromMirror(method, kind) ? pool.defaultUpstream() : undefined);
    if (!chosen) return name;
    // Checked only when the default upstream would take the name: the disk is asked only on that path.
    if (!byHost && (await isLocalNamespace(first))) return name;
    const local = `${chosen.record.name}/${upstreamRepository(chosen.record, name)}`;
    return isRepositoryName(local) ? local : name;
  }

  return {
    localName,
    pullTarget: (name) => localName(name, { method: 'GET', kind: 'manifest', query: noQuery }),
    isLocalNamespace,
  };
}
