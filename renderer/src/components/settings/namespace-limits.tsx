import { Button, Group, Modal, Progress, Stack, Table, TagsInput, Text, TextInput } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { api } from '../../api/client.js';
import { adminPaths, type Namespace, type SetImmutableTagsRequest, type SetQuotaRequest } from '../../api/contract.js';
import { formatBytes, parseSize } from '../../format.js';
import { ErrorAlert } from '../error-alert.js';
import { columnPriority, ResponsiveTable } from '../responsive-table.js';

/** Storage used against the quota: a bar when there is one, the figure alone otherwise. */
export function StorageUsage({ namespace }: { namespace: Namespace }) {
  const used = namespace.usage.storageBytes;
  const limit = namespace.quota.storageBytes;
  if (limit === undefined) return <Text size="sm" className="berth-nums">{formatBytes(used)}</Text>;
  const share = Math.min(100, (used / limit) * 100);
  const label = `${formatBytes(used)} of ${formatBytes(limit)}`;
  return (
    <Stack gap={4} miw={140}>
      {/* The section carries role="progressbar": its name goes there, not on the root. */}
      <Progress.Root>
        <Progress.Section value={share} color={share >= 100 ? 'red' : share >= 80 ? 'orange' : 'teal'} aria-label={`Storage of ${namespace.name}: ${label}`} />
      </Progress.Root>
      <Text size="xs" className="berth-nums">
        {label}
      </Text>
    </Stack>
  );
}

function LimitsModal({ namespace, onClose, onSaved }: { namespace: Namespace; onClose: () => void; onSaved: () => void }) {
  const [storage, setStorage] = useState(namespace.quota.storageBytes === undefined ? '' : formatBytes(namespace.quota.storageBytes).replace(' ', ''));
  const [pulls, setPulls] = useState(namespace.quota.pullBytesPerMonth === undefined ? '' : formatBytes(namespace.quota.pullBytesPerMonth).replace(' ', ''));
  const [patterns, setPatterns] = useState<string[]>(namespace.immutableTags);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  /** Blank is no limit; anything else must be a size. */
  const sizeOf = (text: string) => (text.trim() === '' ? null : parseSize(text));
  const storageBytes = sizeOf(storage);
  const pullBytes = sizeOf(pulls);
  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (storageBytes === undefined || pullBytes === undefined) return;
    setBusy(true);
    setError(undefined);
    try {
      const quota: SetQuotaRequest = { storageBytes, pullBytesPerMonth: pullBytes };
      await api.put<Namespace>(adminPaths.namespaceQuota(namespace.name), quota);
      const immutable: SetImmutableTagsRequest = { patterns };
      await api.put<Namespace>(adminPaths.namespaceImmutableTags(namespace.name), immutable);
      onSaved();
      onClose();
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal opened onClose={onClose} title={`Limits of ${namespace.name}`}>
      <form onSubmit={(event) => void save(event)} noValidate>
        <Stack gap="sm">
          <TextInput
            label="Storage quota"
            description={`Unique bytes its images may use (now ${formatBytes(namespace.usage.storageBytes)}). A push past it is refused. Blank: no limit.`}
            placeholder="10GiB"
            value={storage}
            onChange={(event) => setStorage(event.currentTarget.value)}
            error={storageBytes === undefined ? 'A size such as 10GiB or 500MB' : undefined}
          />
          <TextInput
            label="Pulls per month"
            description={`Bytes that may be pulled each calendar month, UTC (this month ${formatBytes(namespace.usage.pullBytesThisMonth)}). Blank: no limit.`}
            placeholder="100GiB"
            value={pulls}
            onChange={(event) => setPulls(event.currentTarget.value)}
            error={pullBytes === undefined ? 'A size such as 100GiB' : undefined}
          />
          <TagsInput
            label="Immutable tags"
            description="Tag patterns (* matches anything, e.g. v*) that cannot be moved or deleted once pushed."
            placeholder="v*"
            value={patterns}
            onChange={setPatterns}
            splitChars={[',', ' ']}
          />
          {error !== undefined && <ErrorAlert error={error} />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={busy} disabled={storageBytes === undefined || pullBytes === undefined}>
              Save limits
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Each namespace's usage against its quotas and its immutable tag patterns, with a dialog to change them. */
export function NamespaceLimits({ namespaces, onChanged }: { namespaces: Namespace[]; onChanged: () => void }) {
  const [editing, setEditing] = useState<string>();
  const current = namespaces.find((namespace) => namespace.name === editing);
  if (namespaces.length === 0) {
    return (
      <Text size="sm" c="dimmed">
        No namespaces yet: their quotas and immutable tags are set here once a push (or the form above) creates one.
      </Text>
    );
  }
  return (
    <>
      <ResponsiveTable label="Namespace limits">
        <Table verticalSpacing="sm" aria-label="Namespace limits">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Namespace</Table.Th>
              <Table.Th>Storage</Table.Th>
              <Table.Th className={columnPriority.medium}>Pulled this month</Table.Th>
              <Table.Th className={columnPriority.medium}>Immutable tags</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {namespaces.map((namespace) => (
              <Table.Tr key={namespace.name}>
                <Table.Td fw={600}>{namespace.name}</Table.Td>
                <Table.Td>
                  <StorageUsage namespace={namespace} />
                </Table.Td>
                <Table.Td fz="sm" className={`berth-nums ${columnPriority.medium}`}>
                  {formatBytes(namespace.usage.pullBytesThisMonth)}
                  {namespace.quota.pullBytesPerMonth === undefined ? '' : ` of ${formatBytes(namespace.quota.pullBytesPerMonth)}`}
                </Table.Td>
                <Table.Td fz="sm" className={columnPriority.medium}>
                  {namespace.immutableTags.length > 0 ? namespace.immutableTags.join(' ') : '—'}
                </Table.Td>
                <Table.Td ta="right">
                  <Button size="xs" variant="light" onClick={() => setEditing(namespace.name)} aria-label={`Edit limits of ${namespace.name}`}>
                    Edit limits
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </ResponsiveTable>
      {current && <LimitsModal namespace={current} onClose={() => setEditing(undefined)} onSaved={onChanged} />}
    </>
  );
}
