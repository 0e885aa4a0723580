import { parseDigest } from '../../core/digest.js';
import { RegistryError } from '../../core/errors.js';
import { apiVersionHeader, sendEmpty, type DistributionDeps, type RequestContext } from './context.js';

/** `GET`/`HEAD /v2/<name>/blobs/<digest>`: streamed from disk, with single byte ranges. */
export function createBlobHandlers({ repositories, blobs, events, mirror, policy }: DistributionDeps) {
  async function get(ctx: RequestContext, name: string, rawDigest: string): Promise<void> {
    const digest = parseDigest(rawDigest);
    let size = await repositories.blobSize(name, digest);
    if (size === undefined && mirror?.isMirrored(name)) {
      const outcome = await mirror.serveBlob(ctx, name, digest.digest);
      if (outcome === 'served') return;
      if (outcome === 'cached') size = await repositories.blobSize(name, digest);
    }
    if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', `blob unknown to repository ${name}: ${digest.digest}`, { detail: { digest: digest.digest } });
    const etag = `"${digest.digest}"`;
    const headers = {
      ...apiVersionHeader,
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': digest.digest,
      ETag: etag,
      'Accept-Ranges': 'bytes',
      // Content-addressed: the bytes behind a digest never change.
      'Cache-Control': 'max-age=31536000, immutable',
    };
    if (ctx.req.headers['if-none-match'] === etag) {
      ctx.res.writeHead(304, headers);
      ctx.res.end();
      return;
    }
    const range = parseRange(ctx.req.headers.range, size);
    if (range === 'unsatisfiable') {
      throw new RegistryError('RANGE_INVALID', `range not satisfiable for a ${size}-byte blob`, {
        headers: { 'Content-Range': `bytes */${size}` },
      });
    }
    const isHead = ctx.req.method === 'HEAD';
    const served = isHead ? 0 : range ? range.end - range.start + 1 : size;
    // Monthly pull traffic: refused once used up; a HEAD (a pusher checking what exists) costs and is refused nothing.
    if (policy && served > 0) {
      await policy.beforeBlobPull(name, served);
      policy.blobPulled(name, served);
    }
    if (range) {
      ctx.res.writeHead(206, { ...headers, 'Content-Length': range.end - range.start + 1, 'Content-Range': `bytes ${range.start}-${range.end}/${size}` });
    } else {
      ctx.res.writeHead(200, { ...headers, 'Content-Length': size });
    }
    if (isHead || size === 0) {
      ctx.res.end();
      return;
    }
    await blobs.copyTo(digest, ctx.res, range ?? { start: 0, end: size - 1 });
    ctx.res.end();
  }

  async function remove(ctx: RequestContext, name: string, rawDigest: string): Promise<void> {
    const digest = parseDigest(rawDigest);
    if (!(await repositories.unlinkBlob(name, digest))) {
      throw new RegistryError('BLOB_UNKNOWN', `blob unknown to repository ${name}: ${digest.digest}`, { detail: { digest: digest.digest } });
    }
    events.emit('blob.deleted', { repository: name, digest: digest.digest, actor: ctx.caller.name, client: ctx.client });
    sendEmpty(ctx.res, 202, { 'Docker-Content-Digest': digest.digest });
  }

  return { get, remove };
}

/**
 * One `bytes=` range (first-last, first-, or -suffix). Multi-range requests are answered whole, as
 * RFC 9110 allows; malformed headers are ignored; ranges past the end are unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return null;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return null;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
