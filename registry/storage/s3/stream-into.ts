import type { Readable, Writable } from 'node:stream';
import { destinationClosedError } from '../driver.js';

/**
 * Writes exactly `expected` bytes of `source` into `destination` without ending it, pausing the source while
 * the destination is full (memory stays at a few chunks whatever the size), and resolves once the last write
 * was handed over. Rejects when the destination closes first (the client went away; the source is destroyed,
 * which frees its connection) or when the source ends early.
 *
 * In flowing mode with pause and resume, as pipe() does, rather than an async iterator: a response body comes in
 * socket reads of 16-64 KiB, and the iterator's promises per chunk were about a sixth of a 64 MiB copy's CPU. A
 * source that has sent the whole range is left to end by itself, so its keep-alive connection goes back to the pool
 * (the iterator's early exit destroyed the body before its end, and with it the connection: a new one per blob).
 */
export function streamInto(source: Readable, destination: Writable, expected: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let written = 0;
    let settled = false;
    const settle = (error?: Error | null): void => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      destination.off('drain', onDrain);
      destination.off('close', onClose);
      // Whatever the source does from here (an abort, a reset) is no news to anyone.
      source.on('error', () => undefined);
      if (error) {
        if (!source.readableEnded) source.destroy();
        reject(error);
        return;
      }
      if (!source.readableEnded) {
        // Every byte is in; the body's end is on its way. Anything past the range cuts the connection instead.
        source.once('data', () => source.destroy());
        source.resume();
      }
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      const room = expected - written;
      const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
      written += piece.length;
      if (written < expected) {
        if (!destination.write(piece)) source.pause();
        return;
      }
      source.off('data', onData);
      source.pause();
      destination.write(piece, (error) => settle(error));
    };
    const onDrain = (): void => {
      if (written < expected) source.resume();
    };
    const onEnd = (): void => {
      if (written < expected) settle(new Error(`object ended ${expected - written} bytes early`));
    };
    const onError = (error: Error): void => settle(error);
    const onClose = (): void => settle(destinationClosedError());
    if (destination.destroyed) {
      settle(destinationClosedError());
      return;
    }
    if (expected <= 0) {
      settle();
      return;
    }
    source.on('end', onEnd);
    source.on('error', onError);
    destination.on('drain', onDrain);
    destination.once('close', onClose);
    source.on('data', onData);
  });
}
