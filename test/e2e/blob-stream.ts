import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Big test blobs that never sit in memory: content is an AES-128-CTR keystream, so any byte range can be
 * regenerated on demand (to send the second half of an interrupted upload, or to compute the digest first),
 * and raw streaming uploads over node:http, so a test controls exactly which bytes go out in which request.
 */

const chunkSize = 1024 * 1024;

export interface BlobSource {
  readonly size: number;
  /** The bytes in [start, end), streamed in 1 MiB pieces. */
  stream(start?: number, end?: number): Readable;
  /** sha256 digest of the whole blob (streamed). */
  digest(): Promise<string>;
}

/** A deterministic pseudo-random blob of `size` bytes; a different one on every call. */
export function createBlobSource(size: number): BlobSource {
  const key = randomBytes(16);
  const nonce = randomBytes(8);
  const stream = (start = 0, end = size): Readable => {
    async function* generate(): AsyncGenerator<Buffer> {
      for (let offset = start; offset < end; ) {
        // CTR mode: the counter of block n is nonce || n, so the stream can start at any 16-byte block.
        const block = Math.floor(offset / 16);
        const iv = Buffer.alloc(16);
        nonce.copy(iv, 0);
        iv.writeBigUInt64BE(BigInt(block), 8);
        const skip = offset - block * 16;
        const length = Math.min(chunkSize, end - offset);
        const cipher = createCipheriv('aes-128-ctr', key, iv);
        const bytes = cipher.update(Buffer.alloc(skip + length)).subarray(skip);
        offset += length;
        yield bytes;
      }
    }
    return Readable.from(generate());
  };
  return {
    size,
    stream,
    async digest() {
      const hash = createHash('sha256');
      await pipeline(stream(), hash);
      return `sha256:${hash.digest('hex')}`;
    },
  };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The body as text, at most 64 KiB (error bodies); blob bodies are hashed, not kept. */
  readonly text: string;
  /** sha256 of the whole body and its length, streamed. */
  readonly bodyDigest: string;
  readonly bodyBytes: number;
}

/** One request with an optional streamed body; resolves with the answer, or rejects on a socket error. */
export function rawRequest(method: string, url: string, headers: Record<string, string> = {}, body?: Readable): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const hash = createHash('sha256');
      let text = '';
      let bodyBytes = 0;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bodyBytes += chunk.length;
        if (text.length < 65536) text += chunk.toString('utf8');
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, bodyDigest: `sha256:${hash.digest('hex')}`, bodyBytes }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

/** Resolves a Location header against the server URL. */
export function absolute(base: string, location: string | undefined): string {
  if (!location) throw new Error('response without Location');
  return new URL(location, base).toString();
}

/** Adds `digest=` to an upload session URL (which may already carry a query). */
export function withDigest(session: string, digest: string): string {
  const url = new URL(session);
  url.searchParams.set('digest', digest);
  return url.toString();
}
