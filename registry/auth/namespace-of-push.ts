import type { Logger } from '../log.js';
import { namespaceOf } from '../core/names.js';
import type { StateStore } from '../state/index.js';
import type { AuditLog } from './audit-log.js';

/**
 * A namespace comes into being with its first push, recorded before the push is answered (the registry awaits
 * this), so what the client does next (`berth namespace set team ...` right after `skopeo copy`) finds it.
 */
export function recordNamespaceOfPush(state: StateStore, audit: AuditLog, log: Logger) {
  return async ({ repository, actor, client, reason = 'first push' }: { repository: string; actor: string; client: string; reason?: string }): Promise<void> => {
    const namespace = namespaceOf(repository);
    if (state.read().namespaces.some((ns) => ns.name === namespace)) return;
    try {
      let created = false;
      await state.update((draft) => {
        if (draft.namespaces.some((ns) => ns.name === namespace)) return;
        draft.namespaces.push({ name: namespace, anonymousPull: false, createdAt: new Date().toISOString() });
        created = true;
      });
      if (created) {
        void audit.record({ action: 'namespace.create', actor, client, namespace, outcome: 'success', detail: { reason } }).catch((error: unknown) => log.error({ err: error }, 'audit write failed'));
      }
    } catch (error) {
      // The manifest is stored: the push succeeded. The namespace is recorded by the next push, or by hand.
      log.error({ err: error, namespace }, 'recording the namespace of a first push failed');
    }
  };
}
