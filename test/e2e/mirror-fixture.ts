import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { berthBin, startBerth, type BerthProcess } from '../support/berth-process.js';
import type { AccessLogEntry } from '../support/distribution.js';
import { createTempDir, removeDir, type AfterHook } from '../support/temp-dir.js';
import { run, type RunResult } from '../support/tools.js';

/**
 * Shared pieces of the pull-through end-to-end tests: the real `berth` CLI (upstream add, namespace create,
 * token create), a Berth process configured as a mirror, raw HTTP against it, and checks on what the upstream
 * was asked (distribution's access log) and what landed in Berth's data directory.
 */

/** Accept header a pulling client sends: every manifest type Berth and distribution know. */
export const manifestAccept = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** `node bin/berth.js ARGS` as a user runs it; `input` goes to standard input (for --password-stdin). */
export function berthCli(args: readonly string[], input?: string): Promise<RunResult> {
  return run(process.execPath, [berthBin, ...args], { timeoutMs: 30_000, input });
}

/** Like berthCli, but fails the test (with the output) unless the command exits 0. */
export async function berthCliOk(args: readonly string[], input?: string): Promise<string> {
  const result = await berthCli(args, input);
  assert.equal(result.code, 0, `berth ${args.join(' ')} exited ${result.code}\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

export interface MirrorOptions {
  /** `berth upstream add NAME URL ...flags` calls made before Berth starts. */
  readonly upstreams: ReadonlyArray<{ name: string; url: string; flags?: readonly string[]; password?: string }>;
  /** `--auth` (default 'none'). */
  readonly auth?: 'none' | 'token';
  /** Run before the server starts, with the data directory (namespaces, tokens). */
  readonly prepare?: (dataDir: string) => Promise<void>;
}

export interface Mirror {
  readonly dataDir: string;
  readonly berth: BerthProcess;
  /** `127.0.0.1:PORT` of the plain-HTTP listener. */
  readonly host: string;
  readonly url: string;
}

/** A Berth configured through its CLI as a pull-through mirror of the given upstreams; stopped after `t`. */
export async function startMirror(t: AfterHook, options: MirrorOptions): Promise<Mirror> {
  const dataDir = await createTempDir('berth-mirror-');
  let berth: BerthProcess | undefined;
  // One hook, in this order: removing the directory under a live server would race its writes.
  t.after(async () => {
    await berth?.stop();
    await removeDir(dataDir);
  });
  for (const upstream of options.upstreams) {
    const args = ['upstream', 'add', upstream.name, upstream.url, ...(upstream.flags ?? []), '--data', dataDir];
    await berthCliOk(upstream.password === undefined ? args : [...args, '--password-stdin'], upstream.password);
  }
  await options.prepare?.(dataDir);
  berth = await startBerth({ dataDir, auth: options.auth ?? 'none' });
  return { dataDir, berth, host: berth.host, url: berth.url };
}

export interface RawAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
}

/** One HTTP request with fetch, body read whole (only for manifests and error bodies, never big blobs). */
export async function httpGet(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawAnswer> {
  const response = await fetch(url, { method, headers: { Accept: manifestAccept, ...headers }, redirect: 'manual' });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

/**
 * A GET whose body is hashed as it streams (blobs): status, sha256 and byte count; a cut stream rejects. `onBytes`
 * hears the running count.
 */
export function hashGet(url: string, headers: Record<string, string> = {}, onBytes?: (bytes: number) => void): Promise<{ status: number; digest: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        onBytes?.(bytes);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, digest: `sha256:${hash.digest('hex')}`, bytes }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error(`response aborted after ${bytes} bytes`)));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The OCI error codes of an error body (`{"errors":[{"code":...}]}`). */
export function errorCodes(answer: RawAnswer): string[] {
  const parsed = JSON.parse(answer.body.toString('utf8')) as { errors?: Array<{ code?: string }> };
  return (parsed.errors ?? []).map((error) => error.code ?? '');
}

/** GETs the upstream answered for a path (query string ignored). */
export function upstreamGets(requests: readonly AccessLogEntry[], path: string): number {
  return requests.filter((entry) => entry.method === 'GET' && entry.path.split('?')[0] === path).length;
}

/** Whether Berth's content store holds a committed blob (layout in registry/storage/paths.ts). */
export async function blobFileExists(dataDir: string, digest: string): Promise<boolean> {
  const hex = digest.replace(/^sha256:/, '');
  try {
    await access(join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until a blob pulled through the mirror is in the content store. A client gets the blob's last bytes once
 * Berth verified them, and storing it (fsync, move into place, link) ends just after: a check made the moment the
 * pull ends would race that.
 */
export async function waitForCachedBlob(dataDir: string, digest: string, timeoutMs = 10_000): Promise<void> {
  await eventually(`${digest} in the content store`, () => blobFileExists(dataDir, digest), timeoutMs);
}

/** Polls `check` until it returns true (state written by another process, logs): fails after `timeoutMs`. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Retries `attempt` until it does not throw, for what depends on Berth asking an upstream again: after a failed
 * contact it waits a short backoff (1 s, doubling) before it does. Fails with the last error after `timeoutMs`.
 */
export async function soon<T>(what: string, attempt: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) assert.fail(`${what}: still failing after ${timeoutMs} ms: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** How a blob GET ended: `completed` (with status, bytes and digest), or `failed` (the response broke off). */
export function blobOutcome(url: string, headers: Record<string, string> = {}): Promise<string> {
  return hashGet(url, headers).then(
    (answer) => `completed: status ${answer.status}, ${answer.bytes} bytes, ${answer.digest}`,
    (error: unknown) => `failed: ${(error as Error).message}`,
  );
}
