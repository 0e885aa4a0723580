import { parseDigest } from '../../core/digest.js';
import { RegistryError } from '../../core/errors.js';
import { assertRepositoryName } from '../../core/names.js';
import { hasBody, sendEmpty, uploadRange, type DistributionDeps, type RequestContext } from './context.js';

/**
 * Blob uploads (spec "Pushing blobs"): POST opens a session (or mounts, or takes the whole blob
 * with `?digest=`), PATCH appends chunks, PUT `?digest=` completes, GET reports, DELETE cancels.
 */
export function createUploadHandlers({ uploads, repositories, events }: DistributionDeps) {
  const sessionHeaders = (name: string, id: string, offset: number) => ({
    Location: `/v2/${name}/blobs/uploads/${id}`,
    Range: uploadRange(offset),
    'Docker-Upload-UUID': id,
  });

  async function finish(ctx: RequestContext, name: string, id: string, rawDigest: string | null, start?: number): Promise<void> {
    if (!rawDigest) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
    const digest = parseDigest(rawDigest);
    const { size } = await uploads.complete(name, id, digest, hasBody(ctx.req) ? ctx.req : undefined, start);
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
      if (
        ctx.caller.can(source, 'pull') &&
        (await repositories.blobSize(source, digest)) !== undefined &&
        (await repositories.linkBlob(name, digest))
      ) {
        sendEmpty(ctx.res, 201, { Location: `/v2/${name}/blobs/${digest.digest}`, 'Docker-Content-Digest': digest.digest });
        return;
      }
    }
    const session = await uploads.start(name);
    const digest = ctx.query.get('digest');
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
      const status = await uploads.append(name, id, ctx.req, start);
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

