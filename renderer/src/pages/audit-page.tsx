import { Autocomplete, Button, Group, Loader, Pagination, Paper, Select, SimpleGrid, Stack, Table, Text, TextInput, Tooltip } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client.js';
import { adminPaths, type AuditEvent, type AuditQueryParams, type AuditResponse } from '../api/contract.js';
import { useResource } from '../api/use-resource.js';
import { auditSubject, OutcomeBadge } from '../components/audit-event.js';
import { EmptyState } from '../components/empty-state.js';
import { LoadError } from '../components/error-alert.js';
import { IconDownload, IconList, IconRefresh } from '../components/icons.js';
import { PageHeader } from '../components/page-header.js';
import { RelativeTime } from '../components/relative-time.js';
import { columnPriority, ResponsiveTable } from '../components/responsive-table.js';
import { hrefFor, navigate, type Route } from '../router.js';

const pageSize = 50;

const knownActions = [
  'push', 'pull', 'delete', 'auth.denied', 'auth.failed', 'admin.signin',
  'token.*', 'token.create', 'token.revoke',
  'namespace.*', 'upstream.*', 'sync.*', 'settings.update',
];

const sinceOptions = [
  { value: '', label: 'Any time' },
  { value: '1h', label: 'Last hour' },
  { value: '24h', label: 'Last 24 hours' },
  { value: '7d', label: 'Last 7 days' },
  { value: '30d', label: 'Last 30 days' },
];

interface Filters {
  action: string;
  namespace: string;
  actor: string;
  since: string;
}

function filtersFrom(route: Route): Filters {
  return {
    action: route.query.get('action') ?? '',
    namespace: route.query.get('namespace') ?? '',
    actor: route.query.get('actor') ?? '',
    since: route.query.get('since') ?? '',
  };
}

function toQuery(filters: Filters): Omit<AuditQueryParams, 'limit' | 'offset'> {
  return {
    action: filters.action.trim() || undefined,
    namespace: filters.namespace.trim() || undefined,
    actor: filters.actor.trim() || undefined,
    since: filters.since || undefined,
  };
}

function filterParams(filters: Filters): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(filters)) if (value.trim()) params[key] = value.trim();
  return params;
}

function EventRow({ event }: { event: AuditEvent }) {
  const detail = event.detail === undefined ? '' : JSON.stringify(event.detail);
  return (
    <Table.Tr>
      <Table.Td fz="sm" style={{ whiteSpace: 'nowrap' }}>
        <RelativeTime value={event.time} />
      </Table.Td>
      <Table.Td fw={500} fz="sm">
        {event.action}
      </Table.Td>
      <Table.Td fz="sm" className="berth-mono berth-break">
        {auditSubject(event) || '—'}
      </Table.Td>
      <Table.Td fz="sm" className={columnPriority.medium}>
        {event.actor}
      </Table.Td>
      <Table.Td fz="sm" className={`berth-mono ${columnPriority.low}`}>
        {event.client}
      </Table.Td>
      <Table.Td>
        {detail ? (
          <Tooltip label={<span className="berth-mono">{detail.slice(0, 400)}</span>} multiline w={360}>
            <span>
              <OutcomeBadge outcome={event.outcome} />
            </span>
          </Tooltip>
        ) : (
          <OutcomeBadge outcome={event.outcome} />
        )}
      </Table.Td>
    </Table.Tr>
  );
}

/** Filters live in the URL, so a filtered view can be bookmarked or shared with whoever runs the machine. */
export function AuditPage({ route }: { route: Route }) {
  const [filters, setFilters] = useState<Filters>(() => filtersFrom(route));
  const [debounced] = useDebouncedValue(filters, 300);
  const page = Math.max(1, Number(route.query.get('page') ?? '1') || 1);
  const [version, setVersion] = useState(0);

  // A filter change rewrites the URL and goes back to page 1; the first render keeps the URL (and page) it came with.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    navigate(hrefFor('audit', [], filterParams(debounced)), { replace: true });
  }, [debounced]);

  const query = toQuery(debounced);
  const audit = useResource(
    (signal) => api.get<AuditResponse>(adminPaths.audit({ ...query, limit: pageSize, offset: (page - 1) * pageSize }), undefined, signal),
    `${JSON.stringify(query)}:${page}:${version}`,
  );
  const total = audit.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / pageSize));
  // The API answers oldest first within the page; a log reads best newest first.
  const events = [...(audit.data?.events ?? [])].reverse();
  const set = (change: Partial<Filters>) => setFilters((current) => ({ ...current, ...change }));
  const filtered = Object.values(filters).some((value) => value.trim() !== '');
  const goToPage = (next: number) => {
    const params = filterParams(debounced);
    if (next > 1) params.page = String(next);
    navigate(hrefFor('audit', [], params));
  };

  return (
    <>
      <PageHeader
        title="Audit"
        description="Every change, every push and pull, and every denied request, kept in the data directory as JSON Lines."
        actions={
          <>
            <Button variant="default" leftSection={<IconRefresh size={16} />} onClick={() => setVersion((value) => value + 1)}>
              Refresh
            </Button>
            <Button component="a" href={adminPaths.auditExport(query)} download leftSection={<IconDownload size={16} />}>
              Export JSON Lines
            </Button>
          </>
        }
      />
      <Paper withBorder radius="lg" p="lg">
        <Stack gap="md">
          <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }} spacing="sm" role="search" aria-label="Filter audit events">
            <Autocomplete label="Action" placeholder="e.g. push or token.*" data={knownActions} value={filters.action} onChange={(action) => set({ action })} />
            <TextInput label="Namespace" placeholder="e.g. team" value={filters.namespace} onChange={(event) => set({ namespace: event.currentTarget.value })} />
            <TextInput label="Actor" placeholder="token name, admin, anonymous" value={filters.actor} onChange={(event) => set({ actor: event.currentTarget.value })} />
            <Select label="Since" data={sinceOptions} value={filters.since} onChange={(since) => set({ since: since ?? '' })} allowDeselect={false} />
          </SimpleGrid>
          <Group justify="space-between">
            <Text size="sm" c="dimmed" role="status">
              {audit.data ? `${total.toLocaleString()} event${total === 1 ? '' : 's'}${filtered ? ' match' : ''}` : ' '}
            </Text>
            <Group gap="sm">
              {audit.loading && <Loader size="xs" aria-label="Loading audit events" />}
              {filtered && (
                <Button variant="subtle" size="xs" onClick={() => setFilters({ action: '', namespace: '', actor: '', since: '' })}>
                  Clear filters
                </Button>
              )}
            </Group>
          </Group>
          {audit.error !== undefined ? (
            <LoadError error={audit.error} onRetry={audit.reload} />
          ) : audit.data && events.length === 0 ? (
            <EmptyState icon={<IconList size={28} />} title={filtered ? 'No events match these filters' : 'No audit events yet'}>
              <Text c="dimmed">
                {filtered
                  ? 'Widen the time range or clear a filter. Action accepts a family such as token.*.'
                  : 'Pushes, pulls, sign-ins and configuration changes are recorded here as they happen.'}
              </Text>
            </EmptyState>
          ) : (
            <ResponsiveTable label="Audit events">
              <Table verticalSpacing="xs" striped highlightOnHover aria-label="Audit events">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Time</Table.Th>
                    <Table.Th>Action</Table.Th>
                    <Table.Th>Subject</Table.Th>
                    <Table.Th className={columnPriority.medium}>Actor</Table.Th>
                    <Table.Th className={columnPriority.low}>Client</Table.Th>
                    <Table.Th>Outcome</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {events.map((event, index) => (
                    <EventRow key={`${event.time}-${index}`} event={event} />
                  ))}
                </Table.Tbody>
              </Table>
            </ResponsiveTable>
          )}
          {pages > 1 && (
            <Group justify="center">
              <Pagination total={pages} value={Math.min(page, pages)} onChange={goToPage} getControlProps={(control) => ({ 'aria-label': `${control} page` })} />
            </Group>
          )}
        </Stack>
      </Paper>
    </>
  );
}
