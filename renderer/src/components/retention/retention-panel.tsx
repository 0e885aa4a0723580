import { Alert, Badge, Button, Group, Loader, NumberInput, SegmentedControl, Select, Stack, Table, Text } from '@mantine/core';
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../../api/client.js';
import {
  adminRoutes,
  type RetentionResponse,
  type RetentionRulesView,
  type RetentionRunRequest,
  type RetentionRunResponse,
  type RetentionScheduleRequest,
  type SetRetentionRequest,
} from '../../api/contract.js';
import { useResource } from '../../api/use-resource.js';
import { shortDigest } from '../../format.js';
import { ConfirmDialog } from '../confirm-dialog.js';
import { ErrorAlert, LoadError } from '../error-alert.js';
import { RelativeTime } from '../relative-time.js';
import { ResponsiveTable } from '../responsive-table.js';

type Field = 'keepNewest' | 'untaggedDays' | 'unpulledDays';

const target = (removal: RetentionRunResponse['removals'][number]) =>
  removal.kind === 'tag' ? `${removal.repository}:${removal.reference}` : `${removal.repository}@${shortDigest(removal.reference)}${removal.tags ? ` (${removal.tags.join(', ')})` : ''}`;

/** The list a preview or a run answered: what goes (or went) and why, then what pins and immutable tags kept. */
function RunResult({ result }: { result: RetentionRunResponse }) {
  const verb = result.dryRun ? 'Would remove' : 'Removed';
  return (
    <Stack gap="sm" role="region" aria-label={result.dryRun ? 'Retention preview' : 'Retention run'}>
      <Text fw={600} role="status">
        {result.removals.length === 0 ? (result.dryRun ? 'Nothing to remove.' : 'Nothing removed.') : `${verb} ${result.removals.length} tag(s) and manifest(s).`}
      </Text>
      {result.removals.length > 0 && (
        <ResponsiveTable label={result.dryRun ? 'What the policy would remove' : 'What the run removed'}>
          <Table verticalSpacing="xs" aria-label={result.dryRun ? 'What the policy would remove' : 'What the run removed'}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{result.dryRun ? 'Would remove' : 'Removed'}</Table.Th>
                <Table.Th>Rule</Table.Th>
                <Table.Th>Why</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {result.removals.map((removal) => (
                <Table.Tr key={`${removal.repository} ${removal.reference}`}>
                  <Table.Td className="berth-mono berth-break" fz="sm">
                    {target(removal)}
                  </Table.Td>
                  <Table.Td>
                    <Badge variant="light" color="gray">
                      {removal.rule}
                    </Badge>
                  </Table.Td>
                  <Table.Td fz="sm">{removal.reason}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </ResponsiveTable>
      )}
      {result.spared.length > 0 && (
        <Text size="sm" c="dimmed">
          Kept although a rule applies: {result.spared.map((spared) => `${spared.repository}${spared.reference.includes(':') ? `@${shortDigest(spared.reference)}` : `:${spared.reference}`} (${spared.why})`).join(', ')}
        </Text>
      )}
      {result.skipped.length > 0 && (
        <Text size="sm" c="dimmed">
          Left alone because they changed meanwhile: {result.skipped.map((skipped) => `${target(skipped)} (${skipped.why})`).join(', ')}
        </Text>
      )}
    </Stack>
  );
}

/** How often a running Berth applies the rules (every namespace's), 0 for never. */
function ScheduleForm({ everyHours, onSaved }: { everyHours: number; onSaved: () => void }) {
  const [value, setValue] = useState<number | string>(everyHours);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  useEffect(() => setValue(everyHours), [everyHours]);
  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (typeof value !== 'number') return;
    setBusy(true);
    setError(undefined);
    try {
      await api.put(adminRoutes.retentionSchedule, { everyHours: value } satisfies RetentionScheduleRequest);
      onSaved();
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={(event) => void save(event)} aria-label="Retention schedule">
      <Group align="flex-end" gap="sm">
        <NumberInput
          label="Run every (hours)"
          description="Every namespace's rules; 0 turns scheduled runs off."
          min={0}
          max={720}
          allowDecimal={false}
          allowNegative={false}
          value={value}
          onChange={setValue}
          w={{ base: '100%', xs: 200 }}
        />
        <Button type="submit" variant="default" loading={busy} disabled={value === everyHours || typeof value !== 'number'}>
          Save schedule
        </Button>
      </Group>
      {error !== undefined && <ErrorAlert error={error} />}
    </form>
  );
}

/**
 * Retention of one namespace: its rules (keep the newest N tags, untagged and, for mirrors, unpulled days),
 * "Preview" (a dry run listing what a run would remove and why) and "Run now" (removes what the same plan lists).
 * Pins (the pin toggle on a tag) and immutable tags are never removed.
 */
export function RetentionPanel({ namespaces }: { namespaces: string[] }) {
  const [version, setVersion] = useState(0);
  const retention = useResource((signal) => api.get<RetentionResponse>(adminRoutes.retention, undefined, signal), `retention:${version}`);
  const scopes = [...new Set([...namespaces, ...(retention.data?.mirrorNamespaces ?? []), ...(retention.data?.policies ?? []).map((policy) => policy.scope)])].sort();
  const [scope, setScope] = useState<string | null>(null);
  const chosen = scope ?? scopes[0] ?? null;
  const stored = retention.data?.policies.find((policy) => policy.scope === chosen)?.retention;
  const isMirror = chosen !== null && (retention.data?.mirrorNamespaces ?? []).includes(chosen);

  const [rules, setRules] = useState<RetentionRulesView>({});
  useEffect(() => setRules(stored ?? {}), [chosen, JSON.stringify(stored)]);
  const [busy, setBusy] = useState<'save' | 'preview' | undefined>();
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  const [result, setResult] = useState<RetentionRunResponse>();
  const [confirming, setConfirming] = useState(false);
  useEffect(() => setResult(undefined), [chosen]);

  const number = (field: Field, label: string, description: string, disabled = false) => (
    <NumberInput
      label={label}
      description={description}
      placeholder="off"
      min={1}
      allowDecimal={false}
      allowNegative={false}
      disabled={disabled}
      value={rules[field] ?? ''}
      onChange={(value) => {
        setSaved(false);
        setRules((current) => {
          const next = { ...current };
          if (typeof value === 'number') next[field] = value;
          else delete next[field];
          return next;
        });
      }}
      w={{ base: '100%', xs: 200 }}
    />
  );

  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (chosen === null) return;
    setBusy('save');
    setError(undefined);
    try {
      await api.put(adminRoutes.retention, { scope: chosen, retention: rules } satisfies SetRetentionRequest);
      setSaved(true);
      setResult(undefined);
      setVersion((value) => value + 1);
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(undefined);
    }
  };
  const runRetention = (dryRun: boolean) => api.post<RetentionRunResponse>(adminRoutes.retentionRun, { dryRun, scope: chosen ?? undefined } satisfies RetentionRunRequest);
  const preview = async () => {
    setBusy('preview');
    setError(undefined);
    try {
      setResult(await runRetention(true));
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(undefined);
    }
  };

  if (retention.error !== undefined) return <LoadError error={retention.error} onRetry={retention.reload} />;
  if (!retention.data) {
    return (
      <Group justify="center" py="md">
        <Loader size="sm" aria-label="Loading retention policies" />
      </Group>
    );
  }
  if (chosen === null) return <Text c="dimmed">No namespaces yet: push an image or add an upstream first.</Text>;
  return (
    <Stack gap="md">
      <Select
        label="Namespace"
        data={scopes}
        value={chosen}
        onChange={(value) => {
          setScope(value);
          setSaved(false);
        }}
        allowDeselect={false}
        w={{ base: '100%', xs: 260 }}
      />
      <form onSubmit={(event) => void save(event)} aria-label={`Retention rules of ${chosen}`}>
        <Stack gap="sm">
          <Group align="flex-start" gap="md" wrap="wrap">
            {number('keepNewest', 'Keep newest tags', 'Per repository; older tags go.')}
            <Stack gap={4}>
              <Text size="sm" fw={500} id="retention-order">
                Newest by
              </Text>
              <SegmentedControl
                aria-labelledby="retention-order"
                data={[
                  { value: 'pushed', label: 'Push time' },
                  { value: 'semver', label: 'Version' },
                ]}
                value={rules.orderBy ?? 'pushed'}
                onChange={(value) => {
                  setSaved(false);
                  setRules((current) => ({ ...current, orderBy: value as 'pushed' | 'semver' }));
                }}
              />
            </Stack>
            {number('untaggedDays', 'Untagged after (days)', 'Manifests no tag points at.')}
            {number('unpulledDays', 'Unpulled after (days)', isMirror ? 'Evicts mirrored images nobody pulled.' : 'Mirror namespaces only.', !isMirror)}
          </Group>
          <Group gap="sm">
            <Button type="submit" loading={busy === 'save'}>
              Save rules
            </Button>
            <Button variant="default" onClick={() => void preview()} loading={busy === 'preview'}>
              Preview
            </Button>
            <Button color="red" variant="light" onClick={() => setConfirming(true)}>
              Run now
            </Button>
            {saved && (
              <Text size="sm" c="teal" role="status">
                Saved.
              </Text>
            )}
          </Group>
        </Stack>
      </form>
      <Text size="sm" c="dimmed">
        {retention.data.everyHours === 0 ? 'Scheduled runs are off.' : `Runs every ${retention.data.everyHours} h.`}{' '}
        {retention.data.lastRunAt && (
          <>
            Last run <RelativeTime value={retention.data.lastRunAt} />.
          </>
        )}{' '}
        Pinned images and immutable tags are never removed.
      </Text>
      {error !== undefined && <ErrorAlert error={error} />}
      {result && <RunResult result={result} />}
      {!stored && !result && (
        <Alert variant="light" color="gray">
          {chosen} has no retention rules: nothing is removed.
        </Alert>
      )}
      <ScheduleForm everyHours={retention.data.everyHours} onSaved={() => setVersion((value) => value + 1)} />
      <ConfirmDialog
        opened={confirming}
        title={`Apply the retention rules of ${chosen} now?`}
        confirmLabel="Remove"
        onClose={() => setConfirming(false)}
        onConfirm={async () => {
          setResult(await runRetention(false));
          setVersion((value) => value + 1);
        }}
      >
        <Text size="sm">Removes what “Preview” lists for {chosen}. Every removal is recorded in the audit trail.</Text>
      </ConfirmDialog>
    </Stack>
  );
}
