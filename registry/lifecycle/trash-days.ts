import { isRepositoryName } from '../core/names.js';
import type { StateStore } from '../state/index.js';
import { defaultTrashDays, namespacePolicy, updatePolicy } from './policies.js';
import { TrashError } from './trash-errors.js';

/** Ten years: longer is "never", which a trash should not be (it keeps every deleted byte). */
export const maxTrashDays = 3650;

/**
 * Sets how many days a namespace's deletes stay restorable (0: freed by the next collection), for the admin API
 * and `berth trash days` alike. Stored in the namespace's lifecycle policy; a repository's own record, when there is
 * one, still overrides it. Returns the previous value (the default when none was set).
 */
export async function setTrashDays(state: StateStore, namespace: string, days: number): Promise<{ was: number }> {
  if (namespace.includes('/') || !isRepositoryName(namespace)) {
    throw new TrashError('BERTH_TRASH_INVALID', `invalid namespace "${namespace.slice(0, 80)}": one name component such as team`);
  }
  if (!Number.isInteger(days) || days < 0 || days > maxTrashDays) {
    throw new TrashError('BERTH_TRASH_INVALID', `trash days must be a whole number from 0 to ${maxTrashDays}, not ${String(days).slice(0, 20)}`);
  }
  let was = defaultTrashDays;
  await state.update((draft) => {
    was = namespacePolicy(draft, namespace)?.trashDays ?? defaultTrashDays;
    // The default is stored as no value, so a later change of the default reaches namespaces that never chose.
    updatePolicy(draft, namespace, { trashDays: days === defaultTrashDays ? undefined : days });
  });
  return { was };
}
