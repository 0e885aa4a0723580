import { Button, Group, NumberInput, Select, Text } from '@mantine/core';
import { useEffect, useState } from 'react';
import { api } from '../../api/client.js';
import { adminRoutes, type TrashDaysRequest, type TrashDaysResponse } from '../../api/contract.js';
import { useResource } from '../../api/use-resource.js';
import { ErrorAlert, LoadError } from '../error-alert.js';
import { SectionCard } from '../section-card.js';

/** Ten years, as the server allows (lifecycle/trash-days.ts). */
const maxDays = 3650;

/**
 * How long each namespace's deletes stay restorable (`berth trash days NAMESPACE N`): entries already in the trash
 * keep the expiry they were given.
 */
export function TrashDaysForm() {
  const [version, setVersion] = useState(0);
  const settings = useResource((signal) => api.get<TrashDaysResponse>(adminRoutes.trashDays, undefined, signal), `trash-days:${version}`);
  const [namespace, setNamespace] = useState<string | null>(null);
  const [days, setDays] = useState<number | string>('');
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState<string>();
  const [error, setError] = useState<unknown>();
  const namespaces = settings.data?.namespaces ?? [];
  const current = namespaces.find((entry) => entry.namespace === namespace);

  useEffect(() => {
    if (namespace === null && namespaces[0]) setNamespace(namespaces[0].namespace);
  }, [namespace, namespaces]);
  useEffect(() => {
    if (current) setDays(current.days);
  }, [current?.namespace, current?.days]);

  const save = async () => {
    if (namespace === null || typeof days !== 'number') return;
    setSaving(true);
    setSaved(undefined);
    setError(undefined);
    try {
      const body: TrashDaysRequest = { namespace, days };
      await api.put<TrashDaysRequest>(adminRoutes.trashDays, body);
      setSaved(`Deletes in ${namespace} now stay restorable for ${days} day${days === 1 ? '' : 's'}.`);
      setVersion((value) => value + 1);
    } catch (reason) {
      setError(reason);
    } finally {
      setSaving(false);
    }
  };

  return (
    <SectionCard title="How long deletes stay" description="Per namespace. 0 frees a delete at the next garbage collection; entries already in the trash keep their expiry.">
      {settings.error !== undefined ? (
        <LoadError error={settings.error} onRetry={settings.reload} />
      ) : namespaces.length === 0 ? (
        <Text size="sm" c="dimmed">
          No namespaces yet: the first push to one creates it.
        </Text>
      ) : (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void save();
          }}
        >
          <Group align="flex-end" gap="sm">
            <Select label="Namespace" data={namespaces.map((entry) => entry.namespace)} value={namespace} onChange={setNamespace} allowDeselect={false} w={220} />
            <NumberInput label="Days in the trash" min={0} max={maxDays} allowDecimal={false} value={days} onChange={setDays} w={160} />
            <Button type="submit" loading={saving} disabled={typeof days !== 'number' || days === current?.days}>
              Save
            </Button>
          </Group>
          {current?.isDefault && (
            <Text size="xs" c="dimmed" mt={4}>
              {current.namespace} uses the default, {settings.data?.defaultDays} days.
            </Text>
          )}
        </form>
      )}
      {saved && (
        <Text size="sm" mt="sm" role="status">
          {saved}
        </Text>
      )}
      {error !== undefined && <ErrorAlert error={error} />}
    </SectionCard>
  );
}
