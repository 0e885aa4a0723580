import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, type Header } from 'tar-stream';
import { invalidArchive, isTransferError } from './archive-error.js';

/**
 * Reads a tar archive entry by entry, streaming each body to `onEntry` (which must consume it or leave it: what is
 * left is drained). tar-stream does the parsing: a widely used, streaming, dependency-light parser that handles
 * ustar, pax and GNU long names, so Berth keeps no tar code of its own. What it lets through that an image archive
 * must never hold is refused here, naming the entry: absolute paths, `..`, links of any kind, devices.
 */
export interface ArchiveEntry {
  /** The path inside the archive, without a leading `./`; never absolute, never with a `..` component. */
  readonly name: string;
  readonly size: number;
}

/** Entry names longer than this are no image layout's (the longest real one is `blobs/sha512/<128 hex>`). */
const maxEntryName = 1024;

/** The entry's path as Berth reads it, or an error naming it when it could leave the folder it is unpacked in. */
export function safeEntryName(raw: string): string {
  const shown = JSON.stringify(raw.slice(0, 200));
  if (raw.length > maxEntryName) throw invalidArchive(`archive entry ${shown}… has a name longer than ${maxEntryName} characters`, raw.slice(0, 200));
  if (raw.includes('\0') || raw.includes('\\')) throw invalidArchive(`archive entry ${shown} has a NUL or backslash in its name`, raw);
  if (raw.startsWith('/')) throw invalidArchive(`archive entry ${shown} is an absolute path: an image archive holds relative paths only`, raw);
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw invalidArchive(`archive entry ${shown} climbs out of the archive with "..": refused`, raw);
  return parts.join('/');
}

/** Regular files and directories only; everything else is refused before its body is read. */
function checkType(header: Header, name: string): 'file' | 'directory' {
  const type = header.type ?? 'file';
  if (type === 'file' || type === 'contiguous-file') return 'file';
  if (type === 'directory') return 'directory';
  const what = type === 'symlink' || type === 'link' ? `a ${type === 'link' ? 'hard link' : 'symbolic link'} (to ${JSON.stringify(header.linkname ?? '')})` : `a ${type}`;
  throw invalidArchive(`archive entry ${JSON.stringify(name)} is ${what}: image archives hold regular files only`, name);
}

/**
 * `onEntry` gets each regular file; it reads the body to its end and resolves true, or resolves false without
 * touching it (then it is skipped here). Directories are skipped.
 */
export async function readArchive(input: Readable, onEntry: (entry: ArchiveEntry, body: Readable) => Promise<boolean>): Promise<void> {
  const parser = extract();
  const feeding = pipeline(input, parser);
  // The parser's own failure surfaces through the iterator; the pipeline's is awaited at the end.
  feeding.catch(() => undefined);
  try {
    for await (const body of parser) {
      const raw = body.header.name;
      const name = safeEntryName(raw);
      const type = checkType(body.header, raw);
      const consumed = type === 'file' && name !== '' && (await onEntry({ name, size: body.header.size ?? 0 }, body as unknown as Readable));
      if (!consumed) for await (const _chunk of body) void _chunk;
    }
    await feeding;
  } catch (error) {
    input.destroy();
    parser.destroy();
    if (isTransferError(error)) throw error;
    throw invalidArchive(`not a readable tar archive: ${(error as Error).message}`);
  }
}

/** A small entry read whole, refused past `limit` bytes (manifests, index.json: never a layer). */
export async function readSmallEntry(entry: ArchiveEntry, body: Readable, limit: number): Promise<Buffer> {
  if (entry.size > limit) throw invalidArchive(`archive entry ${entry.name} is ${entry.size} bytes, more than the ${limit} a manifest or index may have`, entry.name);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

