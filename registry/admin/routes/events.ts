import type { Server } from 'node:net';
import { Router, type Request, type Response } from 'express';
import { adminRoutes, type AdminEvent } from '../contract.js';
import type { AdminContext } from '../deps.js';

export const heartbeatMs = 15_000;
/** How often an open stream checks that its server is still accepting: a stream must not hold a shutdown open. */
const shutdownCheckMs = 1_000;

function frame(event: AdminEvent): string {
  // JSON.stringify never emits a raw newline, so one `data:` line is always enough.
  return `data: ${JSON.stringify(event)}\n\n`;
}

/** `GET /api/events`: server-sent events (see AdminEvent in the contract). */
export function eventRoutes(ctx: AdminContext): Router {
  const router = Router();
  router.get(adminRoutes.events, (req: Request, res: Response) => {
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      // Reverse proxies (nginx) would otherwise buffer the stream and deliver events in lumps.
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    // The browser's EventSource reconnects after this long if the stream drops.
    res.write(`retry: 3000\n\n${frame({ type: 'hello', time: new Date().toISOString(), version: ctx.version })}`);

    const unsubscribe = ctx.hub.subscribe((event) => {
      // A slow client just buffers a little: events are small and few; a dead one is cleaned up on 'close'.
      res.write(frame(event));
    });
    const server = (req.socket as { server?: Server }).server;
    let ticks = 0;
    const timer = setInterval(() => {
      ticks += 1;
      if (server && !server.listening) {
        res.end();
        return;
      }
      if ((ticks * shutdownCheckMs) % heartbeatMs === 0) res.write(': heartbeat\n\n');
    }, shutdownCheckMs);
    timer.unref();
    const cleanup = () => {
      clearInterval(timer);
      unsubscribe();
    };
    res.on('close', cleanup);
    res.on('error', cleanup);
  });
  return router;
}
