import { EventEmitter } from 'node:events';

/**
 * Changes to registry content, for the audit log, the admin API's live stream, metrics and the log.
 * `actor` is a token name or `anonymous`, never a secret. On manifest pushes and pulls, `size` is the manifest's
 * bytes and `durationMs` the time the request took to handle (reading the body, or fetching from an upstream).
 */
export interface RegistryEventMap {
  'manifest.pushed': [{ repository: string; reference: string; digest: string; mediaType: string; size: number; durationMs: number; actor: string; client: string }];
  /** `trashEntry`: the trash entry that can bring it back (lifecycle/trash.ts). */
  'manifest.deleted': [{ repository: string; digest: string; actor: string; client: string; trashEntry?: string }];
  'tag.deleted': [{ repository: string; tag: string; actor: string; client: string; trashEntry?: string }];
  'blob.deleted': [{ repository: string; digest: string; actor: string; client: string }];
  'blob.pushed': [{ repository: string; digest: string; size: number; actor: string; client: string }];
  /** A blob linked from another repository (`POST .../uploads/?mount=&from=`), as a push does for shared layers. */
  'blob.mounted': [{ repository: string; digest: string; from: string; actor: string; client: string }];
  /** Trash entries a garbage collection dropped because they expired (their content is freed from then on). */
  'trash.expired': [{ entries: Array<{ id: string; repository: string }> }];
  'manifest.pulled': [{ repository: string; reference: string; digest: string; size: number; durationMs: number; actor: string; client: string }];
  /**
   * An authorized request refused by a lifecycle rule (an immutable tag, a quota: http/content-policy.ts): `rule` is
   * `immutable tag`, `storage` or `pullsPerMonth`, `reason` the message the client got.
   */
  'content.refused': [{ repository: string; method: string; rule: string; reason: string; actor: string; client: string }];
}

export type RegistryEvents = EventEmitter<RegistryEventMap>;

export function createRegistryEvents(): RegistryEvents {
  return new EventEmitter<RegistryEventMap>();
}
