import { ActionIcon, Anchor, Badge, Group, Table, Text, Tooltip } from '@mantine/core';
import type { UntaggedManifest, UntaggedRole } from '../../api/contract.js';
import { formatBytes, shortDigest } from '../../format.js';
import { Link } from '../../router.js';
import { IconTrash } from '../icons.js';
import { RelativeTime } from '../relative-time.js';
import { columnPriority, ResponsiveTable } from '../responsive-table.js';
import { PlatformBadges } from './platform-badges.js';
import { shortMediaType } from './media-type.js';

const roleLabels: Record<UntaggedRole, { label: string; color: string; title: string }> = {
  platform: { label: 'Platform of an index', color: 'blue', title: 'One platform of a multi-platform image; pulled through its index' },
  referrer: { label: 'Referrer', color: 'grape', title: 'A signature, SBOM or attestation attached to another manifest' },
  untagged: { label: 'Untagged', color: 'gray', title: 'No tag points at it: pullable by digest only' },
};

export interface UntaggedTableProps {
  repository: string;
  manifests: UntaggedManifest[];
  linkFor: (digest: string) => string;
  onDelete: (manifest: UntaggedManifest) => void;
}

/** Manifests no tag points at: what each is, how big, when it came; open by digest, delete. */
export function UntaggedTable({ repository, manifests, linkFor, onDelete }: UntaggedTableProps) {
  return (
    <ResponsiveTable label={`Untagged manifests of ${repository}`}>
      <Table highlightOnHover verticalSpacing="sm" aria-label={`Untagged manifests of ${repository}`}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Digest</Table.Th>
            <Table.Th>Kind</Table.Th>
            <Table.Th className={columnPriority.low}>Type</Table.Th>
            <Table.Th ta="right">Size</Table.Th>
            <Table.Th className={columnPriority.medium}>Pushed</Table.Th>
            <Table.Th ta="right">Actions</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {manifests.map((manifest) => {
            const role = roleLabels[manifest.role];
            return (
              <Table.Tr key={manifest.digest}>
                <Table.Td>
                  <Anchor component={Link} href={linkFor(manifest.digest)} fw={600} className="berth-mono" title={manifest.digest}>
                    {shortDigest(manifest.digest)}
                  </Anchor>
                </Table.Td>
                <Table.Td>
                  <Badge variant="light" color={role.color} tt="none" title={role.title}>
                    {role.label}
                  </Badge>
                </Table.Td>
                <Table.Td className={columnPriority.low}>
                  {manifest.platforms.length > 0 ? (
                    <PlatformBadges platforms={manifest.platforms} max={2} />
                  ) : (
                    <Text size="xs" title={manifest.artifactType ?? manifest.mediaType}>
                      {shortMediaType(manifest.artifactType ?? manifest.mediaType)}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td ta="right" className="berth-nums">
                  {formatBytes(manifest.size)}
                </Table.Td>
                <Table.Td c="dimmed" fz="sm" className={columnPriority.medium}>
                  <RelativeTime value={manifest.pushedAt} />
                </Table.Td>
                <Table.Td>
                  <Group justify="flex-end" wrap="nowrap">
                    <Tooltip label="Delete manifest">
                      <ActionIcon variant="subtle" color="red" aria-label={`Delete manifest ${shortDigest(manifest.digest)}`} onClick={() => onDelete(manifest)}>
                        <IconTrash size={16} />
                      </ActionIcon>
                    </Tooltip>
                  </Group>
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </ResponsiveTable>
  );
}
