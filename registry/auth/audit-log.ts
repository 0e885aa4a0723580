import { createReadStream } from 'node:fs';
import { appendFile, chmod, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
// A cycle, at run time only: audit-retention.ts opens a log when pruning without one.
import { pruneAudit } from './audit-retention.js';

/**
 * The audit trail: one JSON object per line in `<dataDir>/audit/YYYY-MM-DD.jsonl` (UTC day of the event), files
 * 0600 in a 0700 directory, append-only. Every change and every refused request leaves an event. A secret must
 * never reach these files, so the writer scrubs anything shaped like a Berth token or a JWT from every string,
 * whatever field a caller put it in.
 */
export type AuditAction =
  | 'pull'
  | 'push'
  | 'delete'
  | 'token.create'
  | 'token.revoke'
  | 'namespace.create'
  | 'namespace.update'
  | 'namespace.delete'
  | 'auth.denied'
  | 'auth.failed'
  // Other features add their own dotted actions (e.g. 'sync.start'); the union documents the common ones.
  | (string & {});

export type AuditOutcome = 'success' | 'denied' | 'failure';

export interface AuditEvent {
  /** ISO time; the writer fills it in when absent. */
  time: string;
  action: AuditAction;
  /** Token name, 'anonymous' or 'admin'. */
  actor: string;
  namespace?: string;
  repository?: string;
  reference?: string;
  digest?: string;
  /** The client address. */
  client: string;
  outcome: AuditOutcome;
  detail?: unknown;
}

export type AuditEventInput = Omit<AuditEvent, 'time'> & { time?: string | Date };

export interface AuditLog {
  /** Where the trail lives, for messages: `<dataDir>/audit`, or the database (postgres-audit-log.ts). */
  readonly dir: string;
  /** Appends one event. Events from one writer are appended in call order, never interleaved. */
  record(event: AuditEventInput): Promise<void>;
  /** The newest matching events (see AuditQuery), oldest first, and how many matched. */
  query(query?: AuditQuery): Promise<AuditQueryResult>;
  /** Every matching event, oldest first, read a little at a time (the GUI's export). */
  events(query?: AuditQuery): AsyncIterable<AuditEvent>;
  /**
   * Deletes the whole UTC days of events older than the retention (today never) and audits that it did; returns
   * what went, oldest first: day file names, or the days (YYYY-MM-DD) of a database.
   */
  prune(options: AuditPruneRequest): Promise<string[]>;
  /** Waits for pending writes; later records are refused. */
  close(): Promise<void>;
}

export interface AuditPruneRequest {
  readonly keepDays: number;
  readonly now?: Date;
  /** The `client` of the prune event: 'local' for the server's own timer, 'cli' for `berth audit prune`. */
  readonly client?: string;
}

export const auditDirName = 'audit';
/** A day file's name; group 1 is its UTC day. Shared with audit-retention.ts. */
export const auditFileGrammar = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;

// `berth_` + base64url (a full or partial token), and compact JWS/JWT (`eyJ…`.`…`.`…`, our bearer tokens).
const secretPatterns = [/berth_[A-Za-z0-9_-]{8,}/g, /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g];

export function scrubSecrets(text: string): string {
  let out = text;
  for (const pattern of secretPatterns) {
    out = out.replace(pattern, (match) => (match.startsWith('berth_') ? 'berth_[redacted]' : '[redacted-jwt]'));
  }
  return out;
}

/** A deep copy of `value` with every string (keys included) scrubbed. Depth-limited so a cycle cannot hang it. */
export function scrubValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubSecrets(value);
  if (depth > 16 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, depth + 1));
  if (value instanceof Date) return value.toISOString();
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) out[scrubSecrets(key)] = scrubValue(child, depth + 1);
  return out;
}

export class AuditClosedError extends Error {
  readonly code = 'BERTH_AUDIT_CLOSED';
  constructor() {
    super('the audit log is closed');
    this.name = 'AuditClosedError';
  }
}

export async function createAuditLog(dataDir: string): Promise<AuditLog> {
  const dir = join(dataDir, auditDirName);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;

  async function append(input: AuditEventInput): Promise<void> {
    const event = stampedEvent(input);
    const file = join(dir, `${event.time.slice(0, 10)}.jsonl`);
    // One write per event: with O_APPEND a single write() of a line lands whole, even beside another process.
    await appendFile(file, `${JSON.stringify(event)}\n`, { mode: 0o600, flag: 'a' });
  }

  const log: AuditLog = {
    dir,
    record(event: AuditEventInput): Promise<void> {
      if (closed) return Promise.reject(new AuditClosedError());
      const result = chain.then(() => append(event));
      chain = result.catch(() => undefined);
      return result;
    },
    query: (query) => queryAudit(dataDir, query),
    events: (query) => readAuditEvents(dataDir, query),
    prune: (options) => pruneAudit(dataDir, { ...options, audit: log }),
    async close(): Promise<void> {
      closed = true;
      await chain;
    },
  };
  return log;
}

/** An audit event as recorded: checked before the event is built from its time (JSON or a database row). */
export function stampedEvent(input: AuditEventInput): AuditEvent {
  const time = input.time === undefined ? new Date() : new Date(input.time);
  if (Number.isNaN(time.getTime())) throw new Error(`audit event has an invalid time: ${String(input.time)}`);
  return scrubValue({ ...input, time: time.toISOString() }) as AuditEvent;
}

export interface AuditQuery {
  since?: Date;
  until?: Date;
  namespace?: string;
  /** Exact action, or a family with a trailing `.*` (`token.*`). */
  action?: string;
  actor?: string;
  /** How many of the newest matching events to return. Default 100. */
  limit?: number;
  /** Skip this many of the newest matches first (paging backwards through history). */
  offset?: number;
}

export interface AuditQueryResult {
  /** Oldest first (newest last). */
  events: AuditEvent[];
  /** All matches, before limit/offset. */
  total: number;
}

export function matchesAuditQuery(event: AuditEvent, query: AuditQuery, since = query.since?.getTime() ?? Number.NEGATIVE_INFINITY, until = query.until?.getTime() ?? Number.POSITIVE_INFINITY): boolean {
  const time = Date.parse(event.time);
  if (!(time >= since && time <= until)) return false;
  if (query.namespace !== undefined && event.namespace !== query.namespace) return false;
  if (query.actor !== undefined && event.actor !== query.actor) return false;
  if (query.action !== undefined) {
    if (query.action.endsWith('.*')) {
      if (!event.action.startsWith(query.action.slice(0, -1))) return false;
    } else if (event.action !== query.action) return false;
  }
  return true;
}

/**
 * Streams the day files line by line (never a whole file in memory) and returns the newest `limit` matches after
 * skipping `offset` of the newest, oldest first. Memory is bounded by limit + offset. Lines that do not parse
 * (a torn last line after a crash) are skipped.
 */
export async function queryAudit(dataDir: string, query: AuditQuery = {}): Promise<AuditQueryResult> {
  const dir = join(dataDir, auditDirName);
  const limit = Math.max(0, query.limit ?? 100);
  const offset = Math.max(0, query.offset ?? 0);
  const since = query.since?.getTime() ?? Number.NEGATIVE_INFINITY;
  const until = query.until?.getTime() ?? Number.POSITIVE_INFINITY;
  const sinceDay = query.since ? query.since.toISOString().slice(0, 10) : '';
  const untilDay = query.until ? query.until.toISOString().slice(0, 10) : '9999-12-31';

  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], total: 0 };
    throw error;
  }
  const days = names
    .map((name) => auditFileGrammar.exec(name)?.[1])
    .filter((day): day is string => day !== undefined && day >= sinceDay && day <= untilDay)
    .sort();

  const keep = limit + offset;
  const window: AuditEvent[] = [];
  let total = 0;
  for (const day of days) {
    const input = createReadStream(join(dir, `${day}.jsonl`), { encoding: 'utf8' });
    const lines = createInterface({ input, crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line) continue;
      let event: AuditEvent;
      try {
        event = JSON.parse(line) as AuditEvent;
      } catch {
        continue;
      }
      if (typeof event !== 'object' || event === null) continue;
      if (typeof event.time !== 'string' || typeof event.action !== 'string') continue;
      if (!matchesAuditQuery(event, query, since, until)) continue;
      total += 1;
      if (keep === 0) continue;
      window.push(event);
      // Trim in batches: shifting one element per line would make a long scan quadratic.
      if (window.length >= 2 * keep) window.splice(0, window.length - keep);
    }
  }
  const newest = window.slice(-keep);
  return { events: newest.slice(0, Math.max(0, newest.length - offset)), total };
}

/** Every matching event of the day files, oldest first, a line at a time; lines that do not parse are skipped. */
export async function* readAuditEvents(dataDir: string, query: AuditQuery = {}): AsyncGenerator<AuditEvent> {
  const dir = join(dataDir, auditDirName);
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const sinceDay = query.since?.toISOString().slice(0, 10) ?? '';
  const untilDay = query.until?.toISOString().slice(0, 10) ?? '9999-12-31';
  const days = names
    .map((name) => auditFileGrammar.exec(name)?.[1])
    .filter((day): day is string => day !== undefined && day >= sinceDay && day <= untilDay)
    .sort();
  for (const day of days) {
    const input = createReadStream(join(dir, `${day}.jsonl`), { encoding: 'utf8' });
    try {
      for await (const line of createInterface({ input, crlfDelay: Infinity })) {
        let event: AuditEvent;
        try {
          event = JSON.parse(line) as AuditEvent;
        } catch {
          continue; // a torn last line after a crash
        }
        if (typeof event !== 'object' || event === null || typeof event.time !== 'string' || typeof event.action !== 'string') continue;
        if (matchesAuditQuery(event, query)) yield event;
      }
    } finally {
      input.destroy();
    }
  }
}
