import { ActionIcon, Button, Group, Table, Text, Tooltip } from '@mantine/core';
import type { TagSummary } from '../../api/contract.js';
import { useAppInfo } from '../../app-context.js';
import { formatBytes, shortDigest } from '../../format.js';
import { CopyIconButton } from '../copy-button.js';
import { IconTrash } from '../icons.js';
import { RelativeTime } from '../relative-time.js';
import { PlatformBadges } from './platform-badges.js';

export interface TagTableProps {
  repository: string;
  tags: TagSummary[];
  onOpen: (tag: string) => void;
  onDelete: (tag: TagSummary) => void;
}

/** Tags of one repository: open details, copy the pull command, delete. */
export function TagTable({ repository, tags, onOpen, onDelete }: TagTableProps) {
  const { registryHost } = useAppInfo();
  return (
    <Table.ScrollContainer minWidth={760}>
      <Table highlightOnHover verticalSpacing="sm" aria-label={`Tags of ${repository}`}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Tag</Table.Th>
            <Table.Th>Digest</Table.Th>
            <Table.Th ta="right">Size</Table.Th>
            <Table.Th>Platforms</Table.Th>
            <Table.Th>Created</Table.Th>
            <Table.Th ta="right">Actions</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {tags.map((tag) => (
            <Table.Tr key={tag.tag}>
              <Table.Td>
                <Button variant="subtle" size="compact-sm" fw={600} onClick={() => onOpen(tag.tag)} aria-label={`Details of ${repository}:${tag.tag}`}>
                  {tag.tag}
                </Button>
              </Table.Td>
              <Table.Td>
                <Text size="xs" className="berth-mono" title={tag.digest}>
                  {shortDigest(tag.digest)}
                </Text>
              </Table.Td>
              <Table.Td ta="right" className="berth-nums">
                {formatBytes(tag.size)}
              </Table.Td>
              <Table.Td>
                <PlatformBadges platforms={tag.platforms} max={3} />
              </Table.Td>
              <Table.Td c="dimmed" fz="sm">
                <RelativeTime value={tag.createdAt} />
              </Table.Td>
              <Table.Td>
                <Group gap={2} justify="flex-end" wrap="nowrap">
                  <CopyIconButton value={`docker pull ${registryHost}/${repository}:${tag.tag}`} label={`Copy pull command for ${tag.tag}`} />
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
    </Table.ScrollContainer>
  );
}
