import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { AuditClosedError, type AuditEvent, type AuditEventInput, type AuditLog } from '../../registry/auth/index.js';

/**
 * What every AuditLog backend promises, run against each (test/unit/audit-log.test.ts on the day files,
 * test/state/postgres-audit-log.test.ts on PostgreSQL). Two logs opened on one backing are two nodes.
 */
export interface AuditBackend {
  readonly name: string;
  readonly skip?: string;
  /** A new, empty backing, cleaned up after `t`; `open` opens a log on it. */
  fresh(t: TestContext): Promise<{ open(): Promise<AuditLog> }>;
}

const dayMs = 86_400_000;

async function opened(t: TestContext, backing: { open(): Promise<AuditLog> }): Promise<AuditLog> {
  const log = await backing.open();
  t.after(() => log.close());
  return log;
}

const event = (fields: Partial<AuditEventInput> & Pick<AuditEventInput, 'action'>): AuditEventInput => ({
  actor: 'admin',
  client: '127.0.0.1',
  outcome: 'success',
  ...fields,
});

async function collect(events: AsyncIterable<AuditEvent>): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const item of events) out.push(item);
  return out;
}

export function auditLogContract(backend: AuditBackend): void {
  const named = (title: string): string => `${backend.name} audit log: ${title}`;
  const options = { skip: backend.skip, timeout: 60_000 };

  test(named('recorded events come back oldest first, timed, with secrets scrubbed'), options, async (t) => {
    const log = await opened(t, await backend.fresh(t));
    const before = Date.now();
    await log.record(event({ action: 'token.create', detail: { name: 'ci', leaked: 'berth_abcdefghijklmnop1234' } }));
    await log.record(event({ action: 'push', namespace: 'team', repository: 'team/app', reference: 'v1', digest: `sha256:${'a'.repeat(64)}` }));
    const { events, total } = await log.query();
    assert.equal(total, 2);
    assert.deepEqual(events.map((e) => e.action), ['token.create', 'push']);
    assert.ok(Date.parse(events[0]!.time) >= before - 1000, events[0]!.time);
    assert.deepEqual(events[0]!.detail, { name: 'ci', leaked: 'berth_[redacted]' });
    assert.equal(events[1]!.digest, `sha256:${'a'.repeat(64)}`);
  });

  test(named('queries filter by namespace, actor, action (or a family), time; limit and offset page back from the newest'), options, async (t) => {
    const log = await opened(t, await backend.fresh(t));
    const base = Date.parse('2030-06-01T12:00:00.000Z');
    const at = (minutes: number) => new Date(base + minutes * 60_000);
    await log.record(event({ action: 'token.create', time: at(0) }));
    await log.record(event({ action: 'token.revoke', time: at(1) }));
    await log.record(event({ action: 'push', namespace: 'team', actor: 'ci', time: at(2) }));
    await log.record(event({ action: 'push', namespace: 'other', actor: 'ci', time: at(3) }));
    await log.record(event({ action: 'tokenish', time: at(4) }));
    const actions = async (query: Parameters<AuditLog['query']>[0]) => (await log.query(query)).events.map((e) => `${e.action}@${e.time.slice(14, 16)}`);
    assert.deepEqual(await actions({ namespace: 'team' }), ['push@02']);
    assert.deepEqual(await actions({ actor: 'ci' }), ['push@02', 'push@03']);
    assert.deepEqual(await actions({ action: 'token.*' }), ['token.create@00', 'token.revoke@01']);
    assert.deepEqual(await actions({ action: 'token.create' }), ['token.create@00']);
    assert.deepEqual(await actions({ since: at(1), until: at(3) }), ['token.revoke@01', 'push@02', 'push@03']);
    assert.deepEqual(await actions({ limit: 2 }), ['push@03', 'tokenish@04']);
    const page = await log.query({ limit: 2, offset: 2 });
    assert.deepEqual(page.events.map((e) => e.action), ['token.revoke', 'push']);
    assert.equal(page.total, 5);
  });

  test(named('events() streams every match oldest first, also past a page boundary'), options, async (t) => {
    const log = await opened(t, await backend.fresh(t));
    const base = Date.parse('2030-01-01T00:00:00.000Z');
    // 1200 events over two days, several sharing a millisecond (the order they were recorded in breaks the tie).
    for (let i = 0; i < 1200; i++) await log.record(event({ action: i % 3 === 0 ? 'pull' : 'push', time: new Date(base + Math.floor(i / 2) * 150_000), detail: { i } }));
    const all = await collect(log.events());
    assert.equal(all.length, 1200);
    assert.deepEqual(all.map((e) => (e.detail as { i: number }).i), Array.from({ length: 1200 }, (_, i) => i));
    const pulls = await collect(log.events({ action: 'pull', since: new Date(base + dayMs) }));
    assert.ok(pulls.length > 0 && pulls.every((e) => e.action === 'pull' && Date.parse(e.time) >= base + dayMs));
  });

  test(named('prune drops whole days older than the retention, never today, and records that it did'), options, async (t) => {
    const log = await opened(t, await backend.fresh(t));
    const now = new Date('2030-06-30T10:00:00.000Z');
    await log.record(event({ action: 'old', time: new Date(now.getTime() - 40 * dayMs) }));
    await log.record(event({ action: 'recent', time: new Date(now.getTime() - 10 * dayMs) }));
    await log.record(event({ action: 'today', time: now }));
    const deleted = await log.prune({ keepDays: 20, now, client: 'cli' });
    assert.equal(deleted.length, 1, deleted.join(', '));
    assert.ok(deleted[0]!.startsWith('2030-05-21'), deleted[0]);
    const left = (await log.query()).events;
    assert.deepEqual(left.map((e) => e.action), ['recent', 'today', 'audit.prune']);
    assert.equal(left[2]!.client, 'cli');
    assert.deepEqual(await log.prune({ keepDays: 20, now }), [], 'nothing more to prune');
    await assert.rejects(log.prune({ keepDays: 0, now }), /audit retention must be a whole number of days from 1 to 3650/);
  });

  test(named('two logs on one backing (two nodes) each see the events of both; close refuses later records'), options, async (t) => {
    const backing = await backend.fresh(t);
    const a = await opened(t, backing);
    const b = await opened(t, backing);
    await a.record(event({ action: 'push', actor: 'node-a' }));
    await b.record(event({ action: 'push', actor: 'node-b' }));
    for (const log of [a, b]) assert.deepEqual((await log.query()).events.map((e) => e.actor).sort(), ['node-a', 'node-b']);
    await a.close();
    await assert.rejects(a.record(event({ action: 'late' })), AuditClosedError);
  });
}
