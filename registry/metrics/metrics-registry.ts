/**
 * A small, dependency-free metrics registry that renders the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * Hot-path design: a labelled metric hands out one *child* per label-value combination. The child is created once
 * (its label block `{route="blob",method="GET"}` is rendered and escaped at that moment) and cached, so updating it
 * later is a Map lookup plus a number add: no string building, no allocation. Callers on a hot path keep children
 * in their own preallocated tables and skip even the lookup.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricOptions<L extends string> {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters should end in `_total`. */
  name: string;
  help: string;
  labelNames?: readonly L[];
}

export interface CounterOptions<L extends string> extends MetricOptions<L> {
  /** For an unlabelled counter fed by a monotonic source (CPU time): read at every render. */
  read?: () => number;
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds, ascending; `+Inf` is implicit. */
  buckets: readonly number[];
}

export interface GaugeOptions<L extends string> extends MetricOptions<L> {
  /** Runs at the start of every render: sets values that are cheap to read now (memory, uptime). Must not throw. */
  collect?: (gauge: Gauge<L>) => void;
}

export interface CounterChild {
  inc(value?: number): void;
  readonly value: number;
}

export interface GaugeChild {
  set(value: number): void;
  inc(value?: number): void;
  dec(value?: number): void;
  readonly value: number;
}

export interface HistogramChild {
  observe(value: number): void;
  readonly count: number;
  readonly sum: number;
}

interface Metric {
  readonly name: string;
  readonly type: MetricType;
  /** Appends this metric's HELP, TYPE and sample lines. */
  renderInto(lines: string[]): void;
}

export interface Counter<L extends string> extends Metric {
  /** The child for these label values, in `labelNames` order (created on first use, then cached). */
  labels(...values: string[]): CounterChild;
  /** `inc` on the unlabelled series (or `labels(...values)` when given). */
  inc(value?: number, ...values: string[]): void;
}

export interface Gauge<L extends string> extends Metric {
  labels(...values: string[]): GaugeChild;
  set(value: number, ...values: string[]): void;
  /** Drops a series (e.g. an upstream that was removed from the configuration). */
  remove(...values: string[]): void;
}

export interface Histogram<L extends string> extends Metric {
  labels(...values: string[]): HistogramChild;
  observe(value: number, ...values: string[]): void;
  readonly buckets: readonly number[];
}

export interface MetricsRegistry {
  counter<L extends string = never>(options: CounterOptions<L>): Counter<L>;
  gauge<L extends string = never>(options: GaugeOptions<L>): Gauge<L>;
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L>;
  /** Every metric in registration order, as exposition text ending in a newline. */
  render(): string;
}

const metricNameGrammar = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNameGrammar = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label values escape backslash, double quote and line feed (the format's only three escapes). */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}

/** HELP text escapes backslash and line feed, not quotes. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Go's ParseFloat spellings for the special values; JavaScript's String() for the rest (it round-trips). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function labelBlock(names: readonly string[], values: readonly string[], extra = ''): string {
  const parts = names.map((name, i) => `${name}="${escapeLabelValue(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function header(lines: string[], name: string, help: string, type: MetricType): void {
  lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
}

/** One metric's children by label values; the key joins values with a byte that cannot appear in sane labels. */
function createFamily<C>(name: string, labelNames: readonly string[], make: (values: string[]) => C) {
  const children = new Map<string, { values: string[]; child: C }>();
  let unlabelled: C | undefined;
  return {
    children,
    get(values: string[]): C {
      if (labelNames.length === 0 && values.length === 0) return (unlabelled ??= make([]));
      const key = values.length === 1 ? (values[0] as string) : values.join('\u0000');
      const found = children.get(key);
      if (found) return found.child;
      if (values.length !== labelNames.length) {
        throw new Error(`${name} takes ${labelNames.length} label values (${labelNames.join(', ')}), got ${values.length}`);
      }
      const child = make(values);
      children.set(key, { values, child });
      return child;
    },
    entries(): Array<{ values: string[]; child: C }> {
      const all = [...children.values()];
      if (unlabelled !== undefined) all.unshift({ values: [], child: unlabelled });
      return all;
    },
    delete(values: string[]): void {
      children.delete(values.length === 1 ? (values[0] as string) : values.join('\u0000'));
    },
  };
}

function checkNames(options: MetricOptions<string>, reserved: readonly string[] = []): readonly string[] {
  if (!metricNameGrammar.test(options.name)) throw new Error(`invalid metric name "${options.name}"`);
  const labelNames = options.labelNames ?? [];
  for (const label of labelNames) {
    if (!labelNameGrammar.test(label) || label.startsWith('__') || reserved.includes(label)) {
      throw new Error(`invalid label name "${label}" for ${options.name}`);
    }
  }
  if (new Set(labelNames).size !== labelNames.length) throw new Error(`duplicate label names for ${options.name}`);
  return labelNames;
}

export function createMetricsRegistry(): MetricsRegistry {
  const metrics: Metric[] = [];
  const names = new Set<string>();

  function register<M extends Metric>(metric: M): M {
    if (names.has(metric.name)) throw new Error(`metric ${metric.name} is registered twice`);
    names.add(metric.name);
    metrics.push(metric);
    return metric;
  }

  function counter<L extends string>(options: CounterOptions<L>): Counter<L> {
    const labelNames = checkNames(options);
    if (options.read && labelNames.length > 0) throw new Error(`${options.name}: read() is for unlabelled counters`);
    const family = createFamily(options.name, labelNames, (values) => {
      const child = { value: 0, block: labelBlock(labelNames, values), inc(by = 1): void {
        // A counter only goes up: a negative add is a caller bug that would make rate() lie.
        if (!(by >= 0)) throw new Error(`${options.name}: counters cannot decrease (got ${by})`);
        child.value += by;
      } };
      return child;
    });
    return register({
      name: options.name,
      type: 'counter' as const,
      labels: (...values: string[]) => family.get(values),
      inc: (value = 1, ...values: string[]) => family.get(values).inc(value),
      renderInto(lines: string[]): void {
        if (options.read) family.get([]).value = options.read();
        header(lines, options.name, options.help, 'counter');
        for (const { child } of family.entries()) lines.push(`${options.name}${child.block} ${formatValue(child.value)}`);
      },
    });
  }

  function gauge<L extends string>(options: GaugeOptions<L>): Gauge<L> {
    const labelNames = checkNames(options);
    const family = createFamily(options.name, labelNames, (values) => {
      const child = {
        value: 0,
        block: labelBlock(labelNames, values),
        set(value: number): void {
          child.value = value;
        },
        inc(by = 1): void {
          child.value += by;
        },
        dec(by = 1): void {
          child.value -= by;
        },
      };
      return child;
    });
    const metric: Gauge<L> = register({
      name: options.name,
      type: 'gauge' as const,
      labels: (...values: string[]) => family.get(values),
      set: (value: number, ...values: string[]) => family.get(values).set(value),
      remove: (...values: string[]) => family.delete(values),
      renderInto(lines: string[]): void {
        options.collect?.(metric);
        header(lines, options.name, options.help, 'gauge');
        for (const { child } of family.entries()) lines.push(`${options.name}${child.block} ${formatValue(child.value)}`);
      },
    });
    return metric;
  }

  function histogram<L extends string>(options: HistogramOptions<L>): Histogram<L> {
    const labelNames = checkNames(options, ['le']);
    const buckets = [...options.buckets];
    if (buckets.length === 0 || buckets.some((bound, i) => !Number.isFinite(bound) || (i > 0 && bound <= (buckets[i - 1] as number)))) {
      throw new Error(`${options.name}: buckets must be finite and strictly ascending`);
    }
    const leLabels = buckets.map((bound) => `le="${formatValue(bound)}"`);
    const family = createFamily(options.name, labelNames, (values) => {
      // Per-bucket (not cumulative) counts: observe touches one slot; render accumulates.
      const counts = new Float64Array(buckets.length);
      const child = {
        count: 0,
        sum: 0,
        counts,
        values,
        observe(value: number): void {
          let i = 0;
          while (i < buckets.length && value > (buckets[i] as number)) i += 1;
          if (i < buckets.length) counts[i] = (counts[i] as number) + 1;
          child.count += 1;
          child.sum += value;
        },
      };
      return child;
    });
    return register({
      name: options.name,
      type: 'histogram' as const,
      buckets,
      labels: (...values: string[]) => family.get(values),
      observe: (value: number, ...values: string[]) => family.get(values).observe(value),
      renderInto(lines: string[]): void {
        header(lines, options.name, options.help, 'histogram');
        for (const { values, child } of family.entries()) {
          let cumulative = 0;
          for (let i = 0; i < buckets.length; i += 1) {
            cumulative += child.counts[i] as number;
            lines.push(`${options.name}_bucket${labelBlock(labelNames, values, leLabels[i])} ${formatValue(cumulative)}`);
          }
          lines.push(`${options.name}_bucket${labelBlock(labelNames, values, 'le="+Inf"')} ${formatValue(child.count)}`);
          const block = labelBlock(labelNames, values);
          lines.push(`${options.name}_sum${block} ${formatValue(child.sum)}`, `${options.name}_count${block} ${formatValue(child.count)}`);
        }
      },
    });
  }

  return {
    counter,
    gauge,
    histogram,
    render(): string {
      const lines: string[] = [];
      for (const metric of metrics) metric.renderInto(lines);
      return `${lines.join('\n')}\n`;
    },
  };
}
