import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { RegistryError } from '../../core/errors.js';
import type { RegistryEvents } from '../../events.js';
import type { Logger } from '../../log.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { RepositoryStore } from '../../storage/repository-store.js';
import type { UploadStore } from '../../storage/upload-store.js';
import type { Trash } from '../../lifecycle/trash.js';
import type { Caller } from '../access.js';
import type { ContentPolicy } from '../content-policy.js';
import type { MirrorHook } from '../mirror-hook.js';

/** What every distribution handler is built from. */
export interface DistributionDeps {
  blobs: BlobStore;
  uploads: UploadStore;
  repositories: RepositoryStore;
  /** Every DELETE goes through it: gone for clients at once, restorable by an admin until the entry expires. */
  trash: Trash;
  events: RegistryEvents;
  log: Logger;
  /** Present when upstreams are configured. */
  mirror?: MirrorHook;
  /** Immutable tags and quotas (Berth's lifecycle policies); a bare registry has none. */
  policy?: ContentPolicy;
  /**
   * Called before a refusal; true when the configuration the gate and the mirror read (tokens, namespaces,
   * upstreams, sync rules) changed since, because another process (the CLI) wrote it. The request is then decided
   * once more, so what the CLI just did is honoured by the very next request.
   */
  configurationChanged?: () => boolean;
  /**
   * Awaited after a pushed manifest is stored and before the client hears 201: what must already hold when a push
   * has succeeded (Berth records the namespace of a first push, so `berth namespace set` right after works).
   */
  manifestPushed?: (push: { repository: string; actor: string; client: string }) => Promise<void>;
}

/** One request, after routing and authorization. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
  caller: Caller;
  /** Client address for audit events. */
  client: string;
}

export const apiVersionHeader = { 'Docker-Distribution-API-Version': 'registry/2.0' } as const;

/** Answers with no body (HEAD, 201/202/204). */
export function sendEmpty(res: ServerResponse, status: number, headers: OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { ...apiVersionHeader, 'Content-Length': 0, ...headers });
  res.end();
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    ...apiVersionHeader,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': bytes.length,
    ...headers,
  });
  res.end(bytes);
}

/** The upload `Range` header: inclusive end of the bytes received (`0-0` before the first byte). */
export function uploadRange(offset: number): string {
  return `0-${Math.max(offset - 1, 0)}`;
}

/**
 * Reads a small request body (a manifest, a token request form) with a hard ceiling. An oversized body is refused
 * from its Content-Length before a byte is read, or as soon as the ceiling is crossed for chunked bodies.
 */
export async function readSmallBody(req: IncomingMessage, limit: number, what = 'manifest'): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit) throw tooLarge(limit, what);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) throw tooLarge(limit, what);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

function tooLarge(limit: number, what: string): RegistryError {
  const shown = limit >= 1024 * 1024 ? `${limit / 1024 / 1024} MiB` : `${limit / 1024} KiB`;
  return new RegistryError('SIZE_INVALID', `${what} exceeds the ${shown} limit`, {
    status: 413,
    headers: { Connection: 'close' },
    detail: { limit },
  });
}

/** True when the request carries body bytes (a declared length above 0, or chunked encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}
