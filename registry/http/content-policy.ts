import type { RegistryError } from '../core/errors.js';

/**
 * What the distribution API asks before it stores, moves, deletes or serves content on a client's behalf (injected
 * by Berth from the lifecycle policies, registry/lifecycle/content-policy.ts; a bare registry has none). Each
 * `before*` throws a RegistryError (DENIED) to refuse. Berth's own writers (pull-through, sync) never ask: mirrors
 * are exempt from these rules.
 */
export interface ContentPolicy {
  /** Before a manifest PUT by tag: refuses to move an immutable tag to another digest (same digest is fine). */
  beforeTagPut(repository: string, tag: string, digest: string): Promise<void>;
  /**
   * Before tags go into the trash (lifecycle/trash.ts asks it for every move): a tag delete names its tag, a manifest
   * delete every tag pointing at it or its referrers, a repository delete all of them. Refuses an immutable one.
   */
  beforeDelete(repository: string, tags: readonly string[]): Promise<void>;
  /** What the namespace of `repository` may still store, or undefined when it has no storage quota. */
  storageAllowance(repository: string): Promise<StorageAllowance | undefined>;
  /**
   * Before a manifest GET (not HEAD): refuses once the namespace's monthly pull traffic is used up, so a pull stops at
   * its start, where clients show the registry's message (most report a refused blob GET by its status alone).
   */
  beforeManifestPull(repository: string): Promise<void>;
  /** Before a blob GET serves `bytes`: refuses once the namespace's monthly pull traffic is used up. */
  beforeBlobPull(repository: string, bytes: number): Promise<void>;
  /** After a blob GET began serving `bytes` (counted towards the monthly pull traffic). */
  blobPulled(repository: string, bytes: number): void;
}

export interface StorageAllowance {
  namespace: string;
  /** Bytes the namespace may still take before it passes its quota (0 when it is at or past it). */
  remaining: number;
  /** Whether the namespace already holds `digest` (storing it in another of its repositories adds no bytes). */
  holds(digest: string): Promise<boolean>;
  /** The DENIED answer: the quota, the usage and, when known, what the refused write (`what`: "this upload") needs. */
  refuse(needs?: number, what?: string): RegistryError;
}
