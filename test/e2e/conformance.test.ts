import { test } from 'node:test';
import { createAccessToken, signInAsAdmin } from '../support/berth-admin.js';
import { startBerth } from '../support/berth-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { assertConformanceClean, conformanceSkipReason, conformanceTimeoutMs, runConformanceSuite } from './conformance-suite.js';

/**
 * The official OCI distribution-spec conformance suite against a real `berth serve`: open (`--auth none`) and with
 * its default token auth, where the suite signs in with a scoped access token as OCI_USERNAME/OCI_PASSWORD and
 * follows the Bearer challenge like docker does. Both runs must have no failed spec. (The cluster's run through
 * haproxy is in cluster.test.ts.)
 */

test('OCI conformance suite against berth serve --auth none: no failed spec', { skip: conformanceSkipReason, timeout: conformanceTimeoutMs + 30_000 }, async (t) => {
  const berth = await startBerth({ dataDir: await makeTempDir(t, 'berth-conf-open-'), auth: 'none' });
  t.after(() => berth.stop());
  assertConformanceClean(t, 'open', await runConformanceSuite(t, berth.url), () => berth.logs().slice(-3000));
});

test('OCI conformance suite against berth serve with default token auth and a scoped token: no failed spec', { skip: conformanceSkipReason, timeout: conformanceTimeoutMs + 30_000 }, async (t) => {
  // No --auth flag: exactly what a user gets.
  const berth = await startBerth({ dataDir: await makeTempDir(t, 'berth-conf-token-'), auth: null, tlsListen: '127.0.0.1:0' });
  t.after(() => berth.stop());
  const token = await createAccessToken(berth, await signInAsAdmin(berth), 'conformance', ['myorg/*:pull,push,delete']);
  assertConformanceClean(t, 'token', await runConformanceSuite(t, berth.url, { OCI_USERNAME: 'conformance', OCI_PASSWORD: token }), () => berth.logs().slice(-3000));
});
