import type { Readable, Writable } from 'node:stream';
import { destinationClosedError } from '../driver.js';

/**
 * Writes exactly `expected` bytes of `source` into `destination` without ending it, pausing the source while
 * the destination is full (memory stays at a few chunks whatever the size), and resolves once the last write
 * was handed over. Rejects when the destination closes first (the client went away; the source is destroyed,
 * which frees its connection) or when the source ends early.
 */
export async function streamInto(source: Readable, destination: Writable, expected: number): Promise<void> {
  let gone = false;
  let wake: (() => void) | undefined;
  const onClose = (): void => {
    gone = true;
    wake?.();
  };
  const onDrain = (): void => wake?.();
  destination.once('close', onClose);
  destination.on('drain', onDrain);
  let written = 0;
  let lastWrite: Promise<void> = Promise.resolve();
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (gone) break;
      const room = expected - written;
      const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
      written += piece.length;
      lastWrite = new Promise<void>((resolve, reject) => destination.write(piece, (error) => (error ? reject(error) : resolve())));
      lastWrite.catch(() => undefined);
      if (destination.writableNeedDrain && !gone) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      if (written >= expected || gone) break;
    }
    if (gone) throw destinationClosedError();
    if (written < expected) throw new Error(`object ended ${expected - written} bytes early`);
    await lastWrite;
  } finally {
    destination.off('close', onClose);
    destination.off('drain', onDrain);
    if (!source.readableEnded) source.destroy();
  }
}
