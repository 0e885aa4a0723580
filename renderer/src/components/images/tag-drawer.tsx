import { Accordion, Badge, Button, Code, Drawer, Group, Loader, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import type { ReactNode } from 'react';
import { api, ApiError } from '../../api/client.js';
import { adminPaths, type DescriptorView, type ManifestDetail } from '../../api/contract.js';
import { useResource } from '../../api/use-resource.js';
import { useAppInfo } from '../../app-context.js';
import { formatBytes, formatExact, shortDigest } from '../../format.js';
import { CodeSnippet, InlineCode } from '../code-snippet.js';
import { LoadError } from '../error-alert.js';
import { IconTrash } from '../icons.js';
import { columnPriority, ResponsiveTable } from '../responsive-table.js';
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

/** Media types are long; the last part says enough (`…image.layer.v1.tar+gzip`). */
function shortMediaType(mediaType: string): string {
  const slash = mediaType.lastIndexOf('/');
  return slash === -1 ? mediaType : mediaType.slice(slash + 1);
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
            {extra && <Table.Th />}
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
              {extra && <Table.Td>{extra(row)}</Table.Td>}
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
        <Fact label="Created">{config.created ? formatExact(config.created) : '—'}</Fact>
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

function DetailBody({ detail, onDeleteTag, onDeleteManifest }: { detail: ManifestDetail; onDeleteTag: () => void; onDeleteManifest: () => void }) {
  const { registryHost } = useAppInfo();
  const pull = `docker pull ${registryHost}/${detail.repository}:${detail.reference}`;
  return (
    <Stack gap="lg">
      <CodeSnippet code={pull} label="Pull" copyLabel="Copy pull command" />
      <SimpleGrid cols={2} spacing="md">
        <Fact label="Digest">
          <InlineCode code={detail.digest} copyLabel="Copy digest" />
        </Fact>
        <Fact label="Size">
          <Text fw={600}>{formatBytes(detail.size)}</Text>
        </Fact>
        <Fact label="Kind">
          <Text size="sm">{detail.isIndex ? 'Multi-platform index' : 'Image manifest'}</Text>
          <Text size="xs" c="dimmed" className="berth-break">
            {detail.mediaType}
          </Text>
        </Fact>
        <Fact label="Platforms">
          <PlatformBadges platforms={detail.platforms} max={8} />
        </Fact>
        <Fact label="Tags on this digest">
          <Group gap={4}>
            {detail.tags.map((tag) => (
              <Badge key={tag} variant="light" tt="none">
                {tag}
              </Badge>
            ))}
          </Group>
        </Fact>
      </SimpleGrid>

      {detail.isIndex && detail.children.length > 0 && (
        <section aria-label="Platform manifests">
          <Title order={3} fz="md" mb="xs">
            Platform manifests
          </Title>
          <DescriptorTable
            rows={detail.children}
            label="Platform manifests"
            extra={(row) => {
              const child = detail.children.find((entry) => entry.digest === row.digest);
              return (
                <Group gap={4} wrap="nowrap">
                  <Text size="xs">{child?.platform ?? '—'}</Text>
                  {child && !child.present && (
                    <Badge size="xs" color="gray" variant="light" title="Not stored here: only some platforms were mirrored">
                      not stored
                    </Badge>
                  )}
                </Group>
              );
            }}
          />
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

      {detail.layers.length > 0 && (
        <section aria-label="Layers">
          <Title order={3} fz="md" mb="xs">
            Layers ({detail.layers.length})
          </Title>
          <DescriptorTable rows={detail.layers} label="Layers" />
        </section>
      )}

      <section aria-label="Referrers">
        <Title order={3} fz="md" mb="xs">
          Referrers
        </Title>
        {detail.referrers.length === 0 ? (
          <Text size="sm" c="dimmed">
            No signatures, SBOMs or attestations refer to this image.
          </Text>
        ) : (
          <DescriptorTable rows={detail.referrers} label="Referrers" />
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
        <Button variant="light" color="red" leftSection={<IconTrash size={16} />} onClick={onDeleteTag}>
          Delete tag
        </Button>
        <Button variant="subtle" color="red" onClick={onDeleteManifest}>
          Delete image and all its tags
        </Button>
      </Group>
    </Stack>
  );
}

export interface TagDrawerProps {
  repository: string;
  tag: string | undefined;
  /** Bumped by the page when a live event says this repository changed. */
  version: number;
  onClose: () => void;
  onDeleteTag: (tag: string) => void;
  onDeleteManifest: (detail: ManifestDetail) => void;
}

/** A tag's manifest, config, layers and referrers, beside the tag list. */
export function TagDrawer({ repository, tag, version, onClose, onDeleteTag, onDeleteManifest }: TagDrawerProps) {
  const detail = useResource(
    (signal) => (tag ? api.get<ManifestDetail>(adminPaths.manifest(repository, tag), undefined, signal) : Promise.resolve(undefined)),
    `${repository}:${tag ?? ''}:${version}`,
  );
  return (
    <Drawer
      opened={tag !== undefined}
      onClose={onClose}
      position="right"
      size="xl"
      title={
        <Text fw={700} fz="lg" className="berth-break">
          {repository}:{tag}
        </Text>
      }
      closeButtonProps={{ 'aria-label': 'Close details' }}
    >
      {detail.error instanceof ApiError && detail.error.code === 'BERTH_MANIFEST_NOT_FOUND' ? (
        <Stack gap="sm" align="flex-start">
          <Text>
            There is no tag “{tag}” in {repository} any more: it was deleted or moved, or the address is mistyped.
          </Text>
          <Button variant="default" onClick={onClose}>
            Back to the tags
          </Button>
        </Stack>
      ) : detail.error !== undefined ? (
        <LoadError error={detail.error} onRetry={detail.reload} />
      ) : !detail.data || detail.data.reference !== tag ? (
        <Group justify="center" py="xl">
          <Loader aria-label="Loading image details" />
        </Group>
      ) : (
        <DetailBody
          detail={detail.data}
          onDeleteTag={() => tag && onDeleteTag(tag)}
          onDeleteManifest={() => detail.data && onDeleteManifest(detail.data)}
        />
      )}
    </Drawer>
  );
}
