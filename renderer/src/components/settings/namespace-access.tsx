import { Button, Group, Switch, Table, Text, TextInput } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { api } from '../../api/client.js';
import { adminPaths, adminRoutes, type CreateNamespaceRequest, type Namespace } from '../../api/contract.js';
import { ErrorAlert } from '../error-alert.js';
import { RelativeTime } from '../relative-time.js';
import { columnPriority, ResponsiveTable } from '../responsive-table.js';

const namePattern = /^[a-z0-9]+([._-][a-z0-9]+)*$/;

function AccessSwitch({ namespace, onChanged }: { namespace: Namespace; onChanged: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const toggle = async (anonymousPull: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      await api.patch<Namespace>(adminPaths.namespace(namespace.name), { anonymousPull });
      onChanged();
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  };
  // The switch's name stays "Anonymous pull for team" whatever its state; the words beside it say the state, so they
  // are not its label (a label that changes with the state would also not match the name: WCAG 2.5.3).
  return (
    <>
      <Group gap="xs" wrap="nowrap">
        <Switch
          checked={namespace.anonymousPull}
          disabled={busy}
          onChange={(event) => void toggle(event.currentTarget.checked)}
          aria-label={`Anonymous pull for ${namespace.name}`}
        />
        <Text size="sm" aria-hidden="true">
          {namespace.anonymousPull ? 'Anyone can pull' : 'Token needed'}
        </Text>
      </Group>
      {error !== undefined && <ErrorAlert error={error} />}
    </>
  );
}

/** Namespaces with their anonymous-pull switch, and a small form to add one ahead of the first push. */
export function NamespaceAccess({ namespaces, onChanged }: { namespaces: Namespace[]; onChanged: () => void }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const invalid = name !== '' && !namePattern.test(name);
  const create = async (event: FormEvent) => {
    event.preventDefault();
    if (!namePattern.test(name)) return;
    setBusy(true);
    setError(undefined);
    try {
      const body: CreateNamespaceRequest = { name, anonymousPull: false };
      await api.post<Namespace>(adminRoutes.namespaces, body);
      setName('');
      onChanged();
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      {namespaces.length === 0 ? (
        <Text size="sm" c="dimmed" mb="md">
          No namespaces yet. A push to <code>team/app</code> creates the namespace <code>team</code>; or add one here first.
        </Text>
      ) : (
        <ResponsiveTable label="Namespaces">
          <Table verticalSpacing="sm" aria-label="Namespaces">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Namespace</Table.Th>
                <Table.Th ta="right">Repositories</Table.Th>
                <Table.Th className={columnPriority.medium}>Created</Table.Th>
                <Table.Th>Anonymous pull</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {namespaces.map((namespace) => (
                <Table.Tr key={namespace.name}>
                  <Table.Td fw={600}>{namespace.name}</Table.Td>
                  <Table.Td ta="right" className="berth-nums">
                    {namespace.repositories}
                  </Table.Td>
                  <Table.Td fz="sm" className={columnPriority.medium}>
                    <RelativeTime value={namespace.createdAt} />
                  </Table.Td>
                  <Table.Td>
                    <AccessSwitch namespace={namespace} onChanged={onChanged} />
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </ResponsiveTable>
      )}
      <form onSubmit={(event) => void create(event)} noValidate>
        <Group align="flex-start" mt="md" gap="sm">
          <TextInput
            label="New namespace"
            placeholder="team"
            value={name}
            onChange={(event) => setName(event.currentTarget.value.toLowerCase())}
            error={invalid ? 'Lowercase letters, digits and . _ -' : undefined}
            w={220}
          />
          <Button type="submit" variant="light" mt={25} loading={busy} disabled={name === '' || invalid}>
            Add namespace
          </Button>
        </Group>
        {error !== undefined && <ErrorAlert error={error} />}
      </form>
    </>
  );
}
