import { Anchor, Badge, Breadcrumbs, Button, Group, List, Loader, SimpleGrid, Stack, Table, Text } from '@mantine/core';
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { api, ApiError, describeError } from '../api/client.js';
import { adminPaths, type JobDetail, type JobView, type RunSyncRuleResponse } from '../api/contract.js';
import { useEvents } from '../api/events.js';
import { useResource } from '../api/use-resource.js';
import { EmptyState } from '../components/empty-state.js';
import { LoadError } from '../components/error-alert.js';
import { IconMirror, IconRefresh } from '../components/icons.js';
import { CancelJobButton, duration, jobHref, JobStatusBadge, Meter } from '../components/mirror/job-list.js';
import { PageHeader } from '../components/page-header.js';
import { RelativeTime } from '../components/relative-time.js';
import { ResponsiveTable } from '../components/responsive-table.js';
import { SectionCard } from '../components/section-card.js';
import { formatBytes, formatCount, formatExact } from '../format.js';
import { hrefFor, Link, navigate } from '../router.js';

const isActive = (job: JobView) => job.status === 'queued' || job.status === 'running';
/** Progress events come per blob; the detail (lists, log) is fetched again at most this often while the job runs. */
const refreshEveryMs = 1000;

/** A list of image names, or a quiet line when there are none. */
function ImageList({ images, empty }: { images: string[]; empty: string }) {
  if (images.length === 0) {
    return (
      <Text size="sm" c="dimmed">
        {empty}
      </Text>
    );
  }
  return (
    <List size="sm" spacing={2}>
      {images.map((image) => (
        <List.Item key={image}>
          <span className="berth-mono berth-break">{image}</span>
        </List.Item>
      ))}
    </List>
  );
}

function Summary({ job }: { job: JobDetail }) {
  const facts: Array<[string, ReactNode]> = [
    ['Queued', <RelativeTime value={job.queuedAt} />],
    ['Started', <RelativeTime value={job.startedAt} fallback="not yet" />],
    ['Finished', <RelativeTime value={job.finishedAt} fallback={isActive(job) ? 'still running' : '—'} />],
    ['Took', duration(job)],
    ['Images', `${formatCount(job.images.done)} of ${formatCount(job.images.total)} checked`],
    ['Data', `${formatBytes(job.bytes.done)} in ${formatCount(job.blobs.done)} blob${job.blobs.done === 1 ? '' : 's'}`],
  ];
  return (
    <SimpleGrid cols={{ base: 2, sm: 3, lg: 6 }} spacing="md">
      {facts.map(([label, value]) => (
        <div key={label}>
          <Text size="xs" fw={600} c="dimmed" tt="uppercase">
            {label}
          </Text>
          <Text size="sm" className="berth-nums">
            {value}
          </Text>
        </div>
      ))}
    </SimpleGrid>
  );
}

/** `/ui/mirror/jobs/ID`: one sync job, what it copied, what failed and why, its log; cancel or retry. */
export function JobPage({ id }: { id: string }) {
  const detail = useResource((signal) => api.get<JobDetail>(adminPaths.job(id), undefined, signal), `job:${id}`);
  const lastRefresh = useRef(0);
  const trailing = useRef<number | undefined>(undefined);
  const [retryError, setRetryError] = useState<string>();
  const [retrying, setRetrying] = useState(false);
  useEffect(() => () => window.clearTimeout(trailing.current), []);
  useEvents(
    ['job.progress', 'job.finished'],
    (event) => {
      if ((event.type !== 'job.progress' && event.type !== 'job.finished') || event.job.id !== id) return;
      const refresh = () => {
        trailing.current = undefined;
        lastRefresh.current = Date.now();
        detail.reload();
      };
      const wait = lastRefresh.current + refreshEveryMs - Date.now();
      if (event.type === 'job.finished' || wait <= 0) {
        window.clearTimeout(trailing.current);
        refresh();
      } else if (trailing.current === undefined) {
        // The last change before a pause (a stuck download) must still show: refresh once more when the window ends.
        trailing.current = window.setTimeout(refresh, wait);
      }
    },
    detail.reload,
  );

  const cancel = async (job: JobView) => {
    await api.post<JobView>(adminPaths.jobCancel(job.id));
    detail.reload();
  };
  const retry = async (job: JobView) => {
    setRetrying(true);
    setRetryError(undefined);
    try {
      const { jobId } = await api.post<RunSyncRuleResponse>(adminPaths.jobRetry(job.id));
      navigate(hrefFor('mirror', ['jobs', jobId]));
    } catch (reason) {
      setRetryError(describeError(reason).title);
    } finally {
      setRetrying(false);
    }
  };

  const back = (
    <Breadcrumbs mb="xs" aria-label="Breadcrumb">
      <Anchor component={Link} href={hrefFor('mirror')} size="sm">
        Mirror
      </Anchor>
      <Text size="sm">Job</Text>
    </Breadcrumbs>
  );

  const job = detail.data;
  if (!job) {
    const missing = detail.error instanceof ApiError && detail.error.status === 404;
    return (
      <>
        {back}
        <PageHeader title="Sync job" />
        {missing ? (
          <EmptyState icon={<IconMirror size={28} />} title="No such job">
            <Text c="dimmed">It may be older than the 200 jobs Berth keeps.</Text>
            <Button component={Link} href={hrefFor('mirror')} variant="light">
              Back to the mirror
            </Button>
          </EmptyState>
        ) : detail.error !== undefined ? (
          <LoadError error={detail.error} onRetry={detail.reload} />
        ) : (
          <Group justify="center" py="xl">
            <Loader size="sm" aria-label="Loading the job" />
          </Group>
        )}
      </>
    );
  }

  const otherErrors = job.errors.filter((message) => !job.failed.some((failure) => message === `${failure.image}: ${failure.reason}`));
  const retryable = job.status === 'failed' || job.status === 'cancelled';
  return (
    <>
      {back}
      <PageHeader
        title={`Sync job ${job.rule}`}
        description={
          <>
            A run of the sync rule <strong>{job.rule}</strong>, queued {formatExact(job.queuedAt)}.
            {job.retryOf && (
              <>
                {' '}
                It retries{' '}
                <Anchor component={Link} href={jobHref({ id: job.retryOf })} size="sm" underline="always">
                  an earlier job
                </Anchor>
                .
              </>
            )}
          </>
        }
        actions={
          <>
            <JobStatusBadge status={job.status} />
            {isActive(job) && <CancelJobButton job={job} onCancel={cancel} size="sm" />}
            {retryable && (
              <Button leftSection={<IconRefresh size={16} />} loading={retrying} onClick={() => void retry(job)}>
                Retry job
              </Button>
            )}
          </>
        }
      />
      {retryError && (
        <Text c="red" size="sm" role="alert" mb="md">
          {retryError}
        </Text>
      )}
      <Stack gap="lg">
        <SectionCard title="Summary">
          <Stack gap="md">
            <Summary job={job} />
            {isActive(job) && (
              <SimpleGrid cols={{ base: 1, sm: 3 }} spacing="md">
                <Meter label="Images" counts={job.images} />
                <Meter label="Blobs" counts={job.blobs} />
                <Meter label="Data" counts={job.bytes} bytes />
              </SimpleGrid>
            )}
          </Stack>
        </SectionCard>

        <SimpleGrid cols={{ base: 1, md: 2 }} spacing="lg">
          <SectionCard title={`Copied (${formatCount(job.copied.length)})`} description="Images this run stored.">
            <ImageList images={job.copied} empty={isActive(job) ? 'Nothing yet.' : 'Nothing new was copied.'} />
          </SectionCard>
          <SectionCard title={`Up to date (${formatCount(job.skipped.length)})`} description="Already here, complete and current: nothing fetched.">
            <ImageList images={job.skipped} empty="None." />
          </SectionCard>
        </SimpleGrid>

        <SectionCard title={`Failed (${formatCount(job.failed.length + otherErrors.length)})`} description="What did not work, and why.">
          {job.failed.length === 0 && otherErrors.length === 0 ? (
            <Text size="sm" c="dimmed">
              Nothing failed.
            </Text>
          ) : (
            <ResponsiveTable label="Failures">
              <Table verticalSpacing="xs" aria-label="Failures">
                <Table.Thead>
                  <Table.Tr>
                    {/* A share of the width: a long reason (a blob digest) would otherwise squeeze the image name letter by letter. */}
                    <Table.Th w="30%">Image</Table.Th>
                    <Table.Th>Reason</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {job.failed.map((failure) => (
                    <Table.Tr key={failure.image}>
                      <Table.Td className="berth-mono berth-break">{failure.image}</Table.Td>
                      <Table.Td className="berth-break">{failure.reason}</Table.Td>
                    </Table.Tr>
                  ))}
                  {otherErrors.map((message, index) => (
                    <Table.Tr key={`other-${index}`}>
                      <Table.Td>
                        <Badge color="gray" variant="light">
                          whole job
                        </Badge>
                      </Table.Td>
                      <Table.Td className="berth-break">{message}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </ResponsiveTable>
          )}
        </SectionCard>

        <SectionCard title="Log" description={job.log.length >= 200 ? 'The newest 200 lines.' : undefined}>
          {job.log.length === 0 ? (
            <Text size="sm" c="dimmed">
              {job.status === 'queued' ? 'Waiting for its turn.' : 'No log lines.'}
            </Text>
          ) : (
            <Stack gap={2} component="ol" className="berth-mono" style={{ listStyle: 'none', padding: 0, margin: 0 }} aria-label="Job log">
              {job.log.map((line, index) => (
                <Text component="li" key={index} size="xs" className="berth-break">
                  <time dateTime={line.time}>{new Date(line.time).toLocaleTimeString()}</time> {line.message}
                </Text>
              ))}
            </Stack>
          )}
        </SectionCard>
      </Stack>
    </>
  );
}
