import type { Command } from 'commander';
import type { NamespaceUsageView } from '../admin/contract.js';
import { lifecycleChecksOf } from '../lifecycle/content-policy.js';
import type { State } from '../state/index.js';
import { withRegistry } from './commands/image.js';

/** What each namespace's quotas count now (as the admin API's Namespace.usage), read from the stores. */
export async function namespaceUsages(command: Command, state: State, names: readonly string[]): Promise<Map<string, NamespaceUsageView>> {
  if (names.length === 0) return new Map();
  return withRegistry(command, async (registry) => {
    const { storage } = lifecycleChecksOf(registry, () => state);
    const usages = new Map<string, NamespaceUsageView>();
    for (const name of names) {
      usages.set(name, { storageBytes: await storage.usage(name), pullBytesThisMonth: await registry.traffic.monthBytes(name) });
    }
    return usages;
  });
}
