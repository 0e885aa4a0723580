import { Alert, Button, Group, NumberInput, SimpleGrid, Stack } from '@mantine/core';
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../../api/client.js';
import { adminRoutes, type SettingsResponse, type UpdateSettingsRequest, type UpdateSettingsResponse } from '../../api/contract.js';
import { ErrorAlert } from '../error-alert.js';

type Fields = Pick<SettingsResponse, 'gcEveryHours' | 'gcGraceMinutes' | 'auditRetentionDays' | 'defaultTagTtlSeconds'>;

/** The limits the server enforces (registry/admin/routes/settings.ts), shown next to each field. */
const limits: Record<keyof Fields, { min: number; max: number }> = {
  gcEveryHours: { min: 0, max: 720 },
  gcGraceMinutes: { min: 1, max: 10_080 },
  auditRetentionDays: { min: 1, max: 3650 },
  defaultTagTtlSeconds: { min: 0, max: 604_800 },
};

const pick = (settings: SettingsResponse): Fields => ({
  gcEveryHours: settings.gcEveryHours,
  gcGraceMinutes: settings.gcGraceMinutes,
  auditRetentionDays: settings.auditRetentionDays,
  defaultTagTtlSeconds: settings.defaultTagTtlSeconds,
});

/** Garbage collection, audit retention and the default tag TTL: saved to the settings, applied without a restart. */
export function MaintenanceForm({ settings, onSaved }: { settings: SettingsResponse; onSaved: () => void }) {
  const [form, setForm] = useState<Record<keyof Fields, number | string>>(pick(settings));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  useEffect(() => setForm(pick(settings)), [settings]);

  const invalid = (key: keyof Fields): string | undefined => {
    const value = form[key];
    const { min, max } = limits[key];
    return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? undefined : `A whole number from ${min} to ${max}`;
  };
  const field = (key: keyof Fields, label: string, description: string) => (
    <NumberInput
      label={label}
      description={description}
      value={form[key]}
      onChange={(value) => setForm((current) => ({ ...current, [key]: value }))}
      min={limits[key].min}
      max={limits[key].max}
      allowDecimal={false}
      error={invalid(key)}
    />
  );

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if ((Object.keys(limits) as Array<keyof Fields>).some((key) => invalid(key))) return;
    const body: UpdateSettingsRequest = Object.fromEntries(
      (Object.keys(limits) as Array<keyof Fields>).filter((key) => form[key] !== settings[key]).map((key) => [key, Number(form[key])]),
    );
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      await api.patch<UpdateSettingsResponse>(adminRoutes.settings, body);
      setSaved(true);
      onSaved();
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(event) => void submit(event)} noValidate>
      <Stack gap="md">
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          {field('gcEveryHours', 'Free unused space every (hours)', '0 turns the scheduled run off; “Free unused space” still works.')}
          {field('gcGraceMinutes', 'Keep unused blobs for (minutes)', 'A push uploads its layers before the image that uses them: they are spared this long.')}
          {field('auditRetentionDays', 'Keep the audit trail for (days)', 'Older days are deleted once a day.')}
          {field('defaultTagTtlSeconds', 'Tag check interval for new upstreams (seconds)', 'How long a tag resolved upstream is trusted; existing upstreams keep theirs.')}
        </SimpleGrid>
        {error !== undefined && <ErrorAlert error={error} />}
        {saved && (
          <Alert color="teal" variant="light" role="status" title="Settings saved">
            Applied: the next scheduled run, pruning and new upstream use them, without a restart.
          </Alert>
        )}
        <Group>
          <Button type="submit" loading={busy}>
            Save maintenance settings
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
