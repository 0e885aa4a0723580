import { createMetricsRegistry, type CounterChild, type HistogramChild, type MetricsRegistry } from './metrics-registry.js';
import type { ConnectionCloseReason } from '../http/connection-guard.js';
import type { StorageUsage } from './storage-usage.js';

const connectionCloseReasons: readonly ConnectionCloseReason[] = ['address_limit', 'total_limit', 'evicted', 'idle_timeout'];

/**
 * Berth's metric set. Label values are bounded on purpose: a route *kind* (never a repository name or path),
 * a known HTTP method, a status code, an auth failure reason from a short list. Unbounded labels would let any
 * client grow the scrape (and Berth's memory) without limit.
 */
export const routeKinds = [
  'base',
  'catalog',
  'manifest',
  'blob',
  'uploads',
  'upload',
  'tags',
  'referrers',
  'token',
  'api',
  'ui',
  'metrics',
  'other',
] as const;
export type RouteKind = (typeof routeKinds)[number];

const methods = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS', 'other'] as const;
type MethodLabel = (typeof methods)[number];

/** Seconds. Blob pulls of big layers take many seconds; manifest hits take well under a millisecond. */
export const durationBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Distinct auth failure reasons beyond this many are counted as 'other' (a caller bug must not explode the scrape). */
const maxAuthReasons = 32;
const reasonGrammar = /^[a-z][a-z0-9_.-]{0,39}$/;

export interface RequestObservation {
  route: RouteKind | string;
  method: string;
  status: number;
  durationSeconds: number;
  /** Bytes received for this request (instrumentRequests counts them on the socket, headers included). */
  bytesIn?: number;
  /** Bytes sent for this response (likewise). */
  bytesOut?: number;
}

export interface BerthMetricsOptions {
  /**
   * Called by refresh() (before each scrape): the blob store's usage. Pass
   * `() => meter.read({ staleWhileRefreshing: true })` of the instance's meter (metrics/storage-usage.ts).
   */
  storage?: () => Promise<StorageUsage> | StorageUsage;
  /** Shown as `berth_build_info{version}`. */
  version?: string;
  /** Called by refresh(): each namespace's quota usage and limits (registry/lifecycle/quota-metrics.ts). */
  namespaces?: () => Promise<NamespaceQuotaSample[]>;
}

/** One namespace's usage and limits, as the quotas count them; a limit absent is none. */
export interface NamespaceQuotaSample {
  namespace: string;
  storageBytes: number;
  pullBytesThisMonth: number;
  storageQuotaBytes?: number;
  pullQuotaBytesPerMonth?: number;
}

export interface BerthMetrics {
  readonly registry: MetricsRegistry;
  /** Call once per finished request (on the response's 'finish' or 'close'). Cheap: no allocation after warm-up. */
  observeRequest(observation: RequestObservation): void;
  /** A refused credential: 'unknown', 'revoked', 'expired', 'malformed', 'rate_limited', 'jwt_invalid', ... */
  authFailure(reason: string): void;
  /** A connection Berth closed itself: refused at a limit, evicted while idle to make room, or silent too long. */
  connectionClosed(reason: ConnectionCloseReason): void;
  /** Connections open now, over every listener. */
  openConnections(count: number): void;
  /** Set by the mirror when an upstream goes online/offline; `removeUpstream` when it leaves the configuration. */
  upstreamOnline(upstream: string, online: boolean): void;
  removeUpstream(upstream: string): void;
  /** Runs the slow collectors (storage usage); the metrics handler awaits it before render(). Never rejects. */
  refresh(): Promise<void>;
  /** The exposition text (values as of the last refresh for storage; memory and uptime read now). */
  render(): string;
}

/** A route kind and method: its histogram series, and its request counters by status (statuses are few per route). */
interface RouteMethodSlot {
  duration?: HistogramChild;
  byStatus: Map<number, CounterChild>;
}

interface RouteSlot {
  received?: CounterChild;
  sent?: CounterChild;
  byMethod: Map<string, RouteMethodSlot>;
}

export function createMetrics(options: BerthMetricsOptions = {}): BerthMetrics {
  const registry = createMetricsRegistry();

  const requests = registry.counter({
    name: 'berth_http_requests_total',
    help: 'HTTP requests answered, by route kind, method and status code.',
    labelNames: ['route', 'method', 'status'],
  });
  const duration = registry.histogram({
    name: 'berth_http_request_duration_seconds',
    help: 'Time from request start to the last response byte, by route kind and method.',
    labelNames: ['route', 'method'],
    buckets: durationBuckets,
  });
  const received = registry.counter({
    name: 'berth_http_bytes_received_total',
    help: 'Bytes received on the connection for requests (request line, headers and body), by route kind.',
    labelNames: ['route'],
  });
  const sent = registry.counter({
    name: 'berth_http_bytes_sent_total',
    help: 'Bytes sent on the connection for responses (status line, headers and body), by route kind.',
    labelNames: ['route'],
  });
  const authFailures = registry.counter({
    name: 'berth_auth_failures_total',
    help: 'Refused credentials, by reason.',
    labelNames: ['reason'],
  });
  const storageBytes = registry.gauge({
    name: 'berth_storage_bytes',
    help: 'Bytes of the blobs in the blob store: the data directory, or the bucket with S3 storage (refreshed at most every 30 s).',
  });
  const storageBlobs = registry.gauge({
    name: 'berth_storage_blobs',
    help: 'Blobs in the blob store: the data directory, or the bucket with S3 storage (refreshed at most every 30 s).',
  });
  const namespaceGauges = {
    storageBytes: registry.gauge({
      name: 'berth_namespace_storage_bytes',
      help: 'Unique bytes the repositories of a namespace reference (what its storage quota limits).',
      labelNames: ['namespace'],
    }),
    storageQuotaBytes: registry.gauge({
      name: 'berth_namespace_storage_quota_bytes',
      help: 'The storage quota of a namespace (only namespaces that have one).',
      labelNames: ['namespace'],
    }),
    pullBytesThisMonth: registry.gauge({
      name: 'berth_namespace_pull_bytes_month',
      help: 'Blob bytes pulled from a namespace this calendar month, UTC (what its pull quota limits).',
      labelNames: ['namespace'],
    }),
    pullQuotaBytesPerMonth: registry.gauge({
      name: 'berth_namespace_pull_quota_bytes',
      help: 'The monthly pull quota of a namespace (only namespaces that have one).',
      labelNames: ['namespace'],
    }),
  };
  /** The series set at the last refresh, so a namespace or a limit that went is dropped, not left at its last value. */
  let namespaceSeries = new Set<string>();
  const upstreamOnline = registry.gauge({
    name: 'berth_upstream_online',
    help: '1 when the upstream registry answered its last check, 0 while Berth treats it as offline.',
    labelNames: ['upstream'],
  });
  const connectionsClosed = registry.counter({
    name: 'berth_connections_closed_total',
    help: 'Connections Berth closed itself: address_limit and total_limit (refused at once, every connection busy), evicted (idle, to make room for a new one), idle_timeout (no bytes either way for the idle timeout).',
    labelNames: ['reason'],
  });
  const closedByReason = new Map(connectionCloseReasons.map((reason) => [reason, connectionsClosed.labels(reason)]));
  const connectionsOpen = registry.gauge({ name: 'berth_connections_open', help: 'Client connections open now, over every listener.' });
  connectionsOpen.set(0);
  // One memoryUsage() snapshot per scrape, taken by the first gauge rendered: it walks the heap spaces.
  let memory: NodeJS.MemoryUsage = process.memoryUsage();
  registry.gauge({
    name: 'berth_process_resident_memory_bytes',
    help: 'Resident set size of the Berth process.',
    collect: (gauge) => gauge.set((memory = process.memoryUsage()).rss),
  });
  registry.gauge({ name: 'berth_process_heap_used_bytes', help: 'V8 heap in use.', collect: (gauge) => gauge.set(memory.heapUsed) });
  registry.gauge({ name: 'berth_process_heap_total_bytes', help: 'V8 heap reserved.', collect: (gauge) => gauge.set(memory.heapTotal) });
  registry.gauge({
    name: 'berth_process_external_memory_bytes',
    help: 'Memory held outside the V8 heap (Buffers included).',
    collect: (gauge) => gauge.set(memory.external),
  });
  registry.counter({
    name: 'berth_process_cpu_seconds_total',
    help: 'User plus system CPU time used by the process.',
    read: () => {
      const used = process.cpuUsage();
      return (used.user + used.system) / 1e6;
    },
  });
  const startTimeSeconds = Math.round(Date.now() - process.uptime() * 1000) / 1000;
  registry.gauge({ name: 'berth_process_start_time_seconds', help: 'When the process started, in seconds since the Unix epoch.' }).set(startTimeSeconds);
  if (options.version !== undefined) {
    registry.gauge({ name: 'berth_build_info', help: 'Always 1; the version is in the label.', labelNames: ['version'] }).set(1, options.version);
  }

  // Preallocated lookup tables: one Map per route kind, one slot per method, so the hot path is two Map
  // lookups and one status lookup, and a label block is rendered only the first time a combination occurs.
  const routes = new Map<string, RouteSlot>();
  for (const route of routeKinds) {
    const byMethod = new Map<string, RouteMethodSlot>();
    for (const method of methods) byMethod.set(method, { byStatus: new Map() });
    routes.set(route, { byMethod });
  }
  const otherRoute = routes.get('other') as RouteSlot;

  const authChildren = new Map<string, CounterChild>();

  return {
    registry,
    observeRequest({ route, method, status, durationSeconds, bytesIn = 0, bytesOut = 0 }: RequestObservation): void {
      const routeSlot = routes.get(route) ?? otherRoute;
      const routeLabel = routeSlot === otherRoute ? 'other' : route;
      let methodSlot = routeSlot.byMethod.get(method);
      let methodLabel: MethodLabel | string = method;
      if (!methodSlot) {
        methodLabel = 'other';
        methodSlot = routeSlot.byMethod.get('other') as RouteMethodSlot;
      }
      let counter = methodSlot.byStatus.get(status);
      if (!counter) {
        // Status codes outside 100-599 are a bug upstream; count them together rather than per value.
        const statusLabel = Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : 'other';
        counter = requests.labels(routeLabel, methodLabel, statusLabel);
        methodSlot.byStatus.set(status, counter);
      }
      counter.inc();
      (methodSlot.duration ??= duration.labels(routeLabel, methodLabel)).observe(durationSeconds > 0 ? durationSeconds : 0);
      if (bytesIn > 0) (routeSlot.received ??= received.labels(routeLabel)).inc(bytesIn);
      if (bytesOut > 0) (routeSlot.sent ??= sent.labels(routeLabel)).inc(bytesOut);
    },
    authFailure(reason: string): void {
      let child = authChildren.get(reason);
      if (!child) {
        const label = reasonGrammar.test(reason) && authChildren.size < maxAuthReasons ? reason : 'other';
        child = authFailures.labels(label);
        if (label === reason) authChildren.set(reason, child);
      }
      child.inc();
    },
    connectionClosed(reason: ConnectionCloseReason): void {
      closedByReason.get(reason)?.inc();
    },
    openConnections(count: number): void {
      connectionsOpen.set(count);
    },
    upstreamOnline(upstream: string, online: boolean): void {
      upstreamOnline.set(online ? 1 : 0, upstream);
    },
    removeUpstream(upstream: string): void {
      upstreamOnline.remove(upstream);
    },
    async refresh(): Promise<void> {
      if (options.namespaces) {
        try {
          const seen = new Set<string>();
          for (const sample of await options.namespaces()) {
            for (const key of ['storageBytes', 'pullBytesThisMonth', 'storageQuotaBytes', 'pullQuotaBytesPerMonth'] as const) {
              const value = sample[key];
              if (value === undefined) continue;
              namespaceGauges[key].set(value, sample.namespace);
              seen.add(`${key}\n${sample.namespace}`);
            }
          }
          for (const series of namespaceSeries) {
            if (seen.has(series)) continue;
            const [key, namespace] = series.split('\n') as [keyof typeof namespaceGauges, string];
            namespaceGauges[key].remove(namespace);
          }
          namespaceSeries = seen;
        } catch {
          // Like the storage walk: a failed read keeps the last values.
        }
      }
      if (!options.storage) return;
      try {
        const usage = await options.storage();
        storageBytes.set(usage.bytes);
        storageBlobs.set(usage.files);
      } catch {
        // A failed walk (permissions, disk gone, bucket unreachable) keeps the last value: a scrape must not fail for one gauge.
      }
    },
    render: () => registry.render(),
  };
}
