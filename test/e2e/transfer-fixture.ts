import { createReadStream, createWriteStream } from 'node:fs';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { extract, pack } from 'tar-stream';

/**
 * What the transfer tests share: a corrupted copy of an archive (one byte of one entry flipped, sizes and names
 * unchanged, so only a digest check can tell), waiting for the import folder to move a file, and the data
 * directory's leftovers that a refused import must not leave.
 */

/** Copies `source` to `target` with one byte in the middle of `entryName` changed. */
export async function corruptArchive(source: string, target: string, entryName: string): Promise<void> {
  const reader = extract();
  const writer = pack();
  const done = pipeline(writer, createWriteStream(target));
  const reading = pipeline(createReadStream(source), reader);
  let found = false;
  for await (const entry of reader) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    if (entry.header.name === entryName) {
      found = true;
      const middle = Math.floor(bytes.length / 2);
      bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
    }
    await new Promise<void>((resolve, reject) => writer.entry({ ...entry.header }, bytes, (error) => (error ? reject(error) : resolve())));
  }
  await reading;
  writer.finalize();
  await done;
  if (!found) throw new Error(`no entry ${entryName} in ${source}`);
}

/** Resolves once `path` exists; fails after `limitMs` (a safeguard against a hang, not a timing assertion). */
export async function waitForPath(path: string, limitMs = 120_000): Promise<void> {
  const until = Date.now() + limitMs;
  for (;;) {
    if (await access(path).then(() => true, () => false)) return;
    if (Date.now() > until) throw new Error(`${path} did not appear within ${limitMs / 1000} s`);
    await sleep(200);
  }
}

/** Every file under `dir` (relative paths), or [] when it does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1)).sort();
}
