import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import { isDigest, parseDigest } from '../../core/digest.js';
import { parseManifest, type Descriptor } from '../../core/manifest.js';
import { isRepositoryName } from '../../core/names.js';
import { isPathNotFound } from '../../storage/driver.js';
import { AdminError, badRequest } from '../admin-error.js';
import { adminRoutes } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { queryParam } from '../request-helpers.js';

/**
 * Downloads for the GUI: a manifest (a signature, an SBOM's manifest) or a blob one of the repository's manifests
 * references (the SBOM itself), as an attachment with the descriptor's media type. Same-origin pages must never
 * render these bytes: attachment, nosniff and a sandbox CSP make a browser save them, whatever type they claim.
 */

const titleAnnotation = 'org.opencontainers.image.title';

function digestParam(req: Request, name: string, required: boolean): string | undefined {
  const value = queryParam(req, name);
  if (value === undefined) {
    if (required) throw badRequest(`the query parameter "${name}" (a digest) is required`);
    return undefined;
  }
  if (!isDigest(value)) throw badRequest(`"${name}" is not a digest: "${value.slice(0, 120)}"`);
  return value;
}

/** A media type as RFC 6838 allows it (no parameters): anything else goes out as octet-stream, never into a header raw. */
function safeMediaType(mediaType: string): string {
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i.test(mediaType) ? mediaType : 'application/octet-stream';
}

function extensionOf(mediaType: string): string {
  if (/(^|[+/])json$/.test(mediaType)) return '.json';
  if (/tar\+gzip$|tar\.gzip$/.test(mediaType)) return '.tar.gz';
  if (/tar\+zstd$/.test(mediaType)) return '.tar.zst';
  if (/tar$/.test(mediaType)) return '.tar';
  if (mediaType.startsWith('text/')) return '.txt';
  return '.bin';
}

/** A file name safe in a quoted header value and on every file system: a title's last path part, else repo-digest. */
export function downloadName(repository: string, digest: string, mediaType: string, title?: string): string {
  const fromTitle = title
    ?.split(/[\\/]/)
    .pop()
    ?.replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+/, '')
    .slice(0, 120);
  if (fromTitle) return fromTitle;
  const base = repository.split('/').pop() ?? 'content';
  return `${base}-${parseDigest(digest).hex.slice(0, 12)}${extensionOf(mediaType)}`;
}

function sendHeaders(res: Response, mediaType: string, size: number, name: string, digest: string): void {
  res.status(200).set({
    'Content-Type': safeMediaType(mediaType),
    'Content-Length': String(size),
    'Content-Disposition': `attachment; filename="${name}"`,
    'Content-Security-Policy': "sandbox; default-src 'none'",
    'Docker-Content-Digest': digest,
  });
}

export function contentRoutes(ctx: AdminContext): Router {
  const router = Router();
  router.get(adminRoutes.content, async (req, res) => {
    const repository = queryParam(req, 'repository');
    if (!repository || !isRepositoryName(repository)) throw badRequest('the query parameter "repository" must be a repository name, e.g. ?repository=team/app');
    const digest = digestParam(req, 'digest', true) as string;
    const within = digestParam(req, 'in', false);
    const notFound = () => new AdminError('BERTH_MANIFEST_NOT_FOUND', 404, `no ${within ? 'blob' : 'manifest'} ${digest} in ${repository}`);
    const store = ctx.registry.repositories;

    if (within === undefined) {
      const manifest = await store.getManifest(repository, digest);
      if (!manifest) throw notFound();
      sendHeaders(res, manifest.mediaType, manifest.bytes.length, downloadName(repository, digest, manifest.mediaType), digest);
      res.end(manifest.bytes);
      return;
    }
    // The blob must be one the named manifest references and the repository can read: the digest alone proves neither.
    const container = await store.getManifest(repository, within);
    const descriptor: Descriptor | undefined = container ? parseManifest(container.bytes).blobs.find((blob) => blob.digest === digest) : undefined;
    const size = descriptor ? await store.blobSize(repository, parseDigest(digest)) : undefined;
    if (!descriptor || size === undefined) throw notFound();
    // Gone between the size check and the open (a garbage collection): the same 404, not a 500.
    const reader = await ctx.registry.blobs.reader(parseDigest(digest)).catch((error: unknown) => {
      throw isPathNotFound(error) ? notFound() : error;
    });
    sendHeaders(res, descriptor.mediaType, size, downloadName(repository, digest, descriptor.mediaType, descriptor.annotations?.[titleAnnotation]), digest);
    await pipeline(reader, res);
  });
  return router;
}
