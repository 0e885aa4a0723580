/** Prometheus metrics: a dependency-free registry, Berth's metric set, the /metrics handler, storage usage. */
export {
  createMetricsRegistry,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  type Counter,
  type CounterChild,
  type CounterOptions,
  type Gauge,
  type GaugeChild,
  type GaugeOptions,
  type Histogram,
  type HistogramChild,
  type HistogramOptions,
  type MetricOptions,
  type MetricsRegistry,
  type MetricType,
} from './metrics-registry.js';
export {
  createMetrics,
  durationBuckets,
  routeKinds,
  type BerthMetrics,
  type BerthMetricsOptions,
  type RequestObservation,
  type RouteKind,
} from './berth-metrics.js';
export { instrumentRequests, type RequestListener } from './instrument-requests.js';
export { metricsContentType, metricsHandler } from './metrics-handler.js';
export { routeKindOf } from './route-kind.js';
export {
  createStorageUsage,
  type StorageUsage,
  type StorageUsageMeter,
  type StorageUsageOptions,
  type StorageUsageRead,
} from './storage-usage.js';
