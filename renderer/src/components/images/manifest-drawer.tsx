import { Accordion, Anchor, Badge, Button, Code, Drawer, Group, Loader, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import type { ReactNode } from 'react';
import { api, ApiError } from '../../api/client.js';
import { adminPaths, type DescriptorView, type ManifestDetail } from '../../api/contract.js';
import { useResource } from '../../api/use-resource.js';
import { useAppInfo } from '../../app-context.js';
import { formatBytes, formatCount, formatExact, shortDigest } from '../../format.js';
import { Link } from '../../router.js';
import { CodeSnippet, InlineCode } from '../code-snippet.js';
import { LoadError } from '../error-alert.js';
import { IconDownload, IconTrash } from '../icons.js';
import { RelativeTime } from '../relative-time.js';
import { columnPriority, ResponsiveTable } from '../responsive-table.js';
import { LayerHistoryTable } from './layer-history-table.js';
import { shortMediaType } from './media-type.js';
import { PinToggle } from './pin-toggle.js';
import { PlatformBadges } from './platform-badges.js';

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed" fw={600} tt="uppercase" lts={0.3}>
        {label}
      </Text>
      <div>{children}</div>
    </div>
  );
}

function DescriptorTable({ rows, label, extra }: { rows: DescriptorView[]; label: string; extra?: (row: DescriptorView) => ReactNode }) {
  return (
    <ResponsiveTable label={label}>
      <Table fz="xs" verticalSpacing={4} aria-label={label}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Digest</Table.Th>
            <Table.Th className={columnPriority.medium}>Type</Table.Th>
            <Table.Th ta="right">Size</Table.Th>
            {extra && <Table.Th ta="right">Actions</Table.Th>}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((row, index) => (
            <Table.Tr key={`${row.digest}-${index}`}>
              <Table.Td className="berth-mono" title={row.digest}>
                {shortDigest(row.digest, 16)}
              </Table.Td>
              <Table.Td title={row.mediaType} className={columnPriority.medium}>{row.artifactType ? shortMediaType(row.artifactType) : shortMediaType(row.mediaType)}</Table.Td>
              <Table.Td ta="right" className="berth-nums">
                {formatBytes(row.size)}
              </Table.Td>
              {extra && (
                <Table.Td>
                  <Group justify="flex-end" wrap="nowrap">
                    {extra(row)}
                  </Group>
                </Table.Td>
              )}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </ResponsiveTable>
  );
}

function KeyValues({ entries }: { entries: Array<[string, string]> }) {
  if (entries.length === 0) return <Text size="sm" c="dimmed">None</Text>;
  return (
    <Table fz="xs" verticalSpacing={4}>
      <Table.Tbody>
        {entries.map(([key, value]) => (
          <Table.Tr key={key}>
            <Table.Td className="berth-mono berth-break" w="40%">
              {key}
            </Table.Td>
            <Table.Td className="berth-mono berth-break">{value}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

function ConfigSection({ detail }: { detail: ManifestDetail }) {
  const config = detail.config;
  if (!config) return null;
  const command = [...config.entrypoint, ...config.cmd].join(' ');
  return (
    <Stack gap="sm">
      <SimpleGrid cols={2} spacing="sm">
        <Fact label="Platform">{[config.os, config.architecture, config.variant].filter(Boolean).join('/') || '—'}</Fact>
        <Fact label="User">{config.user || 'root (default)'}</Fact>
        <Fact label="Working directory">{config.workingDir || '/'}</Fact>
        <Fact label="Exposed ports">{config.exposedPorts.join(', ') || '—'}</Fact>
      </SimpleGrid>
      {command && (
        <Fact label="Command">
          <Code block fz="xs">
            {command}
          </Code>
        </Fact>
      )}
      <Accordion variant="separated" chevronPosition="left">
        <Accordion.Item value="env">
          <Accordion.Control>Environment ({config.env.length})</Accordion.Control>
          <Accordion.Panel>
            <KeyValues
              entries={config.env.map((line) => {
                const eq = line.indexOf('=');
                return eq === -1 ? [line, ''] : [line.slice(0, eq), line.slice(eq + 1)];
              })}
            />
          </Accordion.Panel>
        </Accordion.Item>
        <Accordion.Item value="labels">
          <Accordion.Control>Labels ({Object.keys(config.labels).length})</Accordion.Control>
          <Accordion.Panel>
            <KeyValues entries={Object.entries(config.labels)} />
          </Accordion.Panel>
        </Accordion.Item>
      </Accordion>
    </Stack>
  );
}

/** Tags named in the drawer; a digest under 1,000 tags lists the first ones and counts the rest. */
const shownTags = 12;

/** A link that downloads through the admin API (the server names the file and sets its type). */
function DownloadLink({ href, label, what }: { href: string; label: string; what: string }) {
  return (
    <Button component="a" href={href} download variant="default" size="compact-xs" leftSection={<IconDownload size={14} />} aria-label={`${label} ${what}`}>
      {label}
    </Button>
  );
}

interface DetailBodyProps {
  detail: ManifestDetail;
  /** Addresses that open another manifest of the repository in this drawer (a platform, a referrer). */
  linkTo: (digest: string) => string;
  /** Where "Back" leads and what it names, when this manifest was opened from another one (an index, an image). */
  back?: { href: string; label: string };
  onDeleteTag?: () => void;
  onDeleteManifest: () => void;
}

function DetailBody({ detail, linkTo, back, onDeleteTag, onDeleteManifest }: DetailBodyProps) {
  const { registryHost } = useAppInfo();
  const byDigest = detail.reference.includes(':');
  const pull = `docker pull ${registryHost}/${detail.repository}${byDigest ? '@' : ':'}${detail.reference}`;
  const kind = detail.isIndex ? 'Multi-platform index' : detail.artifactType ? 'Artifact' : 'Image manifest';
  return (
    <Stack gap="lg">
      {back && (
        <Anchor component={Link} href={back.href} size="sm" className="berth-break">
          ← Back to {back.label}
        </Anchor>
      )}
      <CodeSnippet code={pull} label="Pull" copyLabel="Copy pull command" />
      <SimpleGrid cols={2} spacing="md">
        <Fact label="Digest">
          <InlineCode code={detail.digest} copyLabel="Copy digest" />
        </Fact>
        <Fact label="Size">
          <Text fw={600}>{formatBytes(detail.size)}</Text>
        </Fact>
        <Fact label="Kind">
          <Text size="sm">{kind}</Text>
          <Text size="xs" c="dimmed" className="berth-break">
            {detail.artifactType ?? detail.mediaType}
          </Text>
        </Fact>
        <Fact label="Platforms">
          <PlatformBadges platforms={detail.platforms} max={8} />
        </Fact>
        <Fact label="Created">
          <Text size="sm">{detail.config?.created ? formatExact(detail.config.created) : '—'}</Text>
        </Fact>
        <Fact label="Pushed">
          <Text size="sm">
            <RelativeTime value={detail.pushedAt} />
          </Text>
        </Fact>
        <Fact label="Last pull">
          <Text size="sm">
            <RelativeTime value={detail.lastPulledAt} fallback="Never" />
          </Text>
        </Fact>
        <Fact label="Pulls">
          <Text size="sm" className="berth-nums">
            {formatCount(detail.pullCount)}
          </Text>
        </Fact>
        {detail.subject && (
          <Fact label="Refers to">
            <Anchor component={Link} href={linkTo(detail.subject.digest)} size="sm" className="berth-mono" title={detail.subject.digest}>
              {shortDigest(detail.subject.digest, 16)}
            </Anchor>
          </Fact>
        )}
        <Fact label="Tags on this digest">
          {detail.tags.length === 0 ? (
            <Text size="sm" c="dimmed">
              None (pull it by digest)
            </Text>
          ) : (
            <Group gap={4}>
              {detail.tags.slice(0, shownTags).map((tag) => (
                <Badge key={tag} variant="light" tt="none">
                  {tag}
                </Badge>
              ))}
              {detail.tags.length > shownTags && (
                <Text size="xs" c="dimmed">
                  and {formatCount(detail.tags.length - shownTags)} more
                </Text>
              )}
            </Group>
          )}
        </Fact>
      </SimpleGrid>

      {detail.isIndex && detail.children.length > 0 && (
        <section aria-label="Platform manifests">
          <Title order={3} fz="md" mb="xs">
            Platforms
          </Title>
          <ResponsiveTable label="Platform manifests">
            <Table fz="xs" verticalSpacing={4} aria-label="Platform manifests">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Platform</Table.Th>
                  <Table.Th className={columnPriority.medium}>Digest</Table.Th>
                  <Table.Th ta="right">Image size</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {detail.children.map((child, index) => (
                  <Table.Tr key={`${child.digest}-${index}`}>
                    <Table.Td>
                      {child.present ? (
                        <Anchor component={Link} href={linkTo(child.digest)} fw={600} size="xs">
                          {child.platform ?? shortDigest(child.digest)}
                        </Anchor>
                      ) : (
                        <Group gap={4} wrap="nowrap">
                          <Text size="xs">{child.platform ?? '—'}</Text>
                          <Badge size="xs" color="gray" variant="light" title="Not stored here: only some platforms were mirrored">
                            not stored
                          </Badge>
                        </Group>
                      )}
                    </Table.Td>
                    <Table.Td className={`berth-mono ${columnPriority.medium}`} title={child.digest}>
                      {shortDigest(child.digest, 16)}
                    </Table.Td>
                    <Table.Td ta="right" className="berth-nums">
                      {child.imageSize === undefined ? '—' : formatBytes(child.imageSize)}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </ResponsiveTable>
        </section>
      )}

      {detail.config && (
        <section aria-label="Configuration">
          <Title order={3} fz="md" mb="xs">
            Configuration
          </Title>
          <ConfigSection detail={detail} />
        </section>
      )}

      {detail.layers.length > 0 && !detail.artifactType && (
        <section aria-label="Layer history">
          <Title order={3} fz="md" mb="xs">
            Layers ({detail.layers.length})
          </Title>
          <LayerHistoryTable history={detail.history} layers={detail.layers} />
        </section>
      )}

      {detail.layers.length > 0 && detail.artifactType && (
        <section aria-label="Artifact files">
          <Title order={3} fz="md" mb="xs">
            Files ({detail.layers.length})
          </Title>
          <DescriptorTable
            rows={detail.layers}
            label="Artifact files"
            extra={(row) => (
              <DownloadLink
                href={adminPaths.content(detail.repository, row.digest, detail.digest)}
                label="Download"
                what={row.annotations?.['org.opencontainers.image.title'] ?? shortDigest(row.digest)}
              />
            )}
          />
        </section>
      )}

      <section aria-label="Referrers">
        <Title order={3} fz="md" mb="xs">
          Referrers
        </Title>
        {detail.referrers.length === 0 ? (
          <Text size="sm" c="dimmed">
            No signatures, SBOMs or attestations refer to this {detail.artifactType ? 'artifact' : 'image'}.
          </Text>
        ) : (
          <DescriptorTable
            rows={detail.referrers}
            label="Referrers"
            extra={(row) => (
              <Group gap={4} wrap="nowrap" justify="flex-end">
                <Button component={Link} href={linkTo(row.digest)} variant="default" size="compact-xs" aria-label={`Open referrer ${shortDigest(row.digest)}`}>
                  Open
                </Button>
                <DownloadLink href={adminPaths.content(detail.repository, row.digest)} label="Download" what={`referrer ${shortDigest(row.digest)}`} />
              </Group>
            )}
          />
        )}
      </section>

      {detail.annotations && Object.keys(detail.annotations).length > 0 && (
        <section aria-label="Annotations">
          <Title order={3} fz="md" mb="xs">
            Annotations
          </Title>
          <KeyValues entries={Object.entries(detail.annotations)} />
        </section>
      )}

      <Group gap="sm" pt="sm" style={{ borderTop: '1px solid var(--mantine-color-default-border)' }}>
        <DownloadLink href={adminPaths.content(detail.repository, detail.digest)} label="Download manifest" what={shortDigest(detail.digest)} />
        <PinToggle repository={detail.repository} reference={detail.reference} />
        {onDeleteTag && (
          <Button variant="light" color="red" leftSection={<IconTrash size={16} />} onClick={onDeleteTag}>
            Delete tag
          </Button>
        )}
        <Button variant="subtle" color="red" onClick={onDeleteManifest}>
          {detail.tags.length > 0 ? `Delete ${detail.artifactType ? 'artifact' : 'image'} and all its tags` : `Delete this ${detail.artifactType ? 'artifact' : 'manifest'}`}
        </Button>
      </Group>
    </Stack>
  );
}

export interface ManifestDrawerProps {
  repository: string;
  /** The open tag or digest; undefined: closed. */
  reference: string | undefined;
  /** Bumped by the page when a live event says this repository changed. */
  version: number;
  linkTo: (digest: string) => string;
  back?: { href: string; label: string };
  onClose: () => void;
  onDeleteTag: (tag: string) => void;
  onDeleteManifest: (detail: ManifestDetail) => void;
}

/** A tag's or digest's manifest, config, layer history, platforms and referrers, beside the tag list. */
export function ManifestDrawer({ repository, reference, version, linkTo, back, onClose, onDeleteTag, onDeleteManifest }: ManifestDrawerProps) {
  const detail = useResource(
    (signal) => (reference ? api.get<ManifestDetail>(adminPaths.manifest(repository, reference), undefined, signal) : Promise.resolve(undefined)),
    `${repository}:${reference ?? ''}:${version}`,
  );
  const byDigest = reference?.includes(':') ?? false;
  const title = reference === undefined ? repository : byDigest ? `${repository}@${shortDigest(reference, 12)}` : `${repository}:${reference}`;
  return (
    <Drawer
      opened={reference !== undefined}
      onClose={onClose}
      position="right"
      size="xl"
      title={
        <Text fw={700} fz="lg" className="berth-break">
          {title}
        </Text>
      }
      closeButtonProps={{ 'aria-label': 'Close details' }}
    >
      {detail.error instanceof ApiError && detail.error.code === 'BERTH_MANIFEST_NOT_FOUND' ? (
        <Stack gap="sm" align="flex-start">
          <Text>
            There is no {byDigest ? 'manifest' : 'tag'} “{byDigest && reference ? shortDigest(reference, 16) : reference}” in {repository} any more: it was deleted
            or moved, or the address is mistyped.
          </Text>
          <Button variant="default" onClick={onClose}>
            Back to the tags
          </Button>
        </Stack>
      ) : detail.error !== undefined ? (
        <LoadError error={detail.error} onRetry={detail.reload} />
      ) : !detail.data || detail.data.reference !== reference ? (
        <Group justify="center" py="xl">
          <Loader aria-label="Loading image details" />
        </Group>
      ) : (
        <DetailBody
          detail={detail.data}
          linkTo={linkTo}
          back={back}
          onDeleteTag={byDigest ? undefined : () => reference && onDeleteTag(reference)}
          onDeleteManifest={() => detail.data && onDeleteManifest(detail.data)}
        />
      )}
    </Drawer>
  );
}
