import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { AuditLog } from '../auth/audit-log.js';
import { recordNamespaceOfPush } from '../auth/namespace-of-push.js';
import { isRegistryError } from '../core/errors.js';
import { namespaceOf } from '../core/names.js';
import type { ContentPolicy } from '../http/content-policy.js';
import type { Logger } from '../log.js';
import type { StateStore } from '../state/index.js';
import { isTransferError, refusedArchive } from './archive-error.js';
import type { ImportProgress, ImportResult, ImportStores } from './image-import.js';
import type { ImportPlan } from './import-plan.js';

/**
 * Importing an archive file the way every entry point does it (`berth import`, the watched folder, the GUI's
 * drop zone): what a push would be refused is refused (a mirrored namespace takes no pushes), a first import
 * into a namespace creates it as a first push does, and each image imported, or the archive refused, is one
 * `image.import` audit event. Imports run one at a time: two archives sharing layers never upload the same blob
 * twice at once.
 */
export interface ImageImporterDeps {
  readonly stores: ImportStores;
  readonly state: StateStore;
  readonly audit: AuditLog;
  readonly log: Logger;
  /**
   * The rules a push obeys (lifecycle/content-policy.ts): an import that would move an immutable tag or pass a
   * namespace's storage quota is refused whole, before anything is stored, as the push would be.
   */
  readonly policy?: ContentPolicy;
}

export interface ImportFileRequest {
  readonly path: string;
  /** The archive's name in messages and audit events (the uploaded file's name); default the path's base name. */
  readonly archiveName?: string;
  readonly repository?: string;
  readonly actor: string;
  readonly client: string;
  readonly onProgress?: (progress: ImportProgress) => void;
}

export interface ImageImporter {
  importFile(request: ImportFileRequest): Promise<ImportResult>;
}

export function createImageImporter({ stores, state, audit, log, policy }: ImageImporterDeps): ImageImporter {
  const recordNamespace = recordNamespaceOfPush(state, audit, log);
  let queue: Promise<unknown> = Promise.resolve();

  function checkRepository(repository: string): void {
    const namespace = namespaceOf(repository);
    if (state.read().upstreams.some((upstream) => upstream.name === namespace)) {
      throw refusedArchive(`namespace "${namespace}" mirrors upstream "${namespace}" and takes no pushes or imports: import into a namespace of your own (--repository team/${repository.split('/').at(-1) ?? 'app'})`);
    }
  }

  async function checkPlan(plan: ImportPlan): Promise<void> {
    if (!policy) return;
    try {
      for (const image of plan.images) if (image.tag !== undefined) await policy.beforeTagPut(image.repository, image.tag, image.digest);
      // What each namespace would newly hold: blobs and manifests, each counted once, as the quota counts them.
      const byNamespace = new Map<string, { repository: string; sizes: Map<string, number> }>();
      for (const { repository, blobs, manifests } of plan.repositories.values()) {
        const namespace = namespaceOf(repository);
        let entry = byNamespace.get(namespace);
        if (!entry) byNamespace.set(namespace, (entry = { repository, sizes: new Map() }));
        for (const digest of blobs) entry.sizes.set(digest, plan.blobEntries.get(digest)?.size ?? 0);
        for (const manifest of manifests) entry.sizes.set(manifest.digest, manifest.bytes.length);
      }
      for (const { repository, sizes } of byNamespace.values()) {
        const allowance = await policy.storageAllowance(repository);
        if (!allowance) continue;
        let needs = 0;
        for (const [digest, size] of sizes) if (!(await allowance.holds(digest))) needs += size;
        if (needs > allowance.remaining) throw allowance.refuse(needs);
      }
    } catch (error) {
      // The push path's DENIED, said as an archive refused: nothing of it was imported.
      if (isRegistryError(error)) throw refusedArchive(error.message);
      throw error;
    }
  }

  async function run(request: ImportFileRequest): Promise<ImportResult> {
    const archive = request.archiveName ?? basename(request.path);
    const { size } = await stat(request.path);
    const { actor, client } = request;
    try {
      // The archive code (and tar-stream under it) loads at the first import: an idle server never needs it.
      const { importArchive } = await import('./image-import.js');
      const result = await importArchive(
        stores,
        { open: () => createReadStream(request.path), size },
        { repository: request.repository, checkRepository, checkPlan, onProgress: request.onProgress },
      );
      for (const repository of new Set(result.images.map((image) => image.repository))) {
        await recordNamespace({ repository, actor, client, reason: 'first import' });
      }
      for (const image of result.images) {
        await audit.record({
          action: 'image.import',
          actor,
          client,
          outcome: 'success',
          namespace: namespaceOf(image.repository),
          repository: image.repository,
          ...(image.tag ? { reference: image.tag } : {}),
          digest: image.digest,
          detail: { archive, format: result.format },
        });
      }
      return result;
    } catch (error) {
      const reason = isTransferError(error) ? error.message : `import failed: ${(error as Error).message}`;
      await audit.record({ action: 'image.import', actor, client, outcome: 'failure', detail: { archive, reason } }).catch(() => undefined);
      throw error;
    }
  }

  return {
    importFile(request) {
      const next = queue.then(() => run(request));
      queue = next.catch(() => undefined);
      return next;
    },
  };
}
