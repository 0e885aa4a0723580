import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { clusterRows, startupLine, type ClusterResults } from '../../bench/cluster.js';
import { check, formatTable } from '../../bench/report.js';
import { parseWrk, runWrk } from '../../bench/wrk.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason, trackChild } from '../support/tools.js';

const wrkSample = `Running 10s test @ http://127.0.0.1:5000/v2/bench/small/manifests/1
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.55us  210.33us   9.10ms   91.02%
    Req/Sec    19.80k     1.02k   21.77k    70.50%
  394083 requests in 10.00s, 288.72MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  39404.28
Transfer/sec:     28.87MB
`;

test('parseWrk reads requests/s, latency and failed responses', () => {
  const parsed = parseWrk(wrkSample);
  assert.equal(parsed.requestsPerSec, 39404.28);
  assert.equal(parsed.requests, 394083);
  assert.ok(Math.abs(parsed.latencyAvgMs - 0.81255) < 1e-9);
  assert.equal(parsed.non2xx3xx, 12);
  assert.throws(() => parseWrk('wrk: connection refused'), /no Requests\/sec/);
});

test('targets: ratios pass or fail on the right side, missing data is neither', () => {
  assert.equal(check('m', 5.2, 'atLeast', 5, 'x').pass, true);
  assert.equal(check('m', 4.9, 'atLeast', 5, 'x').pass, false);
  assert.equal(check('p', 1.01, 'atMost', 1, 'x').pass, false);
  assert.equal(check('p', undefined, 'atMost', 1, 'x').pass, undefined);
  const table = formatTable([{ metric: 'manifest GET', berth: 5000, distribution: 900, ratio: 5.55, check: check('m', 5.55, 'atLeast', 5, 'x') }]);
  assert.match(table, /manifest GET\s+5000\.0\s+900\.0\s+5\.55x\s+>= 5x\s+PASS/);
});

test('the ceiling server answers manifest GETs that wrk can count', { skip: toolSkipReason('wrk') }, async (t) => {
  requireTools('wrk');
  const dir = await makeTempDir(t);
  const manifest = join(dir, 'manifest.json');
  const body = '{"schemaVersion":2}';
  await writeFile(manifest, body);
  const script = fileURLToPath(new URL('../../bench/manifest-server.js', import.meta.url));
  const child = spawn(process.execPath, [script, manifest, 'application/vnd.oci.image.manifest.v1+json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  trackChild(child);
  t.after(() => child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').once('data', (line: string) => resolve((JSON.parse(line) as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`manifest-server exited with ${code}`)));
  });
  const response = await fetch(`${url}/v2/a/b/manifests/1`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('docker-content-digest')?.startsWith('sha256:'), true);
  assert.equal(await response.text(), body);
  assert.equal((await fetch(`${url}/v2/_catalog`)).status, 404);
  const result = await runWrk(`${url}/v2/a/b/manifests/1`, { threads: 1, connections: 4, durationSec: 1 });
  assert.ok(result.requestsPerSec > 100, `only ${result.requestsPerSec} req/s`);
  assert.equal(result.non2xx3xx, 0);
});

test('scale-out rows: Berth beside distribution per node count, a failed target shows n/a, the startup line names every part', () => {
  const results: ClusterResults = {
    blobMiB: 64,
    targets: {
      berth1: { manifestGet: { requestsPerSec: 2000, latencyAvgMs: 1, requests: 20_000 }, blobGetMiBPerSec: 300, pushMiBPerSec: 100 },
      distribution1: { manifestGet: { requestsPerSec: 500, latencyAvgMs: 4, requests: 5_000 }, blobGetMiBPerSec: 400, pushMiBPerSec: 50 },
      berth3: { manifestGet: { requestsPerSec: 1500, latencyAvgMs: 2, requests: 15_000 }, blobGetMiBPerSec: 250, pushMiBPerSec: 80 },
      distribution3: { error: 'docker-registry did not start' },
    },
    errors: ['distribution3: docker-registry did not start'],
  };
  const rows = clusterRows(results);
  assert.deepEqual(
    rows.map((row) => row.metric),
    [
      'manifest GET by tag (req/s), 1 node',
      'manifest GET by tag (req/s), 3 nodes, haproxy',
      'blob GET 64 MiB (MiB/s), 1 node',
      'blob GET 64 MiB (MiB/s), 3 nodes, haproxy',
      'skopeo push 64 MiB (MiB/s), 1 node',
      'skopeo push 64 MiB (MiB/s), 3 nodes, haproxy',
    ],
  );
  assert.equal(rows[0]?.ratio, 4);
  assert.equal(rows[4]?.ratio, 2);
  assert.equal(rows[1]?.distribution, undefined);
  assert.match(formatTable(rows), /manifest GET by tag \(req\/s\), 3 nodes, haproxy\s+1500\s+n\/a\s+n\/a/);
  const line = startupLine({ radosgwSeconds: 4.6, postgresSeconds: 4.1, servicesSeconds: 4.7, nodesSeconds: 4.8, haproxySeconds: 0.7, totalSeconds: 10.3, oneNodeSeconds: 2.6 });
  assert.match(line, /10\.3 s: radosgw 4\.6 s and PostgreSQL 4\.1 s in parallel \(4\.7 s\), 3 nodes together 4\.8 s, haproxy until every node UP 0\.7 s; one node alone on running services 2\.6 s/);
  assert.equal(startupLine(undefined), 'test cluster start: n/a');
});
