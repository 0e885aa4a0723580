import type { NamespaceQuotaSample } from '../metrics/berth-metrics.js';
import type { State } from '../state/index.js';
import { namespacePolicy } from './policies.js';
import type { PullTraffic } from './pull-traffic.js';
import type { StorageQuota } from './storage-quota.js';

/** Every namespace's usage and limits for `/metrics` (one index query and one usage read per namespace). */
export async function namespaceQuotaSamples(state: Pick<State, 'namespaces' | 'policies'>, storage: StorageQuota, traffic: PullTraffic): Promise<NamespaceQuotaSample[]> {
  const samples: NamespaceQuotaSample[] = [];
  for (const { name } of state.namespaces) {
    const quota = namespacePolicy(state, name)?.quota;
    const sample: NamespaceQuotaSample = {
      namespace: name,
      storageBytes: await storage.usage(name),
      pullBytesThisMonth: await traffic.monthBytes(name),
    };
    if (quota?.storageBytes !== undefined) sample.storageQuotaBytes = quota.storageBytes;
    if (quota?.pullBytesPerMonth !== undefined) sample.pullQuotaBytesPerMonth = quota.pullBytesPerMonth;
    samples.push(sample);
  }
  return samples;
}
