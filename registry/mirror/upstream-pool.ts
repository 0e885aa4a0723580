import type { SecretBox } from '../auth/secret-box.js';
import type { Logger } from '../log.js';
import type { StateStore, UpstreamRecord } from '../state/index.js';
import { createUpstreamClient, type UpstreamClient } from './upstream-client.js';
import { isDockerHub, type Upstream } from './upstream.js';

/** A configured upstream with its live client. */
export interface PooledUpstream {
  readonly record: UpstreamRecord;
  readonly client: UpstreamClient;
  /** Host names that route to it with containerd's `?ns=` (URL host, aliases, Docker Hub's names). */
  readonly hosts: ReadonlySet<string>;
}

export interface UpstreamPool {
  get(name: string): PooledUpstream | undefined;
  byHost(host: string): PooledUpstream | undefined;
  defaultUpstream(): PooledUpstream | undefined;
  all(): PooledUpstream[];
  /** Health changes of every upstream, present and future; returns the unsubscribe function. */
  onHealthChange(listener: HealthListener): () => void;
  close(): void;
}

type HealthListener = (name: string, online: boolean, lastError?: string) => void;

const dockerHubNames = ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'];
/** While an upstream is offline, how often it is pinged to bring it back early. */
const probeIntervalMs = 2_000;

/**
 * Clients for the upstreams in the state file, rebuilt when their records change (an upstream
 * added in the GUI or with `berth upstream add` is used at once, by this process too).
 */
export function createUpstreamPool(options: {
  state: StateStore;
  secrets: SecretBox;
  log: Logger;
  onHealthChange?: HealthListener;
}): UpstreamPool {
  const { state, secrets, log } = options;
  const healthListeners = new Set<HealthListener>(options.onHealthChange ? [options.onHealthChange] : []);
  let snapshot: readonly UpstreamRecord[] | undefined;
  let pooled = new Map<string, PooledUpstream & { key: string }>();

  function build(record: UpstreamRecord): PooledUpstream & { key: string } {
    const upstream: Upstream = {
      name: record.name,
      url: record.url,
      aliases: record.aliases,
      username: record.username,
      password: record.passwordSealed ? secrets.open(record.passwordSealed) : undefined,
      caPem: record.caPem,
      insecure: record.insecure,
    };
    const client = createUpstreamClient(upstream, { logger: log });
    client.startProbing(probeIntervalMs);
    client.health.on('change', (change) => {
      log[change.online ? 'info' : 'warn']({ upstream: change.name, lastError: change.state.lastError }, change.online ? 'upstream back online' : 'upstream offline: serving from cache');
      for (const listener of healthListeners) listener(change.name, change.online, change.state.lastError);
    });
    const hosts = new Set<string>([new URL(record.url).host.toLowerCase(), new URL(record.url).hostname.toLowerCase(), ...record.aliases.map((a) => a.toLowerCase())]);
    if (isDockerHub(upstream)) for (const name of dockerHubNames) hosts.add(name);
    return { record, client, hosts, key: JSON.stringify(record) };
  }

  /** Rebuilds only when the records changed; `state.read()` returns the same array until the file changes. */
  function current(): Map<string, PooledUpstream & { key: string }> {
    const records = state.read().upstreams;
    if (records === snapshot) return pooled;
    snapshot = records;
    const next = new Map<string, PooledUpstream & { key: string }>();
    for (const record of records) {
      const existing = pooled.get(record.name);
      if (existing && existing.key === JSON.stringify(record)) {
        next.set(record.name, existing);
        continue;
      }
      try {
        next.set(record.name, build(record));
      } catch (error) {
        log.error({ upstream: record.name, err: error }, 'upstream configuration unusable');
      }
    }
    for (const [name, old] of pooled) if (next.get(name) !== old) old.client.close();
    pooled = next;
    return pooled;
  }

  return {
    get: (name) => current().get(name),
    byHost: (host) => [...current().values()].find((upstream) => upstream.hosts.has(host.toLowerCase())),
    defaultUpstream: () => [...current().values()].find((upstream) => upstream.record.isDefault),
    all: () => [...current().values()],
    onHealthChange(listener) {
      healthListeners.add(listener);
      return () => healthListeners.delete(listener);
    },
    close() {
      for (const upstream of pooled.values()) upstream.client.close();
      pooled.clear();
    },
  };
}
