import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { Router, type Request, type Response } from 'express';
import { auditDirName, queryAudit, type AuditEvent, type AuditQuery } from '../../auth/audit-log.js';
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

/** The same filter queryAudit applies, for the export's line-by-line pass. */
function matches(event: AuditEvent, query: AuditQuery): boolean {
  const time = Date.parse(event.time);
  if (query.since && !(time >= query.since.getTime())) return false;
  if (query.until && !(time <= query.until.getTime())) return false;
  if (query.namespace !== undefined && event.namespace !== query.namespace) return false;
  if (query.actor !== undefined && event.actor !== query.actor) return false;
  if (query.action !== undefined) {
    if (query.action.endsWith('.*') ? !event.action.startsWith(query.action.slice(0, -1)) : event.action !== query.action) return false;
  }
  return true;
}

/**
 * Streams every matching event as NDJSON, oldest first, straight from the day files: memory stays flat however
 * long the trail, and a slow client slows the reading (backpressure) instead of filling a buffer.
 */
async function streamExport(dataDir: string, query: AuditQuery, res: Response): Promise<void> {
  const dir = join(dataDir, auditDirName);
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const sinceDay = query.since?.toISOString().slice(0, 10) ?? '';
  const untilDay = query.until?.toISOString().slice(0, 10) ?? '9999-12-31';
  const days = names
    .map((name) => /^(\d{4}-\d{2}-\d{2})\.jsonl$/.exec(name)?.[1])
    .filter((day): day is string => day !== undefined && day >= sinceDay && day <= untilDay)
    .sort();
  for (const day of days) {
    const input = createReadStream(join(dir, `${day}.jsonl`), { encoding: 'utf8' });
    try {
      for await (const line of createInterface({ input, crlfDelay: Infinity })) {
        if (res.destroyed) return;
        let event: AuditEvent;
        try {
          event = JSON.parse(line) as AuditEvent;
        } catch {
          continue; // a torn last line after a crash
        }
        if (typeof event !== 'object' || event === null || typeof event.time !== 'string' || typeof event.action !== 'string') continue;
        if (!matches(event, query)) continue;
        if (!res.write(`${JSON.stringify(event)}\n`)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      }
    } finally {
      input.destroy();
    }
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
    const result = await queryAudit(ctx.dataDir, query);
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
    await streamExport(ctx.dataDir, query, res);
    res.end();
  });
  return router;
}
