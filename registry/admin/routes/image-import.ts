import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Router, type Request } from 'express';
import { ensurePrivateDir, privateFileMode } from '../../config/private-modes.js';
import { isTransferError } from '../../transfer/archive-error.js';
import { AdminError } from '../admin-error.js';
import { adminRoutes, type ImportArchiveResponse, type ImportPendingResponse, type ImportPhase } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { clientOf } from '../request-helpers.js';

/**
 * `POST /api/images/import`: the GUI's drop zone. The body (the archive) is streamed to a private file in the data
 * directory (`import-uploads/`, 0600), never held in memory, then imported through the one import path
 * (transfer/image-importer.ts: verified, audited, refused whole when anything is wrong) and removed. Progress
 * goes to /api/events as `import.progress` (uploading, checking, storing), the outcome as `import.finished`.
 */
const progressEveryMs = 250;
/** Longer than this, the answer is 202 and the outcome an event: the connection would otherwise sit idle until cut. */
const answerWithinMs = 60_000;

/** The uploaded file's name as messages show it: a base name, printable, short. */
function archiveNameOf(req: Request): string {
  const raw = typeof req.query.name === 'string' ? req.query.name : '';
  const name = basename(raw.replace(/\\/g, '/')).replace(/[^\w.\- ()+@]/g, '_').slice(0, 120);
  return name === '' || name === '.' || name === '..' ? 'archive.tar' : name;
}

export function imageImportRoutes(ctx: AdminContext): Router {
  const router = Router();
  const dir = join(ctx.dataDir, 'import-uploads');
  // Uploads a crash or kill cut off: the admin API is built before Berth listens, so none is in flight now.
  void rm(dir, { recursive: true, force: true }).catch((error: unknown) => ctx.log.warn({ err: error, dir }, 'removing interrupted archive uploads failed'));
  router.post(adminRoutes.imageImport, async (req: Request, res) => {
    const importer = ctx.importer?.();
    if (!importer) throw new AdminError('BERTH_IMPORT_UNAVAILABLE', 503, 'this Berth process does not import archives', 'use "berth import FILE"');
    const repository = typeof req.query.repository === 'string' && req.query.repository !== '' ? req.query.repository : undefined;
    const archive = archiveNameOf(req);
    const id = randomUUID();
    const declared = Number(req.get('content-length'));
    const uploadTotal = Number.isSafeInteger(declared) && declared > 0 ? declared : undefined;
    let reportedAt = 0;
    const report = (phase: ImportPhase, bytes: number, total: number | undefined, force = false) => {
      const now = Date.now();
      if (!force && now - reportedAt < progressEveryMs) return;
      reportedAt = now;
      ctx.hub.publish({ type: 'import.progress', id, archive, phase, bytes, ...(total !== undefined ? { total } : {}) });
    };
    await ensurePrivateDir(dir);
    const path = join(dir, `${id}.tar`);
    const finished = (ok: boolean, message: string) => ctx.hub.publish({ type: 'import.finished', id, archive, ok, message });
    let received = 0;
    try {
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          report('uploading', received, uploadTotal);
          callback(null, chunk);
        },
      });
      await pipeline(req, counter, createWriteStream(path, { mode: privateFileMode, flags: 'wx' }));
      report('uploading', received, uploadTotal, true);
      if (received === 0) throw new AdminError('BERTH_VALIDATION', 400, 'the request body is empty: send the archive as the body');
    } catch (error) {
      await rm(path, { force: true });
      finished(false, error instanceof AdminError ? error.message : 'the upload broke off');
      throw error;
    }
    const importing = importer
      .importFile({
        path,
        archiveName: archive,
        repository,
        actor: 'admin',
        client: clientOf(req),
        onProgress: (progress) => report(progress.phase, progress.bytes, progress.total, true),
      })
      .then(
        (result): ImportArchiveResponse => {
          const names = result.images.map((image) => (image.tag ? `${image.repository}:${image.tag}` : `${image.repository}@${image.digest}`));
          finished(true, `imported ${names.join(', ')}`);
          return {
            archive,
            format: result.format,
            images: result.images.map(({ repository: repo, tag, digest, mediaType }) => ({ repository: repo, ...(tag ? { tag } : {}), digest, mediaType })),
            blobsStored: result.blobsStored,
            bytesStored: result.bytesStored,
            blobsReused: result.blobsReused,
          };
        },
        (error: unknown) => {
          finished(false, isTransferError(error) ? error.message : 'the import failed: see the server log');
          if (!isTransferError(error)) ctx.log.error({ err: error, archive }, 'importing an uploaded archive failed');
          throw error;
        },
      )
      .finally(() => rm(path, { force: true }));
    let timer: NodeJS.Timeout | undefined;
    const pending = new Promise<'pending'>((resolve) => (timer = setTimeout(resolve, answerWithinMs, 'pending')));
    try {
      const outcome = await Promise.race([importing, pending]);
      if (outcome === 'pending') {
        // The import goes on; its outcome is the import.finished event (and the audit trail).
        importing.catch(() => undefined);
        const body: ImportPendingResponse = { id, archive, pending: true };
        res.status(202).json(body);
        return;
      }
      res.json(outcome);
    } finally {
      clearTimeout(timer);
    }
  });
  return router;
}
