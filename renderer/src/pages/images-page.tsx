import { Anchor, Breadcrumbs, Button, Chip, Group, Loader, Paper, Stack, Tabs, Text, TextInput } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useState, type ReactNode } from 'react';
import { api, ApiError } from '../api/client.js';
import { adminPaths, adminRoutes, type NamespacesResponse, type RepositoriesResponse, type TagsResponse, type UntaggedResponse, type UntaggedRole } from '../api/contract.js';
import { useEvents } from '../api/events.js';
import { useResource } from '../api/use-resource.js';
import { useAppInfo } from '../app-context.js';
import { CodeSnippet, InlineCode } from '../components/code-snippet.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { EmptyState } from '../components/empty-state.js';
import { LoadError } from '../components/error-alert.js';
import { IconBox, IconSearch, IconTag, IconTrash } from '../components/icons.js';
import { ImportDropZone } from '../components/images/import-drop-zone.js';
import { ManifestDrawer } from '../components/images/manifest-drawer.js';
import { RepositoryList, SourceBadge } from '../components/images/repository-list.js';
import { TagBrowser } from '../components/images/tag-browser.js';
import { UntaggedTable } from '../components/images/untagged-table.js';
import { setView, viewHref } from '../components/images/view-query.js';
import { PageHeader } from '../components/page-header.js';
import { RelativeTime } from '../components/relative-time.js';
import { formatBytes, formatCount, shortDigest } from '../format.js';
import { hrefFor, Link, navigate, type Route } from '../router.js';

/** Every delete goes to the trash (registry/lifecycle/trash.ts): what the confirm says instead of "cannot be undone". */
const trashNote = 'It goes to the Trash, where it can be restored (tags, signatures and all) until it expires; its space is freed after that.';
const contentEvents = ['manifest.pushed', 'manifest.deleted', 'tag.deleted', 'repository.deleted'] as const;

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
      <ImportDropZone onImported={bump} />
      <Paper withBorder radius="lg" p="lg" mt="lg">
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
            <EmptyState order={2} icon={<IconSearch size={28} />} title="No repository matches">
              <Text c="dimmed">
                Nothing {namespace ? `in namespace “${namespace}” ` : ''}
                {query ? `matches “${query}”` : ''}. Clear the search or pick another namespace.
              </Text>
            </EmptyState>
          ) : (
            <EmptyState order={2} icon={<IconBox size={28} />} title="No images yet">
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
        <EmptyState order={2} icon={<IconBox size={28} />} title={`There is no repository “${repository}”`}>
          <Text c="dimmed">It may have been deleted since this page was opened, or the address is mistyped.</Text>
          <Button component={Link} href={hrefFor('images')}>
            Back to Images
          </Button>
        </EmptyState>
      </Paper>
    </>
  );
}

type Pending =
  | { kind: 'tag'; tag: string }
  /** `role` when it was deleted from the Untagged tab: the dialog says what that kind of manifest is for. */
  | { kind: 'manifest'; digest: string; tags: string[]; role?: UntaggedRole }
  | { kind: 'repository' };

/** What deleting an untagged manifest breaks, by what it is doing in the repository. */
const untaggedConsequence: Record<UntaggedRole, string> = {
  platform: 'It is one platform of a stored index: pulling the index for this platform will fail with “manifest unknown”.',
  referrer: 'It is attached to another manifest (a signature, SBOM or attestation): it leaves that manifest’s referrers.',
  untagged: 'No tag points at it, so only pulls by this digest use it; they will get “manifest unknown”.',
};

/** Whether a repository has no tag left (false when it is gone already: there is nothing to offer then). */
async function hasNoTags(repository: string): Promise<boolean> {
  try {
    return (await api.get<TagsResponse>(adminPaths.tags(repository, { n: 1 }))).total === 0;
  } catch (error) {
    if (error instanceof ApiError && error.code === 'BERTH_REPOSITORY_NOT_FOUND') return false;
    throw error;
  }
}

/** One labelled figure of the repository header: a dimmed label, then its value. */
function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <Text size="sm">
      <Text component="span" c="dimmed" size="sm">
        {label}{' '}
      </Text>
      {children}
    </Text>
  );
}

/** Size, last push, pulls and source of one repository, for its page's header. */
function RepositoryFacts({ repository, version }: { repository: string; version: number }) {
  const facts = useResource(
    (signal) => api.get<RepositoriesResponse>(adminPaths.repositories({ q: repository }), undefined, signal),
    `${repository}:${version}`,
  );
  const summary = facts.data?.repositories.find((entry) => entry.name === repository);
  if (!summary) return null;
  return (
    <Group gap="lg" mb="md" wrap="wrap" aria-label="Repository facts" role="group">
      <SourceBadge repository={summary} />
      <Fact label="Size">
        <Text component="span" fw={600} size="sm">
          {formatBytes(summary.size)}
        </Text>
      </Fact>
      <Fact label="Last push">
        <RelativeTime value={summary.lastPushedAt} fallback="never" />
      </Fact>
      <Fact label="Last pull">
        <RelativeTime value={summary.lastPulledAt} fallback="never" />
      </Fact>
      <Fact label="Pulls (7 days)">
        <Text component="span" fw={600} size="sm" className="berth-nums">
          {formatCount(summary.pullsLast7Days)}
        </Text>
      </Fact>
      <Fact label="Pulls (all time)">
        <Text component="span" fw={600} size="sm" className="berth-nums">
          {formatCount(summary.pullCount)}
        </Text>
      </Fact>
    </Group>
  );
}

function RepositoryView({ repository, route }: { repository: string; route: Route }) {
  const { registryHost } = useAppInfo();
  const tag = route.query.get('tag') ?? undefined;
  const digest = route.query.get('digest') ?? undefined;
  const from = route.query.get('from') ?? undefined;
  const openReference = digest ?? tag;
  const tab = route.query.get('view') === 'untagged' ? 'untagged' : 'tags';
  const [version, setVersion] = useState(0);
  const [pending, setPending] = useState<Pending>();
  /** Set after the last tag went: the GUI offers to delete the (now tagless) repository too. */
  const [offerRepositoryDelete, setOfferRepositoryDelete] = useState(false);
  const [tagTotal, setTagTotal] = useState<number>();
  const bump = () => setVersion((value) => value + 1);
  useEvents(
    [...contentEvents],
    (event) => {
      if ('repository' in event && event.repository === repository) bump();
    },
    bump,
  );
  const [missing, setMissing] = useState(false);
  // Untagged manifests only when their tab is open: finding them resolves every tag, which a page of tags avoids.
  const untagged = useResource(
    (signal) => (tab === 'untagged' ? api.get<UntaggedResponse>(adminPaths.untagged(repository), undefined, signal) : Promise.resolve(undefined)),
    `${repository}:${tab}:${version}`,
  );
  const closeDrawer = () => setView(repository, route, { tag: undefined, digest: undefined, from: undefined });
  const linkTo = (target: string) => viewHref(repository, route, { digest: target, tag: undefined, from: openReference });

  const removeRepository = async () => {
    await api.delete(adminPaths.repository(repository));
    navigate(hrefFor('images'));
  };

  const remove = async () => {
    if (!pending) return;
    if (pending.kind === 'repository') return removeRepository();
    const reference = pending.kind === 'tag' ? pending.tag : pending.digest;
    await api.delete(adminPaths.manifest(repository, reference));
    if ((pending.kind === 'manifest' && (digest === pending.digest || tag !== undefined)) || (pending.kind === 'tag' && pending.tag === tag)) closeDrawer();
    bump();
    // A tagless repository stays listed (its untagged manifests are still pullable by digest), so after the last
    // tag goes the GUI asks whether the repository should go too. A failed check only skips the offer.
    const removedTags = pending.kind === 'tag' || pending.tags.length > 0;
    if (removedTags && (await hasNoTags(repository).catch(() => false))) setOfferRepositoryDelete(true);
  };


  if (missing || (untagged.error instanceof ApiError && untagged.error.code === 'BERTH_REPOSITORY_NOT_FOUND')) return <MissingRepository repository={repository} />;
  const untaggedCount = untagged.data?.manifests.length;
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
      <PageHeader
        title={repository}
        description={<InlineCode code={`${registryHost}/${repository}`} copyLabel="Copy repository address" />}
        actions={
          <Button variant="light" color="red" leftSection={<IconTrash size={16} />} onClick={() => setPending({ kind: 'repository' })}>
            Delete repository
          </Button>
        }
      />
      <RepositoryFacts repository={repository} version={version} />
      <Paper withBorder radius="lg" p="lg">
        <Tabs value={tab} onChange={(value) => setView(repository, route, { view: value === 'untagged' ? 'untagged' : undefined })} keepMounted={false}>
          <Tabs.List mb="md">
            <Tabs.Tab value="tags">Tags{tagTotal === undefined ? '' : ` (${formatCount(tagTotal)})`}</Tabs.Tab>
            <Tabs.Tab value="untagged">Untagged{untaggedCount === undefined ? '' : ` (${formatCount(untaggedCount)})`}</Tabs.Tab>
          </Tabs.List>
          <Tabs.Panel value="tags">
            {tagTotal === 0 && !route.query.get('q') ? (
              <EmptyState order={2} icon={<IconTag size={28} />} title="No tags left in this repository">
                <CodeSnippet code={pushExample(registryHost, repository)} label="Terminal" copyLabel="Copy push command" />
              </EmptyState>
            ) : null}
            <div hidden={tagTotal === 0 && !route.query.get('q')}>
              <TagBrowser
                repository={repository}
                route={route}
                version={version}
                onTotal={setTagTotal}
                onMissing={() => setMissing(true)}
                onDelete={(entry) => setPending({ kind: 'tag', tag: entry.tag })}
              />
            </div>
          </Tabs.Panel>
          <Tabs.Panel value="untagged">
            {untagged.error !== undefined ? (
              <LoadError error={untagged.error} onRetry={untagged.reload} />
            ) : !untagged.data ? (
              <Group justify="center" py="xl">
                <Loader aria-label="Loading untagged manifests" />
              </Group>
            ) : untagged.data.manifests.length === 0 ? (
              <EmptyState order={2} icon={<IconTag size={28} />} title="Every manifest here has a tag">
                <Text c="dimmed">Images pushed by digest, platforms of an index, signatures and SBOMs show up here.</Text>
              </EmptyState>
            ) : (
              <UntaggedTable
                repository={repository}
                manifests={untagged.data.manifests}
                linkFor={(target) => viewHref(repository, route, { digest: target, tag: undefined, from: undefined })}
                onDelete={(manifest) => setPending({ kind: 'manifest', digest: manifest.digest, tags: [], role: manifest.role })}
              />
            )}
          </Tabs.Panel>
        </Tabs>
      </Paper>
      <ManifestDrawer
        repository={repository}
        reference={openReference}
        version={version}
        linkTo={linkTo}
        back={
          from
            ? {
                href: viewHref(repository, route, from.includes(':') ? { digest: from, tag: undefined, from: undefined } : { tag: from, digest: undefined, from: undefined }),
                label: from.includes(':') ? `${repository}@${shortDigest(from, 12)}` : `${repository}:${from}`,
              }
            : undefined
        }
        onClose={closeDrawer}
        onDeleteTag={(target) => setPending({ kind: 'tag', tag: target })}
        onDeleteManifest={(detail) => setPending({ kind: 'manifest', digest: detail.digest, tags: detail.tags })}
      />
      <ConfirmDialog
        opened={pending !== undefined}
        title={pending?.kind === 'repository' ? 'Delete repository?' : pending?.kind === 'manifest' ? (pending.role ? 'Delete manifest?' : 'Delete image?') : 'Delete tag?'}
        confirmLabel={pending?.kind === 'repository' ? 'Delete repository' : pending?.kind === 'manifest' ? (pending.role ? 'Delete manifest' : 'Delete image') : 'Delete tag'}
        onConfirm={remove}
        onClose={() => setPending(undefined)}
      >
        {pending?.kind === 'repository' && (
          <Text size="sm">
            This deletes <code className="berth-mono">{repository}</code>: every tag
            {tagTotal === undefined ? '' : ` (${formatCount(tagTotal)})`} and every manifest, untagged ones, signatures and SBOMs
            included. Clients pulling from it will get “name unknown”. {trashNote}
          </Text>
        )}
        {pending?.kind === 'tag' && (
          <Text size="sm">
            This removes the tag <code className="berth-mono">{`${repository}:${pending.tag}`}</code>. The image itself stays if other
            tags or digests refer to it; clients pulling this tag will get “manifest unknown”. {trashNote}
          </Text>
        )}
        {pending?.kind === 'manifest' && pending.role && (
          <Text size="sm">
            This deletes the manifest <code className="berth-mono">{`${repository}@${shortDigest(pending.digest, 16)}`}</code>.{' '}
            {untaggedConsequence[pending.role]} {trashNote}
          </Text>
        )}
        {pending?.kind === 'manifest' && !pending.role && (
          <Text size="sm">
            This deletes the image <code className="berth-mono">{`${repository}@${shortDigest(pending.digest, 16)}`}</code>
            {pending.tags.length > 0 ? ` and every tag pointing at it: ${pending.tags.join(', ')}.` : '.'} {trashNote}
          </Text>
        )}
      </ConfirmDialog>
      <ConfirmDialog
        opened={offerRepositoryDelete}
        title={`Delete repository ${repository} too?`}
        confirmLabel="Delete repository"
        onConfirm={removeRepository}
        onClose={() => setOfferRepositoryDelete(false)}
      >
        <Text size="sm">
          That was the last tag of <code className="berth-mono">{repository}</code>. What is left in it (untagged manifests, pullable by digest
          only) keeps it listed. Delete the repository too, with everything left in it? Cancel keeps it. {trashNote}
        </Text>
      </ConfirmDialog>
    </>
  );
}

/**
 * `/ui/images` lists repositories; `/ui/images/<repository>` shows a page of its tags (`?q=&sort=&after=&page=`) or its
 * untagged manifests (`?view=untagged`); `?tag=` or `?digest=` opens one manifest's details.
 */
export function ImagesPage({ route }: { route: Route }) {
  if (route.rest.length === 0) return <RepositoriesView route={route} />;
  return <RepositoryView key={route.rest.join('/')} repository={route.rest.join('/')} route={route} />;
}
