import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../support/temp-dir.js';
import { trackChild } from '../support/tools.js';

/**
 * The official OCI distribution-spec conformance suite (a prebuilt ginkgo binary, `conformance.test`), run the way
 * its run.sh does, with every workflow on (pull, push, content discovery, content management).
 *
 * Where the suite is: $BERTH_CONFORMANCE_SUITE, else ../shared/conformance/conformance.test beside this checkout.
 */

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const suiteCandidates = [process.env.BERTH_CONFORMANCE_SUITE, join(repoRoot, '..', 'shared', 'conformance', 'conformance.test')].filter(
  (candidate): candidate is string => Boolean(candidate),
);
const suite = suiteCandidates.find((candidate) => existsSync(candidate));

/** node:test's `skip` option: false when the suite is here, else how to get it. */
export const conformanceSkipReason: string | false = suite
  ? false
  : `the OCI conformance suite is not here: build it (opencontainers/distribution-spec, conformance/, \`go test -c\`) and set BERTH_CONFORMANCE_SUITE=/path/to/conformance.test, or put it at ${suiteCandidates.at(-1)}`;

/** The suite's namespaces (as in its run.sh); a token for a token-auth run needs exactly these. */
export const conformanceNamespace = 'myorg/myrepo';
const crossMountNamespace = 'myorg/other';
export const conformanceTimeoutMs = 300_000;

export interface ConformanceTally {
  passed: number;
  failed: number;
  pending: number;
  skipped: number;
}

export interface ConformanceRun {
  readonly tally: ConformanceTally;
  readonly output: string;
}

/** Runs the suite against `url` in a report directory of its own; resolves with ginkgo's tally and the output. */
export async function runConformanceSuite(t: TestContext, url: string, extraEnv: Record<string, string> = {}): Promise<ConformanceRun> {
  const reportDir = await makeTempDir(t, 'berth-conformance-');
  const env: Record<string, string> = {
    ...Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined)),
    OCI_ROOT_URL: url,
    OCI_NAMESPACE: conformanceNamespace,
    OCI_CROSSMOUNT_NAMESPACE: crossMountNamespace,
    OCI_TEST_PULL: '1',
    OCI_TEST_PUSH: '1',
    OCI_TEST_CONTENT_DISCOVERY: '1',
    OCI_TEST_CONTENT_MANAGEMENT: '1',
    OCI_HIDE_SKIPPED_WORKFLOWS: '0',
    OCI_DEBUG: '0',
    OCI_AUTOMATIC_CROSSMOUNT: '0',
    OCI_REPORT_DIR: reportDir,
    ...extraEnv,
  };
  const child = spawn(suite as string, ['-test.v', '-ginkgo.no-color'], { cwd: reportDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), conformanceTimeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  await writeFile(join(reportDir, 'out.log'), output);
  const lines = [...output.matchAll(/^(?:SUCCESS|FAIL)! -- (\d+) Passed \| (\d+) Failed \| (\d+) Pending \| (\d+) Skipped/gm)];
  const last = lines.at(-1);
  assert.ok(last, `the suite printed no tally (exit code ${code ?? 'none'}):\n${output.slice(-3000)}`);
  const [passed, failed, pending, skipped] = last.slice(1, 5).map(Number) as [number, number, number, number];
  return { tally: { passed, failed, pending, skipped }, output };
}

/** Fails unless no spec failed and (nearly) all ran; `logs` is what to show of the server side when one failed. */
export function assertConformanceClean(t: TestContext, label: string, { tally, output }: ConformanceRun, logs: () => string): void {
  t.diagnostic(`conformance (${label}): ${tally.passed} passed, ${tally.failed} failed, ${tally.pending} pending, ${tally.skipped} skipped`);
  const failedSpecs = output.split('\n').filter((line) => /^\s*\[FAIL\]/.test(line));
  assert.equal(tally.failed, 0, `${label}: failed specs:\n${failedSpecs.join('\n')}\n--- berth logs ---\n${logs()}`);
  // All four workflows ran: a missing variable would silently skip most of the suite (79 specs, 75 run at af32c8c).
  assert.ok(tally.passed >= 70, `${label}: only ${tally.passed} specs passed; were workflows skipped?`);
}
