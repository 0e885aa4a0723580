import { Badge, Button, Table, Text } from '@mantine/core';
import type { TrashEntryView } from '../../api/contract.js';
import { formatBytes, shortDigest } from '../../format.js';
import { RelativeTime } from '../relative-time.js';
import { columnPriority, ResponsiveTable } from '../responsive-table.js';

/** `team/app:1`, `team/app@sha256:abcdef012345 (1, latest)`, `team/app (whole repository)`: what a delete took. */
export function trashEntryName(entry: TrashEntryView): string {
  switch (entry.deleted.kind) {
    case 'tag':
      return `${entry.repository}:${entry.deleted.tag}`;
    case 'manifest': {
      const tags = entry.manifests[0]?.tags ?? [];
      return `${entry.repository}@${shortDigest(entry.deleted.digest)}${tags.length > 0 ? ` (${tags.join(', ')})` : ''}`;
    }
    case 'repository':
      return `${entry.repository} (whole repository)`;
  }
}

function contents(entry: TrashEntryView): string {
  if (entry.deleted.kind === 'tag') return 'the tag only (its image stays pullable by digest)';
  if (entry.deleted.kind === 'repository') return `${entry.manifests.length} manifest${entry.manifests.length === 1 ? '' : 's'}`;
  const referrers = entry.manifests.length - 1;
  return referrers > 0 ? `image and ${referrers} referrer${referrers === 1 ? '' : 's'} (signatures, SBOMs)` : 'image';
}

export function TrashTable({ entries, onRestore }: { entries: TrashEntryView[]; onRestore: (entry: TrashEntryView) => void }) {
  return (
    <ResponsiveTable label="Trash">
      <Table verticalSpacing="sm" highlightOnHover aria-label="Deleted images">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Deleted</Table.Th>
            <Table.Th className={columnPriority.medium}>What</Table.Th>
            <Table.Th className={columnPriority.low}>Manifest size</Table.Th>
            <Table.Th>When</Table.Th>
            <Table.Th>Expires</Table.Th>
            <Table.Th ta="right">
              <span className="sr-only">Actions</span>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {entries.map((entry) => (
            <Table.Tr key={entry.id} opacity={entry.expired ? 0.65 : 1}>
              <Table.Td fw={600} className="berth-break berth-mono">
                {trashEntryName(entry)}
              </Table.Td>
              <Table.Td fz="sm" className={columnPriority.medium}>
                {contents(entry)}
              </Table.Td>
              <Table.Td fz="sm" className={columnPriority.low}>
                {formatBytes(entry.manifests.reduce((sum, manifest) => sum + manifest.size, 0))}
              </Table.Td>
              <Table.Td fz="sm">
                <RelativeTime value={entry.deletedAt} />{' '}
                <Text span size="sm" c="dimmed">
                  by {entry.deletedBy}
                </Text>
              </Table.Td>
              <Table.Td fz="sm">
                {entry.expired ? (
                  <Badge variant="light" color="gray">
                    expired
                  </Badge>
                ) : (
                  <RelativeTime value={entry.expiresAt} />
                )}
              </Table.Td>
              <Table.Td ta="right">
                {!entry.expired && (
                  <Button size="xs" variant="light" onClick={() => onRestore(entry)} aria-label={`Restore ${trashEntryName(entry)}`}>
                    Restore
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </ResponsiveTable>
  );
}
