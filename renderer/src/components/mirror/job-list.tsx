import { Anchor, Badge, Button, Group, List, Paper, Progress, SimpleGrid, Spoiler, Table, Text } from '@mantine/core';
import { useState } from 'react';
import { describeError } from '../../api/client.js';
import type { JobStatus, JobView, Progress as ProgressCounts } from '../../api/contract.js';
import { formatBytes, formatCount, percent } from '../../format.js';
import { hrefFor, Link } from '../../router.js';
import { IconX } from '../icons.js';
import { RelativeTime } from '../relative-time.js';
import { columnPriority, ResponsiveTable } from '../responsive-table.js';

const statusColors: Record<JobStatus, string> = { queued: 'gray', running: 'harbour', succeeded: 'teal', failed: 'red', cancelled: 'gray' };

export function JobStatusBadge({ status }: { status: JobStatus }) {
  return (
    <Badge variant={status === 'failed' ? 'filled' : 'light'} color={statusColors[status]}>
      {status}
    </Badge>
  );
}

/** The job's own page, `/ui/mirror/jobs/ID`. */
export const jobHref = (job: Pick<JobView, 'id'>) => hrefFor('mirror', ['jobs', job.id]);

export function Meter({ label, counts, bytes = false }: { label: string; counts: ProgressCounts; bytes?: boolean }) {
  const show = bytes ? formatBytes : formatCount;
  const value = percent(counts.done, counts.total);
  return (
    <div>
      <Group justify="space-between" mb={4}>
        <Text size="xs" fw={600}>
          {label}
        </Text>
        <Text size="xs" c="dimmed" className="berth-nums">
          {show(counts.done)} / {counts.total > 0 ? show(counts.total) : '?'}
        </Text>
      </Group>
      <Progress value={value} size="md" radius="xl" animated={counts.total === 0 || value < 100} aria-label={`${label} progress`} />
    </div>
  );
}

/** Cancel for a queued or running job; shows the refusal in place (the job may have just finished). */
export function CancelJobButton({ job, onCancel, size = 'xs' }: { job: JobView; onCancel: (job: JobView) => Promise<void>; size?: 'xs' | 'sm' }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const cancel = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onCancel(job);
    } catch (reason) {
      setError(describeError(reason).title);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Button size={size} variant="default" color="red" leftSection={<IconX size={14} />} loading={busy} onClick={() => void cancel()}>
        Cancel job
      </Button>
      {error && (
        <Text size="xs" c="red" role="alert">
          {error}
        </Text>
      )}
    </>
  );
}

/** A queued or running job: three progress bars fed by `job.progress` events. */
export function ActiveJob({ job, onCancel }: { job: JobView; onCancel?: (job: JobView) => Promise<void> }) {
  return (
    <Paper withBorder radius="md" p="md" component="article" aria-label={`Job ${job.rule}`}>
      <Group justify="space-between" mb="sm">
        <Group gap="xs">
          <Anchor component={Link} href={jobHref(job)} fw={600}>
            {job.rule}
          </Anchor>
          <JobStatusBadge status={job.status} />
          {onCancel && <CancelJobButton job={job} onCancel={onCancel} />}
        </Group>
        <Text size="xs" c="dimmed">
          {job.startedAt ? (
            <>
              started <RelativeTime value={job.startedAt} />
            </>
          ) : (
            <>
              queued <RelativeTime value={job.queuedAt} />
            </>
          )}
        </Text>
      </Group>
      <SimpleGrid cols={{ base: 1, sm: 3 }} spacing="md">
        <Meter label="Images" counts={job.images} />
        <Meter label="Blobs" counts={job.blobs} />
        <Meter label="Data" counts={job.bytes} bytes />
      </SimpleGrid>
      {job.errors.length > 0 && (
        <Text size="xs" c="red" mt="sm">
          {job.errors.length} error{job.errors.length === 1 ? '' : 's'} so far: {job.errors[job.errors.length - 1]}
        </Text>
      )}
    </Paper>
  );
}

export function duration(job: JobView): string {
  if (!job.startedAt || !job.finishedAt) return '—';
  const seconds = Math.max(0, (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000);
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes} min ${Math.round(seconds % 60)} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Finished jobs, newest first, with their errors readable in place. */
export function JobHistory({ jobs }: { jobs: JobView[] }) {
  return (
    <ResponsiveTable label="Job history">
      <Table verticalSpacing="sm" aria-label="Job history">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Rule</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Finished</Table.Th>
            <Table.Th className={columnPriority.low}>Took</Table.Th>
            <Table.Th ta="right">Images</Table.Th>
            <Table.Th ta="right" className={columnPriority.medium}>Data</Table.Th>
            <Table.Th>Errors</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {jobs.map((job) => (
            <Table.Tr key={job.id}>
              <Table.Td fw={600}>
                <Anchor component={Link} href={jobHref(job)}>
                  {job.rule}
                </Anchor>
              </Table.Td>
              <Table.Td>
                <JobStatusBadge status={job.status} />
              </Table.Td>
              <Table.Td fz="sm">
                <RelativeTime value={job.finishedAt ?? job.queuedAt} />
              </Table.Td>
              <Table.Td fz="sm" className={`berth-nums ${columnPriority.low}`}>
                {duration(job)}
              </Table.Td>
              <Table.Td ta="right" fz="sm" className="berth-nums">
                {formatCount(job.images.done)}/{formatCount(job.images.total)}
              </Table.Td>
              <Table.Td ta="right" fz="sm" className={`berth-nums ${columnPriority.medium}`}>
                {formatBytes(job.bytes.done)}
              </Table.Td>
              <Table.Td maw={360}>
                {job.errors.length === 0 ? (
                  <Text size="sm" c="dimmed">
                    none
                  </Text>
                ) : (
                  // The first error in full (a spoiler's fixed height cut it off); further ones behind "Show".
                  <>
                    <Text size="xs" c="red" className="berth-break">
                      {job.errors[0]}
                    </Text>
                    {job.errors.length > 1 && (
                      <Spoiler maxHeight={0} showLabel={`Show ${job.errors.length - 1} more`} hideLabel="Show less" fz="xs">
                        <List size="xs" spacing={2}>
                          {job.errors.slice(1).map((message, index) => (
                            <List.Item key={index}>
                              <Text size="xs" c="red" className="berth-break">
                                {message}
                              </Text>
                            </List.Item>
                          ))}
                        </List>
                      </Spoiler>
                    )}
                  </>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </ResponsiveTable>
  );
}

export function activeJobs(jobs: JobView[]): JobView[] {
  return jobs.filter((job) => job.status === 'queued' || job.status === 'running');
}

export function finishedJobs(jobs: JobView[]): JobView[] {
  return jobs.filter((job) => job.status !== 'queued' && job.status !== 'running');
}
