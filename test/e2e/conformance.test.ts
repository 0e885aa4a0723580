import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createAccessToken, signInAsAdmin } from '../support/berth-admin.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { trackChild } from '../support/tools.js';

/**
 * The official OCI distribution-spec conformance suite (a prebuilt ginkgo binary, `conformance.test`) against a
 * real `berth serve`: open (`--auth none`) and with its default token auth, where the suite signs in with a
 * scoped access token as OCI_USERNAME/OCI_PASSWORD and follows the Bearer challenge like docker does. Every
 * workflow is on (pull, push, content discovery, content management), as in the suite's run.sh; both runs must
 * have no failed spec.
 *
 * Where the suite is: $BERTH_CONFORMANCE_SUITE, else ../shared/conformance/conformance.test beside this checkout.
 */

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const suiteCandidates = [process.env.BERTH_CONFORMANCE_SUITE, join(repoRoot, '..', 'shared', 'conformance', 'conformance.test')].filter(
  (candidate): candidate is string => Boolean(candidate),
);
const suite = suiteCandidates.find((candidate) => existsSync(candidate));
const skipReason = suite
  ? false
  : `the OCI conformance suite is not here: build it (opencontainers/distribution-spec, conformance/, \`go test -c\`) and set BERTH_CONFORMANCE_SUITE=/path/to/conformance.test, or put it at ${suiteCandidates.at(-1)}`;

/** The suite's namespaces (as in its run.sh); a token for the token-auth run needs exactly these. */
const namespace = 'myorg/myrepo';
const crossMountNamespace = 'myorg/other';
const suiteTimeoutMs = 300_000;

interface Tally {
  passed: number;
  failed: number;
  pending: number;
  skipped: number;
}

/** Runs the suite against `url` the way run.sh does, in a report directory of its own; resolves with ginkgo's tally. */
async function runSuite(t: TestContext, url: string, extraEnv: Record<string, string> = {}): Promise<{ tally: Tally; output: string }> {
  const reportDir = await makeTempDir(t, 'berth-conformance-');
  const env: Record<string, string> = {
    ...Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined)),
    OCI_ROOT_URL: url,
    OCI_NAMESPACE: namespace,
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
  const timer = setTimeout(() => child.kill('SIGKILL'), suiteTimeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  await writeFile(join(reportDir, 'out.log'), output);
  const lines = [...output.matchAll(/^(?:SUCCESS|FAIL)! -- (\d+) Passed \| (\d+) Failed \| (\d+) Pending \| (\d+) Skipped/gm)];
  const last = lines.at(-1);
  assert.ok(last, `the suite printed no tally (exit code ${code ?? 'none'}):\n${output.slice(-3000)}`);
  const [passed, failed, pending, skipped] = last.slice(1, 5).map(Number) as [number, number, number, number];
  return { tally: { passed, failed, pending, skipped }, output };
}

function assertClean(t: TestContext, label: string, { tally, output }: { tally: Tally; output: string }, berth: BerthProcess): void {
  t.diagnostic(`conformance (${label}): ${tally.passed} passed, ${tally.failed} failed, ${tally.pending} pending, ${tally.skipped} skipped`);
  const failedSpecs = output.split('\n').filter((line) => /^\s*\[FAIL\]/.test(line));
  assert.equal(tally.failed, 0, `${label}: failed specs:\n${failedSpecs.join('\n')}\n--- berth logs ---\n${berth.logs().slice(-3000)}`);
  // All four workflows ran: a missing variable would silently skip most of the suite (79 specs, 75 run at af32c8c).
  assert.ok(tally.passed >= 70, `${label}: only ${tally.passed} specs passed; were workflows skipped?`);
}

test('OCI conformance suite against berth serve --auth none: no failed spec', { skip: skipReason, timeout: suiteTimeoutMs + 30_000 }, async (t) => {
  const berth = await startBerth({ dataDir: await makeTempDir(t, 'berth-conf-open-'), auth: 'none' });
  t.after(() => berth.stop());
  assertClean(t, 'open', await runSuite(t, berth.url), berth);
});

test('OCI conformance suite against berth serve with default token auth and a scoped token: no failed spec', { skip: skipReason, timeout: suiteTimeoutMs + 30_000 }, async (t) => {
  // No --auth flag: exactly what a user gets.
  const berth = await startBerth({ dataDir: await makeTempDir(t, 'berth-conf-token-'), auth: null, tlsListen: '127.0.0.1:0' });
  t.after(() => berth.stop());
  const token = await createAccessToken(berth, await signInAsAdmin(berth), 'conformance', ['myorg/*:pull,push,delete']);
  assertClean(t, 'token', await runSuite(t, berth.url, { OCI_USERNAME: 'conformance', OCI_PASSWORD: token }), berth);
});
