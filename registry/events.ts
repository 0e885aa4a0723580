import { EventEmitter } from 'node:events';

/**
 * Changes to registry content, for the audit log, the admin API's live stream and metrics.
 * `actor` is a token name or `anonymous`, never a secret.
 */
export interface RegistryEventMap {
  'manifest.pushed': [{ repository: string; reference: string; digest: string; mediaType: string; actor: string; client: string }];
  'manifest.deleted': [{ repository: string; digest: string; actor: string; client: string }];
  'tag.deleted': [{ repository: string; tag: string; actor: string; client: string }];
  'blob.deleted': [{ repository: string; digest: string; actor: string; client: string }];
  'blob.pushed': [{ repository: string; digest: string; size: number; actor: string; client: string }];
  'manifest.pulled': [{ repository: string; reference: string; digest: string; actor: string; client: string }];
}

export type RegistryEvents = EventEmitter<RegistryEventMap>;

export function createRegistryEvents(): RegistryEvents {
  return new EventEmitter<RegistryEventMap>();
}
