import { Button, Group, Loader, Select, Stack, Text, TextInput } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useEffect, useState } from 'react';
import { api, ApiError } from '../../api/client.js';
import { adminPaths, adminRoutes, tagSorts, type PinRequest, type PinsResponse, type TagSort, type TagSummary, type TagsResponse } from '../../api/contract.js';
import { useResource } from '../../api/use-resource.js';
import { formatCount } from '../../format.js';
import type { Route } from '../../router.js';
import { EmptyState } from '../empty-state.js';
import { ErrorAlert, LoadError } from '../error-alert.js';
import { IconSearch } from '../icons.js';
import { TagTable } from './tag-table.js';
import { setView, viewHref } from './view-query.js';

/** Tags per page: a page is what is inspected and rendered, so 1,000 tags cost the same as 50. */
export const tagPageSize = 50;

const sortLabels: Record<TagSort, string> = {
  version: 'Version, newest first',
  name: 'Name, natural order',
  pushed: 'Last pushed',
};

export interface TagBrowserProps {
  repository: string;
  route: Route;
  /** Bumped by the page when a live event says this repository changed. */
  version: number;
  onDelete: (tag: TagSummary) => void;
  /** Called with each page's answer, so the page can show the total beside its tabs. */
  onTotal?: (total: number) => void;
  /** Called when the server says there is no such repository (deleted meanwhile, or a mistyped address). */
  onMissing?: () => void;
}

/**
 * One page of a repository's tags, with a filter, an order and Previous/Next, all kept in the URL (`q`, `sort`,
 * `after`, `page`). The server pages with a cursor (the last tag shown); `page` is only the number shown.
 */
export function TagBrowser({ repository, route, version, onDelete, onTotal, onMissing }: TagBrowserProps) {
  const q = route.query.get('q') ?? '';
  const sortParam = route.query.get('sort') ?? '';
  const sort: TagSort = (tagSorts as readonly string[]).includes(sortParam) ? (sortParam as TagSort) : 'version';
  const after = route.query.get('after') ?? undefined;
  const page = Math.max(1, Number(route.query.get('page') ?? '1') || 1);
  const [search, setSearch] = useState(q);
  const [debounced] = useDebouncedValue(search.trim(), 250);
  // Cursors of the pages before this one, for Previous (a reload forgets them: Previous then goes to the first page).
  const [previous, setPrevious] = useState<Array<string | undefined>>([]);

  useEffect(() => {
    if (debounced === q) return;
    setPrevious([]);
    setView(repository, route, { q: debounced, after: undefined, page: undefined }, { replace: true });
  // Only a new debounced value navigates: the route changing for other reasons must not re-apply an old filter.
  }, [debounced]);

  const tags = useResource(
    (signal) => api.get<TagsResponse>(adminPaths.tags(repository, { n: tagPageSize, last: after, filter: q || undefined, sort }), undefined, signal),
    `${repository}:${q}:${sort}:${after ?? ''}:${version}`,
  );
  useEffect(() => {
    if (tags.data && !q) onTotal?.(tags.data.total);
  }, [tags.data, q]);
  // Pins of this repository (tags only: a digest pin shows in the manifest's own view), toggled in place.
  const pins = useResource((signal) => api.get<PinsResponse>(adminPaths.pins(repository), undefined, signal), `pins:${repository}:${version}`);
  const pinned = new Set((pins.data?.pins ?? []).map((pin) => pin.reference));
  const [pinError, setPinError] = useState<unknown>();
  const togglePin = async (tag: TagSummary) => {
    setPinError(undefined);
    try {
      if (pinned.has(tag.tag)) await api.delete(adminPaths.pin(repository, tag.tag));
      else await api.post(adminRoutes.pins, { repository, reference: tag.tag } satisfies PinRequest);
      pins.reload();
    } catch (reason) {
      setPinError(reason);
    }
  };
  const missing = tags.error instanceof ApiError && tags.error.code === 'BERTH_REPOSITORY_NOT_FOUND';
  useEffect(() => {
    if (missing) onMissing?.();
  }, [missing]);

  const total = tags.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / tagPageSize));
  const first = (page - 1) * tagPageSize + 1;
  const list = tags.data?.tags ?? [];
  const next = () => {
    if (!tags.data?.next) return;
    setPrevious((stack) => [...stack, after]);
    setView(repository, route, { after: tags.data.next, page: String(page + 1) });
    window.scrollTo({ top: 0 });
  };
  const back = () => {
    const stack = [...previous];
    const cursor = stack.pop();
    setPrevious(stack);
    const known = previous.length > 0;
    setView(repository, route, { after: known ? cursor : undefined, page: known && page > 2 ? String(page - 1) : undefined });
    window.scrollTo({ top: 0 });
  };

  return (
    <Stack gap="md">
      <Group justify="space-between" align="flex-end" wrap="wrap" gap="md">
        <Group align="flex-end" gap="md" wrap="wrap">
          <TextInput
            label="Filter tags"
            placeholder="e.g. 1.2 or alpine"
            leftSection={<IconSearch size={16} />}
            value={search}
            onChange={(event) => setSearch(event.currentTarget.value)}
            w={{ base: '100%', xs: 240 }}
            type="search"
          />
          <Select
            label="Sort by"
            data={tagSorts.map((value) => ({ value, label: sortLabels[value] }))}
            value={sort}
            onChange={(value) => {
              setPrevious([]);
              setView(repository, route, { sort: value && value !== 'version' ? value : undefined, after: undefined, page: undefined });
            }}
            allowDeselect={false}
            w={{ base: '100%', xs: 220 }}
          />
        </Group>
        {tags.loading && <Loader size="sm" aria-label="Loading tags" />}
      </Group>
      {tags.error !== undefined ? (
        <LoadError error={tags.error} onRetry={tags.reload} />
      ) : !tags.data ? null : list.length === 0 ? (
        <EmptyState icon={<IconSearch size={28} />} title="No tag matches">
          <Text c="dimmed">No tag of {repository} contains “{q}”. Clear the filter to see them all.</Text>
        </EmptyState>
      ) : (
        <>
          {pinError !== undefined && <ErrorAlert error={pinError} />}
          <TagTable
            repository={repository}
            tags={list}
            linkFor={(tag) => viewHref(repository, route, { tag, digest: undefined, from: undefined })}
            onDelete={onDelete}
            pinned={pinned}
            onTogglePin={(tag) => void togglePin(tag)}
          />
          <Group justify="space-between" wrap="wrap" gap="sm">
            <Text size="sm" c="dimmed" role="status">
              {`${formatCount(first)}–${formatCount(first + list.length - 1)} of ${formatCount(total)} ${q ? `tags matching “${q}”` : total === 1 ? 'tag' : 'tags'}`}
            </Text>
            {(after !== undefined || tags.data.next !== undefined) && (
              <Group gap="xs">
                <Button variant="default" size="xs" onClick={back} disabled={after === undefined}>
                  Previous page
                </Button>
                <Text size="sm" aria-hidden="true">
                  {page} / {pages}
                </Text>
                <Button variant="default" size="xs" onClick={next} disabled={!tags.data.next}>
                  Next page
                </Button>
              </Group>
            )}
          </Group>
        </>
      )}
    </Stack>
  );
}
