import { Alert, Button, Code, Group, Modal, PasswordInput, Stack, Switch, TagsInput, Text, TextInput } from '@mantine/core';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError } from '../../api/client.js';
import {
  adminPaths,
  adminRoutes,
  type CreateUpstreamRequest,
  type NamespacesResponse,
  type UpdateUpstreamRequest,
  type UpstreamView,
} from '../../api/contract.js';
import { ErrorAlert } from '../error-alert.js';
import { IconAlert } from '../icons.js';

const namePattern = /^[a-z0-9]+([._-][a-z0-9]+)*$/;

/** Skipping TLS verification is only allowed for upstreams on this machine; the server enforces it too. */
export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127\./.test(host);
  } catch {
    return false;
  }
}

function validUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:';
  } catch {
    return false;
  }
}

/** The server's answer when the upstream's name is a namespace that already holds images (see `adopt`). */
function namespaceConflict(error: unknown): ApiError | undefined {
  return error instanceof ApiError && error.code === 'BERTH_NAMESPACE_HAS_CONTENT' ? error : undefined;
}

/**
 * The 409 for a name whose namespace holds images, with the way out a person can take here. The server's hint speaks
 * API ("send adopt: true"); the button is that, for the same name.
 */
function NamespaceConflictAlert({ error, name, busy, onAdopt }: { error: ApiError; name: string; busy: boolean; onAdopt: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  // The form is taller than a small window: the answer appears under the fields, so bring it into view.
  // Braces: recent Chromium returns a promise from scrollIntoView, which React would take for a cleanup function.
  useEffect(() => {
    ref.current?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }, [error]);
  return (
    <Alert
      ref={ref} color="orange" variant="light" icon={<IconAlert />} title={error.message} role="alert">
      <Stack gap="xs">
        <Text size="sm">
          If the images in “{name}” are an earlier cache of this upstream (kept when it was deleted), keep them: Berth then
          serves them from cache and refreshes them from the upstream. Images pushed there by hand become read-only.
        </Text>
        <Group gap="sm">
          <Button size="xs" color="orange" variant="white" onClick={onAdopt} loading={busy}>
            Use the existing images as this upstream’s cache
          </Button>
          <Code fz="xs" c="dimmed">
            {error.code}
          </Code>
        </Group>
      </Stack>
    </Alert>
  );
}

/**
 * What the anonymous-pull switch shows before the person touches it, and why: the server's own rule (see
 * `defaultAnonymousPull` in registry/mirror/upstream-changes.ts), so the form says what adding will do.
 */
function anonymousPullSuggestion(options: {
  editing?: UpstreamView;
  existing?: boolean;
  /** The server answered that the namespace holds images (the adopt question). */
  holdsImages: boolean;
  hasCredentials: boolean;
  loopbackOnly: boolean;
}): { on: boolean; why: string } {
  if (options.editing) return { on: options.editing.anonymousPull, why: 'The namespace’s current setting.' };
  if (options.existing !== undefined) return { on: options.existing, why: 'A namespace with this name exists and keeps its setting unless you change it here.' };
  if (options.holdsImages) return { on: false, why: 'Off by default: the namespace holds images that nobody made public.' };
  if (options.hasCredentials) return { on: false, why: 'Off by default: the upstream’s credentials reach what their owner may read.' };
  if (!options.loopbackOnly) return { on: false, why: 'Off by default: this Berth is reachable from the network.' };
  return {
    on: true,
    why: 'On by default: no credentials, and Berth listens on this machine only. Docker’s registry-mirrors needs it (dockerd sends mirrors no credentials).',
  };
}

export interface UpstreamFormModalProps {
  opened: boolean;
  /** Absent: create a new upstream. */
  editing?: UpstreamView;
  /** Whether every listener of this Berth is on loopback (UpstreamsResponse.loopbackOnly). */
  loopbackOnly: boolean;
  onClose: () => void;
  onSaved: (upstream: UpstreamView) => void;
}

export function UpstreamFormModal({ opened, editing, loopbackOnly, onClose, onSaved }: UpstreamFormModalProps) {
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [aliases, setAliases] = useState<string[]>([]);
  const [isDefault, setIsDefault] = useState(false);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [insecure, setInsecure] = useState(false);
  /** The person's own choice; undefined while the switch shows the suggestion. */
  const [anonymousChoice, setAnonymousChoice] = useState<boolean>();
  const [namespaces, setNamespaces] = useState<ReadonlyMap<string, boolean>>(new Map());
  const [touched, setTouched] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!opened) return;
    setName(editing?.name ?? '');
    setUrl(editing?.url ?? '');
    setAliases(editing?.aliases ?? []);
    setIsDefault(editing?.isDefault ?? false);
    setUsername(editing?.username ?? '');
    setPassword('');
    setInsecure(editing?.insecure ?? false);
    setAnonymousChoice(undefined);
    setTouched(false);
    setError(undefined);
  }, [opened, editing]);

  // Adding an upstream over an existing namespace keeps that namespace's setting: the switch must show it.
  useEffect(() => {
    if (!opened || editing) return;
    const controller = new AbortController();
    api
      .get<NamespacesResponse>(adminRoutes.namespaces, undefined, controller.signal)
      .then((answer) => setNamespaces(new Map(answer.namespaces.map((ns) => [ns.name, ns.anonymousPull]))))
      .catch(() => setNamespaces(new Map()));
    return () => controller.abort();
  }, [opened, editing]);

  const loopback = isLoopbackUrl(url);
  const conflict = editing ? undefined : namespaceConflict(error);
  const suggestion = anonymousPullSuggestion({
    editing,
    existing: namespaces.get(name),
    holdsImages: conflict !== undefined,
    hasCredentials: username.trim() !== '' || password !== '',
    loopbackOnly,
  });
  const anonymousPull = anonymousChoice ?? suggestion.on;
  const nameError = touched && !editing && !namePattern.test(name) ? 'Lowercase letters, digits and . _ - (e.g. hub); it becomes the namespace' : undefined;
  const urlError = touched && !validUrl(url) ? 'A full URL, e.g. https://registry-1.docker.io' : undefined;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await save(false);
  };

  /** `adopt`: the person chose to keep the namespace's images as this upstream's cache (after the 409). */
  const save = async (adopt: boolean) => {
    setTouched(true);
    if ((!editing && !namePattern.test(name)) || !validUrl(url)) return;
    setBusy(true);
    setError(undefined);
    try {
      let saved: UpstreamView;
      if (editing) {
        const body: UpdateUpstreamRequest = {
          url,
          aliases,
          isDefault,
          insecure: loopback && insecure,
          username: username.trim() === '' ? null : username.trim(),
        };
        if (password !== '') body.password = password;
        if (username.trim() === '') body.password = null;
        if (anonymousChoice !== undefined && anonymousChoice !== editing.anonymousPull) body.anonymousPull = anonymousChoice;
        saved = await api.patch<UpstreamView>(adminPaths.upstream(editing.name), body);
      } else {
        const body: CreateUpstreamRequest = { name, url, aliases, isDefault, insecure: loopback && insecure };
        if (username.trim() !== '') body.username = username.trim();
        if (password !== '') body.password = password;
        // Only a choice the person made is sent; otherwise the server applies the rule the switch showed.
        if (anonymousChoice !== undefined) body.anonymousPull = anonymousChoice;
        if (adopt) body.adopt = true;
        saved = await api.post<UpstreamView>(adminRoutes.upstreams, body);
      }
      onSaved(saved);
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal opened={opened} onClose={onClose} title={editing ? `Edit upstream “${editing.name}”` : 'Add upstream'} size="lg" centered>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="md">
          <TextInput
            label="Upstream name"
            description={`Also its pull-through namespace: ${name || 'hub'}/library/redis pulls library/redis from this upstream.`}
            placeholder="hub"
            value={name}
            onChange={(event) => {
              setName(event.currentTarget.value);
              // Adopting is an answer about one namespace's images: another name must ask the server again.
              if (conflict) setError(undefined);
            }}
            disabled={editing !== undefined}
            error={nameError}
            required
            data-autofocus
          />
          <TextInput
            label="Upstream URL"
            placeholder="https://registry-1.docker.io"
            value={url}
            onChange={(event) => setUrl(event.currentTarget.value)}
            onBlur={() => setTouched(true)}
            error={urlError}
            required
          />
          <TagsInput
            label="Aliases"
            description="Other host names clients use for it, e.g. docker.io (press Enter after each)."
            placeholder="docker.io"
            value={aliases}
            onChange={setAliases}
          />
          <Switch
            label="Default upstream"
            description="Receives pulls for names with no known namespace (Docker’s registry-mirrors). Only one upstream can be the default."
            checked={isDefault}
            onChange={(event) => setIsDefault(event.currentTarget.checked)}
          />
          <Group grow align="flex-start">
            <TextInput label="Username" placeholder="optional" value={username} onChange={(event) => setUsername(event.currentTarget.value)} autoComplete="off" />
            <PasswordInput
              label="Password"
              placeholder={editing?.hasPassword ? 'unchanged' : 'optional'}
              description={editing?.hasPassword ? 'Leave empty to keep the saved password.' : 'Stored encrypted; never shown again.'}
              value={password}
              onChange={(event) => setPassword(event.currentTarget.value)}
              autoComplete="new-password"
            />
          </Group>
          <Switch
            label="Anonymous pull"
            description={`${
              anonymousPull
                ? `Anyone who can reach Berth may pull ${name || 'NAME'}/… without a token.`
                : `Pulls of ${name || 'NAME'}/… need an access token with ${name || 'NAME'}/*:pull.`
            } ${anonymousChoice === undefined ? suggestion.why : 'Your choice.'}`}
            checked={anonymousPull}
            onChange={(event) => setAnonymousChoice(event.currentTarget.checked)}
            color="yellow"
          />
          <Switch
            label="Skip TLS verification"
            description={loopback ? 'For a test registry on this machine with a self-signed certificate.' : 'Only allowed for upstreams on this machine (localhost, 127.0.0.1, ::1).'}
            checked={loopback && insecure}
            disabled={!loopback}
            onChange={(event) => setInsecure(event.currentTarget.checked)}
            color="orange"
          />
          {conflict ? (
            <NamespaceConflictAlert error={conflict} name={name} busy={busy} onAdopt={() => void save(true)} />
          ) : (
            error !== undefined && <ErrorAlert error={error} />
          )}
          <Group justify="flex-end" gap="sm">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={busy}>
              {editing ? 'Save upstream' : 'Add upstream'}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
