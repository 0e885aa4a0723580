/** Ratios with their targets, and the printed table. */

export type Comparison = 'atLeast' | 'atMost';

export interface TargetCheck {
  readonly name: string;
  /** Berth's figure divided by distribution's (or an absolute figure for RSS). */
  readonly value: number | undefined;
  readonly comparison: Comparison;
  readonly target: number;
  readonly unit: 'x' | 'MiB';
  /** undefined when a figure is missing (a side failed). */
  readonly pass: boolean | undefined;
}

export function check(name: string, value: number | undefined, comparison: Comparison, target: number, unit: 'x' | 'MiB'): TargetCheck {
  const pass = value === undefined || !Number.isFinite(value) ? undefined : comparison === 'atLeast' ? value >= target : value <= target;
  return { name, value, comparison, target, unit, pass };
}

export interface Row {
  readonly metric: string;
  readonly berth?: number;
  readonly distribution?: number;
  readonly ceiling?: number;
  readonly ratio?: number;
  readonly check?: TargetCheck;
  /** Digits after the point for the figures. */
  readonly digits?: number;
}

function fmt(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);
}

function targetText(c: TargetCheck | undefined): string {
  if (!c) return '';
  const op = c.comparison === 'atLeast' ? '>=' : '<=';
  return c.unit === 'x' ? `${op} ${c.target}x` : `${op} ${c.target} MiB`;
}

function verdict(c: TargetCheck | undefined): string {
  if (!c) return '';
  if (c.pass === undefined) return 'NO DATA';
  return c.pass ? 'PASS' : 'FAIL';
}

/** Column titles for a table whose comparison is not distribution (the mirror rows compare with other clients). */
export interface TableLabels {
  readonly other?: string;
  readonly ratio?: string;
}

export function formatTable(rows: readonly Row[], labels: TableLabels = {}): string {
  const hasCeiling = rows.some((row) => row.ceiling !== undefined);
  const header = ['metric', 'berth', labels.other ?? 'distribution', 'node:http', labels.ratio ?? 'berth/dist', 'target', 'result'];
  const body = rows.map((row) => {
    const digits = row.digits ?? 1;
    return [
      row.metric,
      fmt(row.berth, digits),
      fmt(row.distribution, digits),
      row.ceiling === undefined ? '' : fmt(row.ceiling, digits),
      row.ratio === undefined ? (row.check?.unit === 'MiB' ? '' : 'n/a') : `${row.ratio.toFixed(2)}x`,
      targetText(row.check),
      verdict(row.check),
    ];
  });
  // No ceiling figures (the mirror table): drop the empty node:http column.
  if (!hasCeiling) {
    header.splice(3, 1);
    for (const cells of body) cells.splice(3, 1);
  }
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => (cells[column] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
