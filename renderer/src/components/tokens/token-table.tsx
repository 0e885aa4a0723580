import { Badge, Button, Group, Table, Text } from '@mantine/core';
import type { TokenView } from '../../api/contract.js';
import { RelativeTime } from '../relative-time.js';
import { columnPriority, ResponsiveTable } from '../responsive-table.js';

const statusColors: Record<TokenView['status'], string> = { active: 'teal', expired: 'gray', revoked: 'red' };

export function TokenTable({ tokens, onRevoke }: { tokens: TokenView[]; onRevoke: (token: TokenView) => void }) {
  return (
    <ResponsiveTable label="Access tokens">
      <Table verticalSpacing="sm" highlightOnHover aria-label="Access tokens">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Scopes</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th className={columnPriority.low}>Created</Table.Th>
            <Table.Th>Expires</Table.Th>
            <Table.Th className={columnPriority.medium}>Last used</Table.Th>
            <Table.Th ta="right">
              <span className="sr-only">Actions</span>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {tokens.map((token) => (
            <Table.Tr key={token.id} opacity={token.status === 'active' ? 1 : 0.65}>
              <Table.Td fw={600} className="berth-break">
                {token.name}
              </Table.Td>
              <Table.Td>
                <Group gap={4}>
                  {token.scopeText.map((scope) => (
                    <Badge key={scope} variant="light" color="gray" tt="none" fw={500} className="berth-mono">
                      {scope}
                    </Badge>
                  ))}
                </Group>
              </Table.Td>
              <Table.Td>
                <Badge variant="light" color={statusColors[token.status]}>
                  {token.status}
                </Badge>
              </Table.Td>
              <Table.Td fz="sm" className={columnPriority.low}>
                <RelativeTime value={token.createdAt} />
              </Table.Td>
              <Table.Td fz="sm">
                {token.status === 'revoked' ? (
                  <Text size="sm" c="dimmed">
                    revoked <RelativeTime value={token.revokedAt} />
                  </Text>
                ) : (
                  <RelativeTime value={token.expiresAt} fallback="never" />
                )}
              </Table.Td>
              <Table.Td fz="sm" className={columnPriority.medium}>
                <RelativeTime value={token.lastUsedAt} fallback="never used" />
              </Table.Td>
              <Table.Td ta="right">
                {token.status !== 'revoked' && (
                  <Button size="xs" variant="subtle" color="red" onClick={() => onRevoke(token)} aria-label={`Revoke ${token.name}`}>
                    Revoke
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
