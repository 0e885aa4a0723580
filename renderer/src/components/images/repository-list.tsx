import { Anchor, Badge, Group, Table, Text } from '@mantine/core';
import type { RepositorySummary } from '../../api/contract.js';
import { formatCount } from '../../format.js';
import { hrefFor, Link } from '../../router.js';
import { IconChevronRight } from '../icons.js';
import { ResponsiveTable } from '../responsive-table.js';

/** Repositories as a table; the name is a real link to the repository's page. */
export function RepositoryList({ repositories }: { repositories: RepositorySummary[] }) {
  return (
    <ResponsiveTable label="Repositories">
      <Table highlightOnHover verticalSpacing="sm" aria-label="Repositories">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Repository</Table.Th>
            <Table.Th>Namespace</Table.Th>
            <Table.Th ta="right">Tags</Table.Th>
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
              <Table.Td>
                <Badge variant="light" color="gray" tt="none">
                  {repository.namespace}
                </Badge>
              </Table.Td>
              <Table.Td ta="right" className="berth-nums">
                {formatCount(repository.tagCount)}
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
