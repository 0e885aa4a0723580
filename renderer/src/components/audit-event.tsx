import { Badge } from '@mantine/core';
import type { AuditEvent } from '../api/contract.js';

const outcomeColors: Record<AuditEvent['outcome'], string> = { success: 'teal', denied: 'orange', failure: 'red' };

export function OutcomeBadge({ outcome }: { outcome: AuditEvent['outcome'] }) {
  return (
    <Badge size="sm" variant="light" color={outcomeColors[outcome] ?? 'gray'}>
      {outcome}
    </Badge>
  );
}

/** What the event was about, as one line: `team/app:1`, `team/app@sha256:…`, or the namespace. */
export function auditSubject(event: AuditEvent): string {
  if (event.repository) {
    if (event.reference) return `${event.repository}${event.reference.includes(':') ? '@' : ':'}${event.reference}`;
    if (event.digest) return `${event.repository}@${event.digest.slice(0, 19)}`;
    return event.repository;
  }
  // Configuration events name their object (token, upstream, rule) in detail.name; prefer it to the namespace.
  const detail = event.detail;
  if (detail && typeof detail === 'object' && 'name' in detail && typeof (detail as { name: unknown }).name === 'string') {
    return (detail as { name: string }).name;
  }
  return event.namespace ?? '';
}
