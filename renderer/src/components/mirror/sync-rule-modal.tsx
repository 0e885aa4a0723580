import { Button, Group, Modal, NumberInput, Select, SimpleGrid, Stack, Switch, TagsInput, TextInput } from '@mantine/core';
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../../api/client.js';
import { adminPaths, adminRoutes, type CreateSyncRuleRequest, type SyncRuleView, type UpstreamView } from '../../api/contract.js';
import { formatInterval, formatMinute, formatRelative } from '../../format.js';
import { ErrorAlert } from '../error-alert.js';

const intervals = [
  { value: 'manual', label: 'Only when I click Run now' },
  { value: '900', label: 'Every 15 minutes' },
  { value: '3600', label: 'Every hour' },
  { value: '21600', label: 'Every 6 hours' },
  { value: '43200', label: 'Every 12 hours' },
  { value: '86400', label: 'Every day' },
  { value: '604800', label: 'Every week' },
];

const commonPlatforms = ['linux/amd64', 'linux/arm64', 'linux/arm/v7', 'linux/386', 'linux/ppc64le', 'linux/s390x', 'windows/amd64'];
const namePattern = /^[a-z0-9]+([._-][a-z0-9]+)*$/;

/** A regular expression the server will also compile; checked here so the mistake shows next to the field. */
function regexError(source: string): string | undefined {
  if (source.trim() === '') return undefined;
  try {
    new RegExp(source);
    return undefined;
  } catch (error) {
    return `Not a valid regular expression: ${(error as Error).message}`;
  }
}

/**
 * When the rule will run, in words, under the schedule picker. A new scheduled rule does not start when it is
 * saved: it first runs one interval later (the server counts from the rule's creation, see nextScheduledRun), or
 * when the user clicks Run now, so the form says when that is.
 */
export function scheduleNote(interval: string, paused: boolean, editing: SyncRuleView | undefined, now = Date.now()): string {
  if (interval === 'manual') return 'Runs only when you click Run now.';
  if (paused) return 'Paused: it does not run on its schedule until you turn this off. Run now still works.';
  const seconds = Number(interval);
  const every = formatInterval(seconds);
  const since = editing ? Date.parse(editing.lastRunAt ?? editing.createdAt) : now;
  const next = since + seconds * 1000;
  const when = `${formatRelative(next, now, 'always')} (${formatMinute(next)})`;
  if (!editing?.lastRunAt) {
    if (next <= now) return `Due now: the first run starts within a minute of saving, then ${every}. Or click Run now.`;
    return `First run ${when}, or click Run now; then ${every}.`;
  }
  return next <= now ? `Due now: it runs within a minute of saving, then ${every}.` : `Next run ${when}, then ${every}.`;
}

export interface SyncRuleModalProps {
  opened: boolean;
  editing?: SyncRuleView;
  upstreams: UpstreamView[];
  onClose: () => void;
  onSaved: (rule: SyncRuleView) => void;
}

export function SyncRuleModal({ opened, editing, upstreams, onClose, onSaved }: SyncRuleModalProps) {
  const [name, setName] = useState('');
  const [upstream, setUpstream] = useState<string | null>(null);
  const [repositories, setRepositories] = useState<string[]>([]);
  const [include, setInclude] = useState('');
  const [exclude, setExclude] = useState('');
  const [semver, setSemver] = useState('');
  const [newest, setNewest] = useState<number | string>('');
  const [platforms, setPlatforms] = useState<string[]>([]);
  const [into, setInto] = useState('');
  const [interval, setInterval] = useState('86400');
  const [paused, setPaused] = useState(false);
  const [touched, setTouched] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!opened) return;
    setName(editing?.name ?? '');
    setUpstream(editing?.upstream ?? upstreams[0]?.name ?? null);
    setRepositories(editing?.repositories ?? []);
    setInclude(editing?.tags.include ?? '');
    setExclude(editing?.tags.exclude ?? '');
    setSemver(editing?.tags.semver ?? '');
    setNewest(editing?.tags.newest ?? '');
    setPlatforms(editing?.platforms ?? []);
    setInto(editing?.into ?? '');
    setInterval(editing ? (editing.everySeconds === null ? 'manual' : String(editing.everySeconds)) : '86400');
    setPaused(editing?.paused ?? false);
    setTouched(false);
    setError(undefined);
  }, [opened, editing, upstreams]);

  const includeError = regexError(include);
  const excludeError = regexError(exclude);
  const nameError = touched && !editing && !namePattern.test(name) ? 'Lowercase letters, digits and . _ -, e.g. redis-7' : undefined;
  const repositoriesError = touched && repositories.length === 0 ? 'Add at least one repository, e.g. library/redis' : undefined;
  const intervalOptions = editing?.everySeconds && !intervals.some((entry) => entry.value === String(editing.everySeconds))
    ? [...intervals, { value: String(editing.everySeconds), label: `Every ${editing.everySeconds} seconds` }]
    : intervals;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if ((!editing && !namePattern.test(name)) || !upstream || repositories.length === 0 || includeError || excludeError) return;
    const body: Omit<CreateSyncRuleRequest, 'name'> = {
      upstream,
      repositories,
      tags: {
        include: include.trim() || undefined,
        exclude: exclude.trim() || undefined,
        newest: typeof newest === 'number' && newest > 0 ? newest : undefined,
        semver: semver.trim() || undefined,
      },
      platforms,
      into: into.trim() || undefined,
      everySeconds: interval === 'manual' ? null : Number(interval),
      paused,
    };
    setBusy(true);
    setError(undefined);
    try {
      const saved = editing
        ? await api.patch<SyncRuleView>(adminPaths.syncRule(editing.name), body)
        : await api.post<SyncRuleView>(adminRoutes.syncRules, { name, ...body });
      onSaved(saved);
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal opened={opened} onClose={onClose} title={editing ? `Edit sync rule “${editing.name}”` : 'Add sync rule'} size="xl" centered>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="md">
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput
              label="Rule name"
              placeholder="redis-7"
              value={name}
              onChange={(event) => setName(event.currentTarget.value)}
              disabled={editing !== undefined}
              error={nameError}
              required
              data-autofocus
            />
            <Select
              label="Upstream"
              data={upstreams.map((entry) => ({ value: entry.name, label: `${entry.name} (${entry.url})` }))}
              value={upstream}
              onChange={setUpstream}
              allowDeselect={false}
              required
              error={touched && !upstream ? 'Pick the upstream to copy from' : undefined}
            />
          </SimpleGrid>
          <TagsInput
            label="Repositories"
            description="Names upstream, or a prefix ending in /* for many (press Enter after each)."
            placeholder="library/redis"
            value={repositories}
            onChange={setRepositories}
            error={repositoriesError}
            required
          />
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput
              label="Include tags (regex)"
              placeholder="^7\.[0-9]+$"
              value={include}
              onChange={(event) => setInclude(event.currentTarget.value)}
              error={includeError}
              styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
            />
            <TextInput
              label="Exclude tags (regex)"
              placeholder="-rc|alpha"
              value={exclude}
              onChange={(event) => setExclude(event.currentTarget.value)}
              error={excludeError}
              styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
            />
            <TextInput
              label="Versions (semver range)"
              description="Only tags that are versions in this range; the server checks the syntax."
              placeholder=">=7 <8"
              value={semver}
              onChange={(event) => setSemver(event.currentTarget.value)}
              styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
            />
            <NumberInput label="Newest N tags" placeholder="all" min={1} max={1000} value={newest} onChange={setNewest} allowDecimal={false} />
          </SimpleGrid>
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TagsInput
              label="Platforms"
              description="Empty copies every platform of a multi-platform image."
              placeholder="linux/amd64"
              data={commonPlatforms}
              value={platforms}
              onChange={setPlatforms}
            />
            <TextInput
              label="Target namespace"
              description={`Where the copies land. Default: ${upstream ?? 'the upstream’s name'}.`}
              placeholder={upstream ?? ''}
              value={into}
              onChange={(event) => setInto(event.currentTarget.value)}
            />
          </SimpleGrid>
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <Select
              label="Schedule"
              description={scheduleNote(interval, paused, editing)}
              data={intervalOptions}
              value={interval}
              onChange={(value) => setInterval(value ?? 'manual')}
              allowDeselect={false}
            />
            <Switch
              mt={{ base: 0, sm: 30 }}
              label="Paused"
              description="A paused rule does not run on its schedule."
              checked={paused}
              onChange={(event) => setPaused(event.currentTarget.checked)}
            />
          </SimpleGrid>
          {error !== undefined && <ErrorAlert error={error} />}
          <Group justify="flex-end" gap="sm">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={busy}>
              {editing ? 'Save rule' : 'Add rule'}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
