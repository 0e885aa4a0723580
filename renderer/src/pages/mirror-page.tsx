import { Alert, Button, Group, Loader, Stack, Text } from '@mantine/core';
import { useEffect, useMemo, useState } from 'react';
import { api } from '../api/client.js';
import {
  adminPaths,
  adminRoutes,
  type JobsResponse,
  type JobView,
  type RunSyncRuleResponse,
  type SyncRulesResponse,
  type SyncRuleView,
  type UpstreamsResponse,
  type UpstreamView,
} from '../api/contract.js';
import { useEvents } from '../api/events.js';
import { useResource } from '../api/use-resource.js';
import { useAppInfo } from '../app-context.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { EmptyState } from '../components/empty-state.js';
import { LoadError } from '../components/error-alert.js';
import { IconCloud, IconMirror, IconPlus } from '../components/icons.js';
import { ActiveJob, activeJobs, finishedJobs, JobHistory } from '../components/mirror/job-list.js';
import { SyncRuleModal } from '../components/mirror/sync-rule-modal.js';
import { SyncRuleTable } from '../components/mirror/sync-rule-table.js';
import { UpstreamFormModal } from '../components/mirror/upstream-form-modal.js';
import { UpstreamList, type HealthMap } from '../components/mirror/upstream-list.js';
import { PageHeader } from '../components/page-header.js';
import { SectionCard } from '../components/section-card.js';
import type { Route } from '../router.js';
import { JobPage } from './job-page.js';

type Removal = { kind: 'upstream'; upstream: UpstreamView } | { kind: 'rule'; rule: SyncRuleView };

/** Jobs by id: the list request fills it, `job.progress` / `job.finished` events keep it current. */
function useJobs(version: number): { jobs: JobView[]; loading: boolean; error: unknown; reload: () => void } {
  const loaded = useResource((signal) => api.get<JobsResponse>(adminPaths.jobs(50), undefined, signal), `jobs:${version}`);
  const [live, setLive] = useState<Map<string, JobView>>(new Map());
  useEffect(() => setLive(new Map()), [loaded.data]);
  useEvents(
    ['job.progress', 'job.finished'],
    (event) => {
      if (event.type !== 'job.progress' && event.type !== 'job.finished') return;
      setLive((current) => new Map(current).set(event.job.id, event.job));
    },
    loaded.reload,
  );
  const jobs = useMemo(() => {
    const byId = new Map((loaded.data?.jobs ?? []).map((job) => [job.id, job]));
    for (const [id, job] of live) byId.set(id, job);
    return [...byId.values()].sort((a, b) => b.queuedAt.localeCompare(a.queuedAt));
  }, [loaded.data, live]);
  return { jobs, loading: loaded.loading && !loaded.data, error: loaded.error, reload: loaded.reload };
}

/** `/ui/mirror`, and one job's page at `/ui/mirror/jobs/ID`. */
export function MirrorPage({ route }: { route: Route }) {
  const [section, id] = route.rest;
  if (section === 'jobs' && id) return <JobPage id={id} />;
  return <MirrorOverview />;
}

function MirrorOverview() {
  const { reloadOverview } = useAppInfo();
  const [version, setVersion] = useState(0);
  const bump = () => setVersion((value) => value + 1);
  const [health, setHealth] = useState<HealthMap>({});
  const [upstreamForm, setUpstreamForm] = useState<{ editing?: UpstreamView } | undefined>();
  const [ruleForm, setRuleForm] = useState<{ editing?: SyncRuleView } | undefined>();
  const [removal, setRemoval] = useState<Removal>();

  useEvents(
    // job.finished too: it changes a rule's "last run".
    ['upstream.created', 'upstream.updated', 'upstream.deleted', 'syncRule.created', 'syncRule.updated', 'syncRule.deleted', 'job.finished'],
    bump,
    bump,
  );
  useEvents(['upstream.health'], (event) => {
    if (event.type !== 'upstream.health') return;
    setHealth((current) => ({ ...current, [event.upstream]: { online: event.online, lastError: event.lastError } }));
  });

  const upstreams = useResource((signal) => api.get<UpstreamsResponse>(adminRoutes.upstreams, undefined, signal), `upstreams:${version}`);
  const rules = useResource((signal) => api.get<SyncRulesResponse>(adminRoutes.syncRules, undefined, signal), `rules:${version}`);
  const jobs = useJobs(version);
  useEffect(() => setHealth({}), [upstreams.data]);

  const active = activeJobs(jobs.jobs);
  const finished = finishedJobs(jobs.jobs);
  const busyRules = new Set(active.map((job) => job.rule));
  const upstreamList = upstreams.data?.upstreams ?? [];
  const ruleList = rules.data?.syncRules ?? [];
  const mirrorMissing = upstreamList.length > 0 && upstreamList.every((upstream) => upstream.health === undefined);

  const saved = () => {
    setUpstreamForm(undefined);
    setRuleForm(undefined);
    bump();
    reloadOverview();
  };

  const runNow = async (rule: SyncRuleView) => {
    await api.post<RunSyncRuleResponse>(adminPaths.syncRuleRun(rule.name));
    jobs.reload();
  };

  const cancelJob = async (job: JobView) => {
    await api.post<JobView>(adminPaths.jobCancel(job.id));
    jobs.reload();
  };

  const remove = async () => {
    if (!removal) return;
    if (removal.kind === 'upstream') await api.delete(adminPaths.upstream(removal.upstream.name));
    else await api.delete(adminPaths.syncRule(removal.rule.name));
    bump();
    reloadOverview();
  };

  const addUpstream = (
    <Button leftSection={<IconPlus size={16} />} onClick={() => setUpstreamForm({})}>
      Add upstream
    </Button>
  );

  return (
    <>
      <PageHeader
        title="Mirror"
        description="Upstream registries Berth pulls through, and rules that copy images ahead of time so they are here when the network is not."
      />
      <Stack gap="lg">
        {mirrorMissing && (
          <Alert color="gray" variant="light" title="The mirror service is not running in this Berth">
            Upstreams and rules are saved, but nothing is fetched until Berth runs with the mirror enabled.
          </Alert>
        )}
        <SectionCard
          title="Upstreams"
          description="Pull through with the upstream’s name as the first path part, e.g. hub/library/redis:7."
          actions={upstreamList.length > 0 ? addUpstream : undefined}
        >
          {upstreams.error !== undefined ? (
            <LoadError error={upstreams.error} onRetry={upstreams.reload} />
          ) : !upstreams.data ? (
            <Group justify="center" py="md">
              <Loader size="sm" aria-label="Loading upstreams" />
            </Group>
          ) : upstreamList.length === 0 ? (
            <EmptyState icon={<IconCloud size={28} />} title="No upstreams yet">
              <Text c="dimmed">
                Add Docker Hub (<code>https://registry-1.docker.io</code>) or any other registry, then pull through Berth or set up
                sync rules.
              </Text>
              {addUpstream}
            </EmptyState>
          ) : (
            <UpstreamList
              upstreams={upstreamList}
              health={health}
              onEdit={(upstream) => setUpstreamForm({ editing: upstream })}
              onDelete={(upstream) => setRemoval({ kind: 'upstream', upstream })}
            />
          )}
        </SectionCard>

        <SectionCard
          title="Sync rules"
          description="Copy chosen repositories and tags from an upstream on a schedule."
          actions={
            <Button
              variant={ruleList.length > 0 ? 'filled' : 'light'}
              leftSection={<IconPlus size={16} />}
              onClick={() => setRuleForm({})}
              disabled={upstreamList.length === 0}
            >
              Add sync rule
            </Button>
          }
        >
          {rules.error !== undefined ? (
            <LoadError error={rules.error} onRetry={rules.reload} />
          ) : ruleList.length === 0 ? (
            <Text size="sm" c="dimmed">
              {upstreamList.length === 0
                ? 'Add an upstream first; then a rule can copy, say, library/redis tags matching ^7\\. every day.'
                : 'No rules yet. Add one to keep images here before anyone asks for them.'}
            </Text>
          ) : (
            <SyncRuleTable
              rules={ruleList}
              busy={busyRules}
              onRun={runNow}
              onEdit={(rule) => setRuleForm({ editing: rule })}
              onDelete={(rule) => setRemoval({ kind: 'rule', rule })}
            />
          )}
        </SectionCard>

        <SectionCard title="Jobs" description="Progress updates live while a rule runs. Open a job for what it copied, what failed and its log.">
          {jobs.error !== undefined ? (
            <LoadError error={jobs.error} onRetry={jobs.reload} />
          ) : jobs.loading ? (
            <Group justify="center" py="md">
              <Loader size="sm" aria-label="Loading jobs" />
            </Group>
          ) : jobs.jobs.length === 0 ? (
            <EmptyState icon={<IconMirror size={28} />} title="No jobs have run yet">
              <Text c="dimmed">Click Run now on a sync rule to start one; its progress shows here.</Text>
            </EmptyState>
          ) : (
            <Stack gap="md">
              {active.map((job) => (
                <ActiveJob key={job.id} job={job} onCancel={cancelJob} />
              ))}
              {finished.length > 0 && <JobHistory jobs={finished} />}
            </Stack>
          )}
        </SectionCard>
      </Stack>

      <UpstreamFormModal
        opened={upstreamForm !== undefined}
        editing={upstreamForm?.editing}
        loopbackOnly={upstreams.data?.loopbackOnly ?? false}
        onClose={() => setUpstreamForm(undefined)}
        onSaved={saved}
      />
      <SyncRuleModal
        opened={ruleForm !== undefined}
        editing={ruleForm?.editing}
        upstreams={upstreamList}
        onClose={() => setRuleForm(undefined)}
        onSaved={saved}
      />
      <ConfirmDialog
        opened={removal !== undefined}
        title={removal?.kind === 'upstream' ? 'Delete upstream?' : 'Delete sync rule?'}
        confirmLabel={removal?.kind === 'upstream' ? 'Delete upstream' : 'Delete rule'}
        onClose={() => setRemoval(undefined)}
        onConfirm={remove}
      >
        {removal?.kind === 'upstream' && (
          <Text size="sm">
            Berth stops pulling through <strong>{removal.upstream.name}</strong> ({removal.upstream.url}). Images already cached under{' '}
            <code>{removal.upstream.name}/</code> stay. Sync rules using it must be deleted first.
          </Text>
        )}
        {removal?.kind === 'rule' && (
          <Text size="sm">
            The rule <strong>{removal.rule.name}</strong> stops copying {removal.rule.repositories.join(', ')}. Images it already copied
            stay in <code>{removal.rule.into}/</code>; its job history is kept.
          </Text>
        )}
      </ConfirmDialog>
    </>
  );
}
