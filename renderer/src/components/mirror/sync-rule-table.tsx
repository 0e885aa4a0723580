import { Badge, Button, Group, Stack, Table, Text } from '@mantine/core';
import { useState } from 'react';
import type { SyncRuleView } from '../../api/contract.js';
import { describeError } from '../../api/client.js';
import { formatInterval } from '../../format.js';
import { IconPencil, IconPlay, IconTrash } from '../icons.js';
import { RelativeTime } from '../relative-time.js';
import { columnPriority, ResponsiveTable } from '../responsive-table.js';

function tagFilter(rule: SyncRuleView): string {
  const parts: string[] = [];
  if (rule.tags.include) parts.push(`matching /${rule.tags.include}/`);
  if (rule.tags.exclude) parts.push(`except /${rule.tags.exclude}/`);
  if (rule.tags.semver) parts.push(`semver ${rule.tags.semver}`);
  if (rule.tags.newest) parts.push(`newest ${rule.tags.newest}`);
  return parts.length > 0 ? parts.join(', ') : 'all tags';
}

/** A due time in the past (a rule that never ran is due at once) reads "within a minute": the scheduler looks every 30 s. */
function NextRun({ at }: { at: string }) {
  return Date.parse(at) <= Date.now() ? <span>within a minute</span> : <RelativeTime value={at} />;
}

export interface SyncRuleTableProps {
  rules: SyncRuleView[];
  /** Rule names with a queued or running job. */
  busy: ReadonlySet<string>;
  onRun: (rule: SyncRuleView) => Promise<void>;
  onEdit: (rule: SyncRuleView) => void;
  onDelete: (rule: SyncRuleView) => void;
}

export function SyncRuleTable({ rules, busy, onRun, onEdit, onDelete }: SyncRuleTableProps) {
  const [starting, setStarting] = useState<string>();
  const [runError, setRunError] = useState<{ rule: string; message: string }>();
  const run = async (rule: SyncRuleView) => {
    setStarting(rule.name);
    setRunError(undefined);
    try {
      await onRun(rule);
    } catch (error) {
      const described = describeError(error);
      setRunError({ rule: rule.name, message: `${described.title}${described.hint ? ` ${described.hint}` : ''}` });
    } finally {
      setStarting(undefined);
    }
  };
  return (
    <ResponsiveTable label="Sync rules">
      <Table verticalSpacing="sm" aria-label="Sync rules">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Rule</Table.Th>
            <Table.Th>Copies</Table.Th>
            <Table.Th>Schedule</Table.Th>
            <Table.Th className={columnPriority.low}>Last run</Table.Th>
            <Table.Th ta="right">
              <span className="sr-only">Actions</span>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rules.map((rule) => (
            <Table.Tr key={rule.name}>
              <Table.Td>
                <Text fw={600}>{rule.name}</Text>
                <Text size="xs" c="dimmed">
                  from {rule.upstream} into <span className="berth-mono">{rule.into}/</span>
                </Text>
              </Table.Td>
              <Table.Td>
                <Stack gap={2}>
                  <Text size="sm" className="berth-mono berth-break">
                    {rule.repositories.join(', ')}
                  </Text>
                  <Text size="xs" c="dimmed">
                    {tagFilter(rule)}
                    {rule.platforms.length > 0 ? ` · ${rule.platforms.join(', ')}` : ' · all platforms'}
                  </Text>
                </Stack>
              </Table.Td>
              <Table.Td fz="sm">
                {rule.paused ? (
                  <Badge color="gray" variant="light">
                    paused
                  </Badge>
                ) : (
                  <>
                    {formatInterval(rule.everySeconds)}
                    {rule.nextRunAt && (
                      <Text size="xs" c="dimmed">
                        next: {busy.has(rule.name) ? 'running now' : <NextRun at={rule.nextRunAt} />}
                      </Text>
                    )}
                  </>
                )}
              </Table.Td>
              {/* Also in the job history below, so it is the first to give way. */}
              <Table.Td fz="sm" className={columnPriority.low}>
                <RelativeTime value={rule.lastRunAt} fallback="never" />
              </Table.Td>
              <Table.Td>
                <Group gap={4} justify="flex-end" wrap="nowrap">
                  <Button
                    size="xs"
                    variant="light"
                    leftSection={<IconPlay size={14} />}
                    loading={starting === rule.name}
                    disabled={busy.has(rule.name)}
                    onClick={() => void run(rule)}
                    aria-label={`${busy.has(rule.name) ? 'Running' : 'Run now'} ${rule.name}`}
                  >
                    {busy.has(rule.name) ? 'Running' : 'Run now'}
                  </Button>
                  <Button size="xs" variant="default" leftSection={<IconPencil size={14} />} onClick={() => onEdit(rule)} aria-label={`Edit ${rule.name}`}>
                    Edit
                  </Button>
                  <Button size="xs" variant="subtle" color="red" onClick={() => onDelete(rule)} aria-label={`Delete ${rule.name}`}>
                    <IconTrash size={14} />
                  </Button>
                </Group>
                {runError?.rule === rule.name && (
                  <Text size="xs" c="red" ta="right" mt={4} role="alert">
                    {runError.message}
                  </Text>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </ResponsiveTable>
  );
}
