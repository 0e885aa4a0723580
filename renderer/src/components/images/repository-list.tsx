import { Anchor, Badge, Group, Table, Text } from '@mantine/core';
import type { RepositorySummary } from '../../api/contract.js';
import { formatBytes, formatCount } from '../../format.js';
import { hrefFor, Link } from '../../router.js';
import { IconChevronRight } from '../icons.js';
import { RelativeTime } from '../relative-time.js';
import { columnPriority, ResponsiveTable } from '../responsive-table.js';

/** Mirrored (an upstream's namespace) or pushed here: the badge says which, and from where. */
export function SourceBadge({ repository }: { repository: Pick<RepositorySummary, 'source' | 'upstream'> }) {
  return repository.source === 'mirror' ? (
    <Badge variant="light" color="teal" tt="none" title={`Pulled through or synced from the upstream “${repository.upstream ?? ''}”`}>
      Mirror of {repository.upstream}
    </Badge>
  ) : (
    <Badge variant="light" color="blue" tt="none" title="Pushed to Berth by a client">
      Pushed
    </Badge>
  );
}

/** Repositories as a table; the name is a real link to the repository's page. */
export function RepositoryList({ repositories }: { repositories: RepositorySummary[] }) {
  return (
    <ResponsiveTable label="Repositories">
      <Table highlightOnHover verticalSpacing="sm" aria-label="Repositories">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Repository</Table.Th>
            <Table.Th className={columnPriority.medium}>Source</Table.Th>
            <Table.Th ta="right">Tags</Table.Th>
            <Table.Th ta="right">Size</Table.Th>
            <Table.Th className={columnPriority.low}>Last push</Table.Th>
            <Table.Th ta="right" className={columnPriority.medium}>
              Pulls (7 days)
            </Table.Th>
            <Table.Th w={32} aria-hidden="true" />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {repositories.map((repository) => (
            <Table.Tr key={repository.name}>
              <Table.Td>
                <Anchor component={Link} href={hrefFor('images', repository.name.split('/'))} fw={600} className="berth-break">
                  {repository.name}
                </Anchor>
              </Table.Td>
              <Table.Td className={columnPriority.medium}>
                <SourceBadge repository={repository} />
              </Table.Td>
              <Table.Td ta="right" className="berth-nums">
                {formatCount(repository.tagCount)}
              </Table.Td>
              <Table.Td ta="right" className="berth-nums">
                {formatBytes(repository.size)}
              </Table.Td>
              <Table.Td c="dimmed" fz="sm" className={columnPriority.low}>
                <RelativeTime value={repository.lastPushedAt} />
              </Table.Td>
              <Table.Td ta="right" className={`berth-nums ${columnPriority.medium}`}>
                {formatCount(repository.pullsLast7Days)}
              </Table.Td>
              <Table.Td>
                <Group justify="flex-end">
                  <Text c="dimmed" component="span" aria-hidden="true">
                    <IconChevronRight size={16} />
                  </Text>
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </ResponsiveTable>
  );
}
