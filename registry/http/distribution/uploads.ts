import { parseDigest } from '../../core/digest.js';
import { RegistryError } from '../../core/errors.js';
import { assertRepositoryName } from '../../core/names.js';
import type { SizeLimit } from '../../storage/upload-store.js';
import { hasBody, sendEmpty, uploadRange, type DistributionDeps, type RequestContext } from './context.js';

/**
 * Blob uploads (spec "Pushing blobs"): POST opens a session (or mounts, or takes the whole blob
 * with `?digest=`), PATCH appends chunks, PUT `?digest=` completes, GET reports, DELETE cancels.
 */
export function createUploadHandlers({ uploads, repositories, events, policy }: DistributionDeps) {
  const sessionHeaders = (name: string, id: string, offset: number) => ({
    Location: `/v2/${name}/blobs/uploads/${id}`,
    Range: uploadRange(offset),
    'Docker-Upload-UUID': id,
  });

  /**
   * The storage quota's say on bytes about to be written to a session (before a byte of them is): undefined when the
   * namespace has no quota or already holds `digest`; a refusal (the session cancelled: nothing stays stored) when
   * the bytes declared would pass it; otherwise the limit that cuts a body that turns out longer. A refusal is
   * answered before the body is read; the connection stays open while the client sends the rest, which is dropped
   * (sendError bounds for how long): closing it at once would reset a client still writing, and skopeo then reports
   * "broken pipe" instead of the quota it ran into.
   */
  async function quotaLimit(ctx: RequestContext, name: string, id: string, digest?: string): Promise<SizeLimit | undefined> {
    const allowance = await policy?.storageAllowance(name);
    if (!allowance || (digest !== undefined && (await allowance.holds(digest)))) return undefined;
    const { offset } = await uploads.status(name, id);
    const declared = declaredLength(ctx);
    if (offset + (declared ?? 0) > allowance.remaining || (declared === undefined && hasBody(ctx.req) && allowance.remaining <= offset)) {
      await uploads.cancel(name, id).catch(() => undefined);
      throw allowance.refuse(offset + (declared ?? 0) || undefined);
    }
    return { maxSize: allowance.remaining, refuse: (size) => allowance.refuse(size) };
  }

  /** Runs a write under a quota limit; a refused one cancels its session, so nothing of it stays stored. */
  async function limited<T>(name: string, id: string, limit: SizeLimit | undefined, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (limit && error instanceof RegistryError && error.code === 'DENIED') await uploads.cancel(name, id).catch(() => undefined);
      throw error;
    }
  }

  async function finish(ctx: RequestContext, name: string, id: string, rawDigest: string | null, start?: number): Promise<void> {
    if (!rawDigest) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
    const digest = parseDigest(rawDigest);
    const limit = await quotaLimit(ctx, name, id, digest.digest);
    const { size } = await limited(name, id, limit, () => uploads.complete(name, id, digest, hasBody(ctx.req) ? ctx.req : undefined, { start, limit }));
    if (!(await repositories.linkBlob(name, digest))) {
      // Only a garbage collection with no grace period can take a blob between its upload and its link.
      throw new RegistryError('BLOB_UPLOAD_INVALID', `blob ${digest.digest} was collected before it could be linked: upload it again`);
    }
    events.emit('blob.pushed', { repository: name, digest: digest.digest, size, actor: ctx.caller.name, client: ctx.client });
    sendEmpty(ctx.res, 201, { Location: `/v2/${name}/blobs/${digest.digest}`, 'Docker-Content-Digest': digest.digest });
  }

  async function start(ctx: RequestContext, name: string): Promise<void> {
    const mount = ctx.query.get('mount');
    const from = ctx.query.get('from');
    if (mount && from) {
      const digest = parseDigest(mount);
      // Mounting from a repository the caller may not read would leak its blobs. Clients send `from`
      // for wherever they pulled the image, so a refusal is not an error: fall back to an upload (202). The same
      // when the blob went meanwhile (deleted from the source and collected): linkBlob looks after linking.
      const source = assertRepositoryName(from);
      const size = ctx.caller.can(source, 'pull') ? await repositories.blobSize(source, digest) : undefined;
      if (size !== undefined) {
        // A mount adds the blob to this namespace: over its quota it is refused like an upload of the same bytes.
        const allowance = await policy?.storageAllowance(name);
        if (allowance && size > allowance.remaining && !(await allowance.holds(digest.digest))) throw allowance.refuse(size);
      }
      if (size !== undefined && (await repositories.linkBlob(name, digest))) {
        events.emit('blob.mounted', { repository: name, digest: digest.digest, from: source, actor: ctx.caller.name, client: ctx.client });
        sendEmpty(ctx.res, 201, { Location: `/v2/${name}/blobs/${digest.digest}`, 'Docker-Content-Digest': digest.digest });
        return;
      }
    }
    const digest = ctx.query.get('digest');
    // A namespace at its quota takes no new upload session; a monolithic upload (`?digest=`) is judged on its digest
    // and length when it completes (a blob the namespace already holds adds nothing).
    const allowance = digest === null ? await policy?.storageAllowance(name) : undefined;
    if (allowance && allowance.remaining <= 0) throw allowance.refuse(declaredLength(ctx));
    const session = await uploads.start(name);
    if (digest !== null && !mount) {
      try {
        await finish(ctx, name, session.id, digest);
      } catch (error) {
        await uploads.cancel(name, session.id).catch(() => undefined);
        throw error;
      }
      return;
    }
    if (hasBody(ctx.req)) ctx.req.resume();
    sendEmpty(ctx.res, 202, sessionHeaders(name, session.id, 0));
  }

  async function patch(ctx: RequestContext, name: string, id: string): Promise<void> {
    const start = parseContentRange(ctx.req.headers['content-range'], ctx.req.headers['content-length']);
    try {
      const limit = await quotaLimit(ctx, name, id);
      const status = await limited(name, id, limit, () => uploads.append(name, id, ctx.req, start, limit));
      sendEmpty(ctx.res, 202, sessionHeaders(name, id, status.offset));
    } catch (error) {
      // The spec wants Location and Range on every answer, so a client can resume after a 416.
      if (error instanceof RegistryError && error.code === 'RANGE_INVALID') error.headers.Location = `/v2/${name}/blobs/uploads/${id}`;
      throw error;
    }
  }

  async function put(ctx: RequestContext, name: string, id: string): Promise<void> {
    const start = parseContentRange(ctx.req.headers['content-range'], ctx.req.headers['content-length']);
    await finish(ctx, name, id, ctx.query.get('digest'), start);
  }

  async function status(ctx: RequestContext, name: string, id: string): Promise<void> {
    const { offset } = await uploads.status(name, id);
    sendEmpty(ctx.res, 204, sessionHeaders(name, id, offset));
  }

  async function cancel(ctx: RequestContext, name: string, id: string): Promise<void> {
    await uploads.cancel(name, id);
    sendEmpty(ctx.res, 204);
  }

  return { start, patch, put, status, cancel };
}

function declaredLength(ctx: RequestContext): number | undefined {
  const header = ctx.req.headers['content-length'];
  return header === undefined || !/^\d+$/.test(header) ? undefined : Number(header);
}

/**
 * `Content-Range: <start>-<end>` (Docker's form; `bytes <start>-<end>/<total>` is accepted too).
 * Returns the start offset; a range that disagrees with Content-Length is refused with 416.
 */
export function parseContentRange(header: string | undefined, contentLength: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) throw new RegistryError('RANGE_INVALID', `malformed Content-Range: ${header.slice(0, 100)}`);
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw new RegistryError('RANGE_INVALID', `Content-Range ends before it starts: ${header}`);
  if (contentLength !== undefined && Number(contentLength) !== end - start + 1) {
    throw new RegistryError('RANGE_INVALID', `Content-Range ${header} does not match Content-Length ${contentLength}`);
  }
  return start;
}

