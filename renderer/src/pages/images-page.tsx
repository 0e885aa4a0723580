import { Anchor, Breadcrumbs, Button, Chip, Group, Loader, Paper, Stack, Text, TextInput } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useState } from 'react';
import { api, ApiError } from '../api/client.js';
import {
  adminPaths,
  adminRoutes,
  type ManifestDetail,
  type NamespacesResponse,
  type RepositoriesResponse,
  type TagSummary,
  type TagsResponse,
} from '../api/contract.js';
import { useEvents } from '../api/events.js';
import { useResource } from '../api/use-resource.js';
import { useAppInfo } from '../app-context.js';
import { CodeSnippet, InlineCode } from '../components/code-snippet.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { EmptyState } from '../components/empty-state.js';
import { LoadError } from '../components/error-alert.js';
import { IconBox, IconSearch, IconTag } from '../components/icons.js';
import { RepositoryList } from '../components/images/repository-list.js';
import { TagDrawer } from '../components/images/tag-drawer.js';
import { TagTable } from '../components/images/tag-table.js';
import { PageHeader } from '../components/page-header.js';
import { shortDigest } from '../format.js';
import { hrefFor, Link, navigate, type Route } from '../router.js';

const contentEvents = ['manifest.pushed', 'manifest.deleted', 'tag.deleted'] as const;

function pushExample(host: string, repository = 'team/app'): string {
  return `docker tag alpine:latest ${host}/${repository}:1\ndocker push ${host}/${repository}:1`;
}

function RepositoriesView({ route }: { route: Route }) {
  const { registryHost } = useAppInfo();
  const namespace = route.query.get('namespace') ?? '';
  const [search, setSearch] = useState(route.query.get('q') ?? '');
  const [query] = useDebouncedValue(search.trim(), 200);
  const [version, setVersion] = useState(0);
  const bump = () => setVersion((value) => value + 1);
  useEvents([...contentEvents], bump, bump);

  const namespaces = useResource((signal) => api.get<NamespacesResponse>(adminRoutes.namespaces, undefined, signal), `ns:${version}`);
  // Namespace filtering happens here, not in the request: the chips need every namespace's count for the search.
  const repositories = useResource(
    (signal) => api.get<RepositoriesResponse>(adminPaths.repositories({ q: query || undefined }), undefined, signal),
    `repos:${query}:${version}`,
  );
  const setNamespace = (value: string) => {
    const params: Record<string, string> = {};
    if (value) params.namespace = value;
    if (search.trim()) params.q = search.trim();
    navigate(hrefFor('images', [], params), { replace: true });
  };

  const all = repositories.data?.repositories ?? [];
  const counts = new Map<string, number>((namespaces.data?.namespaces ?? []).map((entry) => [entry.name, 0]));
  for (const repository of all) counts.set(repository.namespace, (counts.get(repository.namespace) ?? 0) + 1);
  const chips = [...counts.entries()].sort(([a], [b]) => a.localeCompare(b));
  const list = namespace ? all.filter((repository) => repository.namespace === namespace) : all;
  const filtered = namespace !== '' || query !== '';
  return (
    <>
      <PageHeader title="Images" description="Repositories stored in Berth, pushed here or mirrored from upstreams." />
      <Paper withBorder radius="lg" p="lg">
        <Stack gap="md">
          <Group justify="space-between" align="flex-end" wrap="wrap" gap="md">
            <TextInput
              label="Search repositories"
              placeholder="e.g. redis"
              leftSection={<IconSearch size={16} />}
              value={search}
              onChange={(event) => setSearch(event.currentTarget.value)}
              w={{ base: '100%', sm: 320 }}
              type="search"
            />
            {repositories.loading && <Loader size="sm" aria-label="Loading repositories" />}
          </Group>
          {chips.length > 1 && (
            <Chip.Group multiple={false} value={namespace} onChange={(value) => setNamespace(String(value))}>
              <Group gap="xs" role="group" aria-label="Filter by namespace">
                <Chip value="" size="sm" variant="light">
                  All namespaces
                </Chip>
                {chips.map(([name, count]) => (
                  <Chip key={name} value={name} size="sm" variant="light">
                    {name} ({count})
                  </Chip>
                ))}
              </Group>
            </Chip.Group>
          )}
          {repositories.error !== undefined ? (
            <LoadError error={repositories.error} onRetry={repositories.reload} />
          ) : list.length > 0 ? (
            <RepositoryList repositories={list} />
          ) : repositories.loading && !repositories.data ? null : filtered ? (
            <EmptyState icon={<IconSearch size={28} />} title="No repository matches">
              <Text c="dimmed">
                Nothing {namespace ? `in namespace “${namespace}” ` : ''}
                {query ? `matches “${query}”` : ''}. Clear the search or pick another namespace.
              </Text>
            </EmptyState>
          ) : (
            <EmptyState icon={<IconBox size={28} />} title="No images yet">
              <Text c="dimmed">Push your first image. It appears here as soon as the push finishes.</Text>
              <CodeSnippet code={pushExample(registryHost)} label="Terminal" copyLabel="Copy push command" />
              <Text size="sm" c="dimmed">
                Pushing needs a token with push access:{' '}
                <Anchor component={Link} href={hrefFor('tokens')}>
                  create one
                </Anchor>{' '}
                and <code>docker login {registryHost}</code> first. Or mirror images from an{' '}
                <Anchor component={Link} href={hrefFor('mirror')}>
                  upstream
                </Anchor>
                .
              </Text>
            </EmptyState>
          )}
        </Stack>
      </Paper>
    </>
  );
}

/** An address with no repository behind it (deleted, or mistyped): say so, and lead back to the list. */
function MissingRepository({ repository }: { repository: string }) {
  return (
    <>
      <PageHeader title="Repository not found" />
      <Paper withBorder radius="lg" p="lg">
        <EmptyState icon={<IconBox size={28} />} title={`There is no repository “${repository}”`}>
          <Text c="dimmed">It may have been deleted since this page was opened, or the address is mistyped.</Text>
          <Button component={Link} href={hrefFor('images')}>
            Back to Images
          </Button>
        </EmptyState>
      </Paper>
    </>
  );
}

type Pending = { kind: 'tag'; tag: string } | { kind: 'manifest'; detail: ManifestDetail | TagSummary };

function RepositoryView({ repository, route }: { repository: string; route: Route }) {
  const { registryHost } = useAppInfo();
  const openTag = route.query.get('tag') ?? undefined;
  const [version, setVersion] = useState(0);
  const [pending, setPending] = useState<Pending>();
  const bump = () => setVersion((value) => value + 1);
  useEvents(
    [...contentEvents],
    (event) => {
      if ('repository' in event && event.repository === repository) bump();
    },
    bump,
  );
  const tags = useResource((signal) => api.get<TagsResponse>(adminPaths.tags(repository), undefined, signal), `${repository}:${version}`);
  const here = repository.split('/');
  const setTag = (tag: string | undefined) => navigate(hrefFor('images', here, tag ? { tag } : undefined));

  const remove = async () => {
    if (!pending) return;
    const reference = pending.kind === 'tag' ? pending.tag : pending.detail.digest;
    await api.delete(adminPaths.manifest(repository, reference));
    if (openTag && (pending.kind === 'manifest' || pending.tag === openTag)) setTag(undefined);
    bump();
  };

  const list = tags.data?.tags ?? [];
  if (tags.error instanceof ApiError && tags.error.code === 'BERTH_REPOSITORY_NOT_FOUND') return <MissingRepository repository={repository} />;
  return (
    <>
      <Breadcrumbs mb="xs" fz="sm">
        <Anchor component={Link} href={hrefFor('images')}>
          Images
        </Anchor>
        <Anchor component={Link} href={hrefFor('images', [], { namespace: repository.split('/')[0] ?? '' })}>
          {repository.split('/')[0]}
        </Anchor>
      </Breadcrumbs>
      <PageHeader title={repository} description={<InlineCode code={`${registryHost}/${repository}`} copyLabel="Copy repository address" />} />
      <Paper withBorder radius="lg" p="lg">
        {tags.error !== undefined ? (
          <LoadError error={tags.error} onRetry={tags.reload} />
        ) : !tags.data ? (
          <Group justify="center" py="xl">
            <Loader aria-label="Loading tags" />
          </Group>
        ) : list.length === 0 ? (
          <EmptyState icon={<IconTag size={28} />} title="No tags left in this repository">
            <CodeSnippet code={pushExample(registryHost, repository)} label="Terminal" copyLabel="Copy push command" />
          </EmptyState>
        ) : (
          <TagTable
            repository={repository}
            tags={list}
            onDelete={(tag) => setPending({ kind: 'tag', tag: tag.tag })}
          />
        )}
      </Paper>
      <TagDrawer
        repository={repository}
        tag={openTag}
        version={version}
        onClose={() => setTag(undefined)}
        onDeleteTag={(tag) => setPending({ kind: 'tag', tag })}
        onDeleteManifest={(detail) => setPending({ kind: 'manifest', detail })}
      />
      <ConfirmDialog
        opened={pending !== undefined}
        title={pending?.kind === 'manifest' ? 'Delete image?' : 'Delete tag?'}
        confirmLabel={pending?.kind === 'manifest' ? 'Delete image' : 'Delete tag'}
        onConfirm={remove}
        onClose={() => setPending(undefined)}
      >
        {pending?.kind === 'tag' && (
          <Text size="sm">
            This removes the tag <code className="berth-mono">{`${repository}:${pending.tag}`}</code>. The image itself stays if other
            tags or digests refer to it; clients pulling this tag will get “manifest unknown”.
          </Text>
        )}
        {pending?.kind === 'manifest' && (
          <Text size="sm">
            This deletes the image <code className="berth-mono">{`${repository}@${shortDigest(pending.detail.digest, 16)}`}</code>
            {'tags' in pending.detail && Array.isArray(pending.detail.tags) && pending.detail.tags.length > 0
              ? ` and every tag pointing at it: ${pending.detail.tags.join(', ')}.`
              : '.'}{' '}
            It cannot be undone.
          </Text>
        )}
      </ConfirmDialog>
    </>
  );
}

/** `/ui/images` lists repositories; `/ui/images/<repository>` shows its tags; `?tag=` opens a tag's details. */
export function ImagesPage({ route }: { route: Route }) {
  if (route.rest.length === 0) return <RepositoriesView route={route} />;
  return <RepositoryView key={route.rest.join('/')} repository={route.rest.join('/')} route={route} />;
}
