import { appendFile, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { settle } from './browser-session.js';

/**
 * axe-core (Deque's accessibility engine, from npm) run inside the page through playwright-core. The script is
 * evaluated over the DevTools protocol, which the GUI's Content-Security-Policy does not apply to, so the page
 * under test is exactly the one users get (no `bypassCSP`).
 */

export type AxeImpact = 'minor' | 'moderate' | 'serious' | 'critical';

export interface AxeViolation {
  readonly id: string;
  readonly impact: AxeImpact | null;
  readonly help: string;
  /** Up to five offending elements: their CSS path and axe's one-line explanation. */
  readonly nodes: ReadonlyArray<{ readonly target: string; readonly summary: string }>;
  readonly count: number;
}

export interface AxeCheckOptions {
  /**
   * Rules switched off for this check, each with the reason a reader of the test needs. There is no way to switch a
   * rule off without saying why.
   */
  readonly skipRules?: Readonly<Record<string, string>>;
}

/** Impacts that fail a check. Moderate and minor findings are reported (see `axeSummary`) but do not fail. */
export const failingImpacts: ReadonlySet<AxeImpact> = new Set(['serious', 'critical']);

/**
 * Rules axe ships switched off that Berth wants: `label-content-name-mismatch` is WCAG 2.5.3 (label in name): a
 * control's accessible name must contain its visible label, or voice-control users cannot say what they see.
 */
const extraRules = ['label-content-name-mismatch'];

const require = createRequire(import.meta.url);
let axeSource: Promise<string> | undefined;

async function injectAxe(page: Page): Promise<void> {
  axeSource ??= readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  const present = await page.evaluate('typeof window.axe === "object"');
  if (!present) await page.evaluate(await axeSource);
}

/** Runs axe over the whole document as it is now (open dialogs and drawers included) and returns every violation. */
export async function runAxe(page: Page, options: AxeCheckOptions = {}): Promise<AxeViolation[]> {
  // Colours measured mid-fade are neither the real ones nor stable.
  await settle(page);
  await injectAxe(page);
  const rules: Record<string, { enabled: boolean }> = {};
  for (const id of extraRules) rules[id] = { enabled: true };
  for (const id of Object.keys(options.skipRules ?? {})) rules[id] = { enabled: false };
  // A string: this project compiles without the DOM library, and the code runs in the page.
  const script = `(async () => {
    const result = await window.axe.run(document, { rules: ${JSON.stringify(rules)}, resultTypes: ['violations'] });
    return result.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact ?? null,
      help: violation.help,
      count: violation.nodes.length,
      nodes: violation.nodes.slice(0, 5).map((node) => ({
        target: node.target.join(' '),
        summary: (node.failureSummary ?? '').replace(/\\s+/g, ' ').slice(0, 300),
      })),
    }));
  })()`;
  return (await page.evaluate(script)) as AxeViolation[];
}

function describe(violations: readonly AxeViolation[]): string {
  return violations
    .map((violation) => {
      const nodes = violation.nodes.map((node) => `    ${node.target}: ${node.summary}`).join('\n');
      return `  ${violation.id} (${violation.impact ?? 'unknown'}, ${violation.count} element${violation.count === 1 ? '' : 's'}): ${violation.help}\n${nodes}`;
    })
    .join('\n');
}

/** `where`'s result as one line: `Overview (light, 1280x800): 0 serious/critical, 1 moderate (region)`. */
export function axeSummary(where: string, violations: readonly AxeViolation[]): string {
  const failing = violations.filter((violation) => violation.impact && failingImpacts.has(violation.impact));
  const rest = violations.filter((violation) => !failing.includes(violation));
  const ids = (list: readonly AxeViolation[]) => (list.length > 0 ? ` (${list.map((violation) => violation.id).join(', ')})` : '');
  return `${where}: ${failing.length} serious/critical${ids(failing)}, ${rest.length} moderate/minor${ids(rest)}`;
}

/**
 * Fails with every serious or critical violation spelled out (rule, elements, what to fix). Returns the summary line;
 * with BERTH_AXE_REPORT=FILE it is also appended there as JSON, for the per-page tally in a report.
 */
export async function assertAccessible(page: Page, where: string, options: AxeCheckOptions = {}): Promise<string> {
  const violations = await runAxe(page, options);
  const summary = axeSummary(where, violations);
  const report = process.env.BERTH_AXE_REPORT;
  if (report) await appendFile(report, `${JSON.stringify({ where, violations: violations.map(({ id, impact, count }) => ({ id, impact, count })) })}\n`);
  const failing = violations.filter((violation) => violation.impact && failingImpacts.has(violation.impact));
  if (failing.length > 0) throw new Error(`accessibility violations on ${where}:\n${describe(failing)}`);
  return summary;
}
