import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { parseDigest } from '../core/digest.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { ExportPlan } from './export-plan.js';

/**
 * Writes an export plan as a tar archive (tar-stream's packer, see archive-reader.ts for why that library):
 * the root files, then every manifest from memory, then every blob streamed from the store into its entry, so a
 * blob of any size costs a chunk of memory. Entries carry a fixed time and owner: the same images give the same
 * archive.
 */
export interface ExportProgress {
  readonly bytes: number;
  readonly total: number;
}

const fixedTime = new Date('2000-01-01T00:00:00Z');

export async function writeArchive(blobs: BlobStore, plan: ExportPlan, out: Writable, onProgress?: (progress: ExportProgress) => void): Promise<void> {
  const archive = pack();
  const piping = pipeline(archive as unknown as NodeJS.ReadableStream, out);
  const header = (name: string, size: number) => ({ name, size, mtime: fixedTime, mode: 0o644, uid: 0, gid: 0 });
  const addBuffer = (name: string, bytes: Buffer) =>
    new Promise<void>((resolve, reject) => archive.entry(header(name, bytes.length), bytes, (error) => (error ? reject(error) : resolve())));
  let written = 0;
  try {
    for (const file of plan.files) await addBuffer(file.name, file.bytes);
    for (const dir of ['blobs', ...new Set([...plan.manifests, ...plan.blobs].map((item) => `blobs/${item.digest.split(':')[0]}`))]) {
      archive.entry({ name: dir, type: 'directory', mtime: fixedTime, mode: 0o755 });
    }
    const blobName = (digest: string) => `blobs/${digest.replace(':', '/')}`;
    for (const manifest of plan.manifests) {
      await addBuffer(blobName(manifest.digest), manifest.bytes);
      written += manifest.bytes.length;
    }
    onProgress?.({ bytes: written, total: plan.contentBytes });
    for (const blob of plan.blobs) {
      const reader = await blobs.reader(parseDigest(blob.digest));
      const entry = archive.entry(header(blobName(blob.digest), blob.size));
      const done = new Promise<void>((resolve, reject) => {
        entry.on('finish', resolve);
        entry.on('error', reject);
      });
      await pipeline(reader, entry as unknown as NodeJS.WritableStream);
      await done;
      written += blob.size;
      onProgress?.({ bytes: written, total: plan.contentBytes });
    }
    archive.finalize();
    await piping;
  } catch (error) {
    archive.destroy(error as Error);
    await piping.catch(() => undefined);
    throw error;
  }
}
