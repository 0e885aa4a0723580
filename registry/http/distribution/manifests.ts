import { digestOf, isDigest, parseDigest } from '../../core/digest.js';
import { RegistryError } from '../../core/errors.js';
import { maxManifestBytes } from '../../core/manifest.js';
import { assertTag, isTag } from '../../core/names.js';
import { apiVersionHeader, readSmallBody, sendEmpty, type DistributionDeps, type RequestContext } from './context.js';

/** Manifests by tag or digest: the bytes served are exactly the bytes pushed. */
export function createManifestHandlers({ repositories, trash, events, mirror, manifestPushed, policy }: DistributionDeps) {
  /** A push names a tag to create: a malformed one is 400 TAG_INVALID. */
  function checkReference(reference: string): string {
    if (reference.includes(':')) return parseDigest(reference).digest;
    return assertTag(reference);
  }

  /**
   * A read or delete asks for a tag that may exist: one that could never exist simply does not (404), as the
   * conformance suite, distribution and Harbor answer. Never asked of an upstream.
   */
  function checkExistingReference(name: string, reference: string): string {
    if (!reference.includes(':') && !isTag(reference)) throw unknownManifest(name, reference);
    return checkReference(reference);
  }

  function unknownManifest(name: string, reference: string): RegistryError {
    const shown = reference.slice(0, 200);
    return new RegistryError('MANIFEST_UNKNOWN', `manifest unknown: ${name}${isDigest(reference) ? '@' : ':'}${shown}`, { detail: { name, reference: shown } });
  }

  async function get(ctx: RequestContext, name: string, reference: string): Promise<void> {
    const started = performance.now();
    const checked = checkExistingReference(name, reference);
    if (policy && ctx.req.method === 'GET') await policy.beforeManifestPull(name);
    const manifest = mirror?.isMirrored(name) ? await mirror.manifest(name, checked) : await repositories.getManifest(name, checked);
    if (!manifest) throw unknownManifest(name, reference);
    const headers = {
      ...apiVersionHeader,
      'Content-Type': manifest.mediaType,
      'Content-Length': manifest.bytes.length,
      'Docker-Content-Digest': manifest.digest,
      ETag: manifest.etag,
    };
    if (ctx.req.headers['if-none-match'] === manifest.etag) {
      ctx.res.writeHead(304, headers);
      ctx.res.end();
      return;
    }
    ctx.res.writeHead(200, headers);
    if (ctx.req.method === 'HEAD') {
      ctx.res.end();
      return;
    }
    ctx.res.end(manifest.bytes);
    if (events.listenerCount('manifest.pulled') > 0) {
      events.emit('manifest.pulled', { repository: name, reference, digest: manifest.digest, size: manifest.bytes.length, durationMs: performance.now() - started, actor: ctx.caller.name, client: ctx.client });
    }
  }

  async function put(ctx: RequestContext, name: string, reference: string): Promise<void> {
    const started = performance.now();
    checkReference(reference);
    const bytes = await readSmallBody(ctx.req, maxManifestBytes);
    if (policy) {
      // Checked before anything is stored: an immutable tag stays where it is, and a namespace at its quota takes
      // no manifest it does not hold yet (the store verifies a digest reference; a mismatch fails there).
      const digest = isDigest(reference) ? reference : digestOf(bytes, 'sha256');
      if (!isDigest(reference)) await policy.beforeTagPut(name, reference, digest);
      const allowance = await policy.storageAllowance(name);
      if (allowance && bytes.length > allowance.remaining && !(await allowance.holds(digest))) throw allowance.refuse(bytes.length);
    }
    const result = await repositories.putManifest(name, reference, bytes, ctx.req.headers['content-type']);
    await manifestPushed?.({ repository: name, actor: ctx.caller.name, client: ctx.client });
    events.emit('manifest.pushed', {
      repository: name,
      reference,
      digest: result.digest,
      mediaType: result.mediaType,
      size: bytes.length,
      durationMs: performance.now() - started,
      actor: ctx.caller.name,
      client: ctx.client,
    });
    sendEmpty(ctx.res, 201, {
      Location: `/v2/${name}/manifests/${result.digest}`,
      'Docker-Content-Digest': result.digest,
      ...(result.subject ? { 'OCI-Subject': result.subject } : {}),
    });
  }

  async function remove(ctx: RequestContext, name: string, reference: string): Promise<void> {
    checkExistingReference(name, reference);
    // Into the trash: for this client (and every other) the manifest or tag is gone now, as the spec says.
    const by = { actor: ctx.caller.name };
    if (isDigest(reference)) {
      const entry = await trash.moveManifest(name, parseDigest(reference).digest, by);
      if (!entry) throw unknownManifest(name, reference);
      events.emit('manifest.deleted', { repository: name, digest: reference, actor: ctx.caller.name, client: ctx.client, trashEntry: entry.id });
    } else {
      const entry = await trash.moveTag(name, reference, by);
      if (!entry) throw unknownManifest(name, reference);
      events.emit('tag.deleted', { repository: name, tag: reference, actor: ctx.caller.name, client: ctx.client, trashEntry: entry.id });
    }
    sendEmpty(ctx.res, 202);
  }

  return { get, put, remove };
}
