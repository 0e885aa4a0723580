import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { AuditLog } from '../auth/audit-log.js';
import { recordNamespaceOfPush } from '../auth/namespace-of-push.js';
import { namespaceOf } from '../core/names.js';
import type { Logger } from '../log.js';
import type { StateStore } from '../state/index.js';
import { isTransferError, refusedArchive } from './archive-error.js';
import { importArchive, type ImportProgress, type ImportResult, type ImportStores } from './image-import.js';

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

export function createImageImporter({ stores, state, audit, log }: ImageImporterDeps): ImageImporter {
  const recordNamespace = recordNamespaceOfPush(state, audit, log);
  let queue: Promise<unknown> = Promise.resolve();

  function checkRepository(repository: string): void {
    const namespace = namespaceOf(repository);
    if (state.read().upstreams.some((upstream) => upstream.name === namespace)) {
      throw refusedArchive(`namespace "${namespace}" mirrors upstream "${namespace}" and takes no pushes or imports: import into a namespace of your own (--repository team/${repository.split('/').at(-1) ?? 'app'})`);
    }
  }

  async function run(request: ImportFileRequest): Promise<ImportResult> {
    const archive = request.archiveName ?? basename(request.path);
    const { size } = await stat(request.path);
    const { actor, client } = request;
    try {
      const result = await importArchive(
        stores,
        { open: () => createReadStream(request.path), size },
        { repository: request.repository, checkRepository, onProgress: request.onProgress },
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
