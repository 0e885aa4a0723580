import { randomFillSync } from 'node:crypto';

/**
 * A minimal POSIX ustar writer, producing a stream of Buffers. Enough for image layers that real clients
 * (skopeo, podman, umoci, tar) unpack: regular files and directories, owned by root, fixed mtime.
 */

export const tarBlockSize = 512;

export interface TarEntry {
  /** Path inside the archive, without a leading slash; at most 100 bytes (no prefix splitting here). */
  readonly name: string;
  readonly type: 'file' | 'directory';
  /** Regular files: content length. */
  readonly size?: number;
  readonly mode?: number;
  /** Seconds since the epoch. */
  readonly mtime?: number;
}

function writeString(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar field too long (${bytes.length} > ${length}): ${value}`);
  bytes.copy(header, offset);
}

/** Octal number, zero-padded to length-1 digits and NUL-terminated, as ustar expects. */
function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  const digits = value.toString(8);
  if (digits.length > length - 1) throw new Error(`tar numeric field overflow: ${value}`);
  writeString(header, offset, length, `${digits.padStart(length - 1, '0')}\0`);
}

/** One 512-byte ustar header with its checksum. */
export function tarHeader(entry: TarEntry): Buffer {
  const header = Buffer.alloc(tarBlockSize);
  const isDir = entry.type === 'directory';
  const name = isDir && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
  writeString(header, 0, 100, name);
  writeOctal(header, 100, 8, entry.mode ?? (isDir ? 0o755 : 0o644));
  writeOctal(header, 108, 8, 0); // uid
  writeOctal(header, 116, 8, 0); // gid
  writeOctal(header, 124, 12, isDir ? 0 : (entry.size ?? 0));
  writeOctal(header, 136, 12, entry.mtime ?? 1_700_000_000);
  header.write(isDir ? '5' : '0', 156, 'latin1');
  writeString(header, 257, 6, 'ustar\0');
  writeString(header, 263, 2, '00');
  writeString(header, 265, 32, 'root');
  writeString(header, 297, 32, 'root');
  writeOctal(header, 329, 8, 0); // devmajor
  writeOctal(header, 337, 8, 0); // devminor
  // The checksum is the byte sum of the header with the checksum field itself read as eight spaces.
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  writeString(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

/** Zero bytes that pad `size` bytes of content up to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % tarBlockSize;
  return Buffer.alloc(rest === 0 ? 0 : tarBlockSize - rest);
}

/** Two zero blocks: the end-of-archive marker. */
export function tarTrailer(): Buffer {
  return Buffer.alloc(2 * tarBlockSize);
}

/** Random bytes in chunks of at most chunkSize, never holding more than one chunk. */
export function* randomChunks(size: number, chunkSize = 1024 * 1024): Generator<Buffer> {
  let left = size;
  while (left > 0) {
    const length = Math.min(left, chunkSize);
    // A fresh buffer per chunk: downstream streams may still hold the previous one.
    yield randomFillSync(Buffer.allocUnsafe(length));
    left -= length;
  }
}

export interface RandomFile {
  readonly name: string;
  readonly size: number;
}

/** A whole archive: the given directories, then files with random content, then the trailer. */
export function* tarStream(directories: readonly string[], files: readonly RandomFile[]): Generator<Buffer> {
  for (const name of directories) yield tarHeader({ name, type: 'directory' });
  for (const file of files) {
    yield tarHeader({ name: file.name, type: 'file', size: file.size });
    yield* randomChunks(file.size);
    const padding = tarPadding(file.size);
    if (padding.length > 0) yield padding;
  }
  yield tarTrailer();
}
