import { rm } from 'node:fs/promises';
import { runOk } from '../test/support/tools.js';

const mib = 1024 * 1024;

/** The middle value (the upper one of an even count); throws on none, so a figure is never made up. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
}

export interface BlobGetResult {
  readonly seconds: number;
  readonly bytes: number;
  readonly mibPerSec: number;
}

/**
 * One single-stream GET of a blob with curl (the same client for every server), discarding the body.
 * Fails unless the status is 200 and every byte arrived.
 */
export async function curlBlobGet(url: string, expectedBytes: number): Promise<BlobGetResult> {
  const result = await runOk('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', url], {
    timeoutMs: 300_000,
  });
  const [status, size, total] = result.stdout.trim().split(' ');
  if (status !== '200') throw new Error(`GET ${url} answered ${status ?? '?'}`);
  const bytes = Number(size);
  if (bytes !== expectedBytes) throw new Error(`GET ${url} returned ${bytes} bytes, expected ${expectedBytes}`);
  const seconds = Number(total);
  return { seconds, bytes, mibPerSec: bytes / mib / seconds };
}

/** Best of `runs` GETs: the figure least disturbed by the rest of the machine. */
export async function bestBlobGet(url: string, expectedBytes: number, runs: number): Promise<BlobGetResult> {
  let best: BlobGetResult | undefined;
  for (let i = 0; i < runs; i++) {
    const result = await curlBlobGet(url, expectedBytes);
    if (!best || result.seconds < best.seconds) best = result;
  }
  if (!best) throw new Error('no run');
  return best;
}

const skopeoBase = ['--insecure-policy', 'copy', '--quiet', '--retry-times', '0'];

/**
 * Push time: `skopeo copy oci:… docker://…`. --preserve-digests keeps the plain-tar layer as it is, so the
 * figure measures the registry's upload path rather than skopeo gzipping 256 MiB of random bytes.
 */
export async function timePush(sourceRef: string, destination: string): Promise<number> {
  const started = performance.now();
  await runOk('skopeo', [...skopeoBase, '--preserve-digests', '--dest-tls-verify=false', sourceRef, `docker://${destination}`], {
    timeoutMs: 120_000,
  });
  return (performance.now() - started) / 1000;
}

/** Pull time: `skopeo copy docker://… dir:OUT` into a fresh directory, removed afterwards. */
export async function timePull(source: string, outDir: string): Promise<number> {
  await rm(outDir, { recursive: true, force: true });
  const started = performance.now();
  await runOk('skopeo', [...skopeoBase, '--src-tls-verify=false', `docker://${source}`, `dir:${outDir}`], { timeoutMs: 120_000 });
  const seconds = (performance.now() - started) / 1000;
  await rm(outDir, { recursive: true, force: true });
  return seconds;
}
