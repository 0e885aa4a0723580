import { once } from 'node:events';
import { Router, type Request, type Response } from 'express';
import type { AuditEvent, AuditQuery } from '../../auth/audit-log.js';
import { DurationError, parsePointInTime } from '../../core/duration.js';
import { badRequest } from '../admin-error.js';
import { adminRoutes, type AuditResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { queryInteger, queryParam } from '../request-helpers.js';

/** `24h`, `7d` (back from now) or an ISO date/time. */
function parseTime(text: string | undefined, field: string, now: number): Date | undefined {
  if (text === undefined) return undefined;
  try {
    return parsePointInTime(text, now);
  } catch (error) {
    if (!(error instanceof DurationError)) throw error;
    throw badRequest(`invalid "${field}" "${text.slice(0, 40)}"`, 'a duration such as 24h or 7d, or a date such as 2030-01-31');
  }
}

function filtersOf(req: Request): AuditQuery {
  const now = Date.now();
  return {
    since: parseTime(queryParam(req, 'since'), 'since', now),
    until: parseTime(queryParam(req, 'until'), 'until', now),
    namespace: queryParam(req, 'namespace'),
    action: queryParam(req, 'action'),
    actor: queryParam(req, 'actor'),
  };
}

/** The export: every matching event, one JSON line each, written as fast as the client reads. */
async function streamExport(events: AsyncIterable<AuditEvent>, res: Response): Promise<void> {
  for await (const event of events) {
    if (res.destroyed) return;
    if (!res.write(`${JSON.stringify(event)}\n`)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
  }
}

/** The audit trail: a page of it as JSON, or all of it as a download. */
export function auditRoutes(ctx: AdminContext): Router {
  const router = Router();

  router.get(adminRoutes.audit, async (req, res) => {
    const query: AuditQuery = {
      ...filtersOf(req),
      limit: queryInteger(req, 'limit', 100, 1, 1000),
      offset: queryInteger(req, 'offset', 0, 0, 1_000_000),
    };
    const result = await ctx.audit.query(query);
    const body: AuditResponse = { events: result.events, total: result.total };
    res.json(body);
  });

  router.get(adminRoutes.auditExport, async (req, res) => {
    const query = filtersOf(req);
    const day = new Date().toISOString().slice(0, 10);
    res.status(200).set({
      'Content-Type': 'application/x-ndjson; charset=utf-8',
      'Content-Disposition': `attachment; filename="berth-audit-${day}.jsonl"`,
      'Cache-Control': 'no-store',
    });
    await streamExport(ctx.audit.events(query), res);
    res.end();
  });
  return router;
}
