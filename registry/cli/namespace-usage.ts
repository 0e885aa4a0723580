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

/**
 * The same, for a listing whose other columns do not need the stores (`berth namespace list`): when the content
 * cannot be opened (a shared database without --storage), the usage is left out with one line on stderr saying why.
 */
export async function namespaceUsagesIfReadable(command: Command, state: State, names: readonly string[]): Promise<Map<string, NamespaceUsageView> | undefined> {
  try {
    return await namespaceUsages(command, state, names);
  } catch (error) {
    console.error(`berth: usage not shown (${(error as Error).message.split('\n')[0]})`);
    return undefined;
  }
}
