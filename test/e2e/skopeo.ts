import { run, runOk, type RunOptions, type RunResult } from '../support/tools.js';

/**
 * skopeo against a plain-HTTP Berth on loopback. Every call turns TLS verification off (skopeo then falls
 * back to http://) and has a hard timeout, so a hung transfer fails the test instead of hanging the run.
 */
const defaults: RunOptions = { timeoutMs: 120_000 };

/** `docker://HOST/REPO:TAG` (or `@DIGEST` when the reference starts with `sha256:`). */
export function dockerRef(host: string, repo: string, reference: string): string {
  return `docker://${host}/${repo}${reference.includes(':') ? '@' : ':'}${reference}`;
}

/** `skopeo copy SRC DEST` with TLS verification off on both sides; `extra` goes before SRC (e.g. ['--all']). */
export function skopeoCopy(src: string, dest: string, extra: readonly string[] = [], options: RunOptions = {}): Promise<RunResult> {
  return runOk('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ...extra, src, dest], { ...defaults, ...options });
}

/** The manifest bytes exactly as the registry serves them (`skopeo inspect --raw`). */
export async function skopeoInspectRaw(ref: string): Promise<Buffer> {
  // --raw prints the body untouched; manifests are UTF-8 JSON, so the utf8 round trip keeps every byte.
  const result = await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', ref], defaults);
  return Buffer.from(result.stdout, 'utf8');
}

export interface InspectSummary {
  readonly Digest: string;
  readonly Architecture: string;
  readonly Layers: readonly string[];
}

/** `skopeo inspect` (the summary: digest, architecture, layers). */
export async function skopeoInspect(ref: string, extra: readonly string[] = []): Promise<InspectSummary> {
  const result = await runOk('skopeo', ['inspect', '--tls-verify=false', ...extra, ref], defaults);
  return JSON.parse(result.stdout) as InspectSummary;
}

export async function skopeoListTags(host: string, repo: string): Promise<string[]> {
  const result = await runOk('skopeo', ['list-tags', '--tls-verify=false', `docker://${host}/${repo}`], defaults);
  return (JSON.parse(result.stdout) as { Tags: string[] }).Tags;
}

export function skopeoDelete(ref: string, extra: readonly string[] = []): Promise<RunResult> {
  return runOk('skopeo', ['delete', '--tls-verify=false', ...extra, ref], defaults);
}

/** Like skopeoCopy but returns the result whatever the exit code (for expected failures and crash tests). */
export function skopeoCopyResult(src: string, dest: string, extra: readonly string[] = [], options: RunOptions = {}): Promise<RunResult> {
  return run('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ...extra, src, dest], { ...defaults, ...options });
}
