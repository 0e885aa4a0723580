import { createImageInspector } from './admin/image-inspect.js';
import { isDigest } from './core/digest.js';
import type { Registry } from './index.js';
import { unredactedLogger, type Logger } from './log.js';

/**
 * One info line per manifest push and per manifest pull (never per blob: a pull of a 20-layer image is one line),
 * with the repository, the tag or digest, the image's size (manifest, config and layers; an index with the children
 * stored here), how long the request took and who asked from where. Every pull is logged: the audit trail keeps
 * one pull per client and manifest per minute, the log does not drop any.
 *
 * Nothing is registered when the level is above info, so the manifest GET hot path pays nothing for it then.
 */
export function logContentTraffic(registry: Registry, log: Logger): void {
  if (!log.isLevelEnabled('info')) return;
  // Its fields are the fixed set written below, none a secret: they skip the redaction (see unredactedLogger).
  const lines = unredactedLogger(log);
  // Its own inspector: the image size of a digest is computed once (cached), then a map lookup per pull.
  const inspector = createImageInspector(() => registry);
  const imageSize = async (repository: string, digest: string, fallback: number): Promise<number> => {
    try {
      return (await inspector.imageSize(repository, digest)) ?? fallback;
    } catch {
      return fallback;
    }
  };
  const where = (reference: string) => (isDigest(reference) ? {} : { tag: reference });
  const ms = (value: number) => Math.round(value * 10) / 10;

  registry.events.on('manifest.pushed', (e) => {
    void imageSize(e.repository, e.digest, e.size).then((size) =>
      lines.info(
        { repository: e.repository, ...where(e.reference), digest: e.digest, mediaType: e.mediaType, size, manifestSize: e.size, durationMs: ms(e.durationMs), actor: e.actor, client: e.client },
        'image pushed',
      ),
    );
  });
  registry.events.on('manifest.pulled', (e) => {
    void imageSize(e.repository, e.digest, e.size).then((size) =>
      lines.info(
        { repository: e.repository, ...where(e.reference), digest: e.digest, size, manifestSize: e.size, durationMs: ms(e.durationMs), actor: e.actor, client: e.client },
        'image pulled',
      ),
    );
  });
}
