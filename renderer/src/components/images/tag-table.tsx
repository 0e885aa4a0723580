import { ActionIcon, Anchor, Group, Table, Text, Tooltip } from '@mantine/core';
import type { TagSummary } from '../../api/contract.js';
import { useAppInfo } from '../../app-context.js';
import { formatBytes, formatCount, shortDigest } from '../../format.js';
import { Link } from '../../router.js';
import { CopyIconButton } from '../copy-button.js';
import { IconPin, IconTrash } from '../icons.js';
import { RelativeTime } from '../relative-time.js';
import { columnPriority, ResponsiveTable } from '../responsive-table.js';
import { PlatformBadges } from './platform-badges.js';

export interface TagTableProps {
  repository: string;
  tags: TagSummary[];
  /** The address that opens a tag's details (keeps the page's filter and order). */
  linkFor: (tag: string) => string;
  onDelete: (tag: TagSummary) => void;
  /** Tags pinned (retention never removes them), and the pin toggle; no toggle without it. */
  pinned?: ReadonlySet<string>;
  onTogglePin?: (tag: TagSummary) => void;
}

/**
 * Tags of one repository: open details, copy the pull command, delete. A tag's name is a link to its details (a
 * real URL, so it opens in a new tab too); digest, platforms, dates and pulls give way on narrow screens, the details show them.
 */
export function TagTable({ repository, tags, linkFor, onDelete, pinned, onTogglePin }: TagTableProps) {
  const { registryHost } = useAppInfo();
  return (
    <ResponsiveTable label={`Tags of ${repository}`}>
      <Table highlightOnHover verticalSpacing="sm" aria-label={`Tags of ${repository}`}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Tag</Table.Th>
            <Table.Th className={columnPriority.low}>Digest</Table.Th>
            <Table.Th ta="right">Size</Table.Th>
            <Table.Th className={columnPriority.medium}>Platforms</Table.Th>
            <Table.Th className={columnPriority.low}>Created</Table.Th>
            <Table.Th className={columnPriority.medium}>Pushed</Table.Th>
            <Table.Th className={columnPriority.medium}>Last pull</Table.Th>
            <Table.Th ta="right" className={columnPriority.low}>
              Pulls
            </Table.Th>
            <Table.Th ta="right">Actions</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {tags.map((tag) => (
            <Table.Tr key={tag.tag}>
              <Table.Td>
                <Anchor component={Link} href={linkFor(tag.tag)} fw={600} className="berth-break">
                  {tag.tag}
                </Anchor>
              </Table.Td>
              <Table.Td className={columnPriority.low}>
                <Text size="xs" className="berth-mono" title={tag.digest}>
                  {shortDigest(tag.digest)}
                </Text>
              </Table.Td>
              <Table.Td ta="right" className="berth-nums">
                {formatBytes(tag.size)}
              </Table.Td>
              <Table.Td className={columnPriority.medium}>
                <PlatformBadges platforms={tag.platforms} max={3} />
              </Table.Td>
              <Table.Td c="dimmed" fz="sm" className={columnPriority.low}>
                <RelativeTime value={tag.createdAt} />
              </Table.Td>
              <Table.Td c="dimmed" fz="sm" className={columnPriority.medium}>
                <RelativeTime value={tag.pushedAt} />
              </Table.Td>
              <Table.Td c="dimmed" fz="sm" className={columnPriority.medium}>
                <RelativeTime value={tag.lastPulledAt} fallback="Never" />
              </Table.Td>
              <Table.Td ta="right" className={`berth-nums ${columnPriority.low}`}>
                {formatCount(tag.pullCount)}
              </Table.Td>
              <Table.Td>
                <Group gap={2} justify="flex-end" wrap="nowrap">
                  <CopyIconButton value={`docker pull ${registryHost}/${repository}:${tag.tag}`} label={`Copy pull command for ${tag.tag}`} />
                  {onTogglePin && (
                    <Tooltip label={pinned?.has(tag.tag) ? 'Pinned: retention keeps it (click to unpin)' : 'Pin: retention never removes it'}>
                      <ActionIcon
                        variant={pinned?.has(tag.tag) ? 'light' : 'subtle'}
                        color={pinned?.has(tag.tag) ? 'blue' : 'gray'}
                        aria-label={`Pin ${tag.tag}`}
                        aria-pressed={pinned?.has(tag.tag) ?? false}
                        onClick={() => onTogglePin(tag)}
                      >
                        <IconPin size={16} />
                      </ActionIcon>
                    </Tooltip>
                  )}
                  <Tooltip label="Delete tag">
                    <ActionIcon variant="subtle" color="red" aria-label={`Delete tag ${tag.tag}`} onClick={() => onDelete(tag)}>
                      <IconTrash size={16} />
                    </ActionIcon>
                  </Tooltip>
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </ResponsiveTable>
  );
}
