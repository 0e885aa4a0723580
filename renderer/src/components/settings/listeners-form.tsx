import { Alert, Button, Group, NumberInput, Radio, Stack, TagsInput, Text, TextInput } from '@mantine/core';
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../../api/client.js';
import {
  adminRoutes,
  type ApplyListenersResponse,
  type SettingsResponse,
  type UpdateSettingsRequest,
  type UpdateSettingsResponse,
} from '../../api/contract.js';
import { ErrorAlert } from '../error-alert.js';
import { IconAlert } from '../icons.js';
import { formatListen, isLoopbackHost, parseListen } from './listen-address.js';

type Reach = 'loopback' | 'network';

interface FormState {
  httpPort: number | string;
  httpsPort: number | string;
  httpsReach: Reach;
  /** The non-loopback host to bind when reach is network (keeps a specific saved IP; default all interfaces). */
  networkHost: string;
  tlsNames: string[];
}

function fromSettings(settings: SettingsResponse): FormState {
  const http = parseListen(settings.listen);
  const https = parseListen(settings.tlsListen);
  const networkHost = https && !isLoopbackHost(https.host) ? https.host : '0.0.0.0';
  return {
    httpPort: http?.port ?? 5000,
    httpsPort: https?.port ?? 5443,
    httpsReach: https && !isLoopbackHost(https.host) ? 'network' : 'loopback',
    networkHost,
    tlsNames: settings.tlsNames,
  };
}

function validPort(port: number | string): port is number {
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** What the GUI calls each setting that waits for a restart, instead of its key (`tlsListen`). */
export const settingLabels: Record<UpdateSettingsResponse['pending'][number], string> = {
  listen: 'the HTTP address',
  tlsListen: 'the HTTPS address',
};

function humanList(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/**
 * "Apply and restart": moves the listeners to the saved addresses inside the running Berth. When the page itself came
 * through a listener that moved, it continues at the new address (same host name, so the session cookie goes along).
 */
export function ApplyListenersButton() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [moved, setMoved] = useState<ApplyListenersResponse>();
  const apply = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const answer = await api.post<ApplyListenersResponse>(adminRoutes.settingsApply);
      setMoved(answer);
      const here = answer.moved.find((change) => change.from && new URL(change.from).origin === window.location.origin);
      if (here) window.location.assign(`${new URL(here.to).origin}${window.location.pathname}${window.location.search}`);
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Stack gap="xs">
      <Group>
        <Button size="xs" color="orange" onClick={() => void apply()} loading={busy}>
          Apply and restart listeners
        </Button>
      </Group>
      {moved && (
        <Text size="sm" role="status">
          {moved.moved.length === 0
            ? 'The listeners already run on the saved addresses.'
            : `Now listening on ${moved.moved.map((change) => change.to).join(' and ')}.`}
        </Text>
      )}
      {error !== undefined && <ErrorAlert error={error} />}
    </Stack>
  );
}

/** Listen addresses and TLS names. Saves only what changed, and says when a restart is needed. */
export function ListenersForm({ settings, onSaved }: { settings: SettingsResponse; onSaved: (response: UpdateSettingsResponse) => void }) {
  const [form, setForm] = useState<FormState>(() => fromSettings(settings));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [result, setResult] = useState<UpdateSettingsResponse>();
  useEffect(() => setForm(fromSettings(settings)), [settings]);
  const set = (change: Partial<FormState>) => setForm((current) => ({ ...current, ...change }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!validPort(form.httpPort) || !validPort(form.httpsPort)) return;
    const httpHost = parseListen(settings.listen)?.host ?? '127.0.0.1';
    const wanted: Required<Pick<UpdateSettingsRequest, 'listen' | 'tlsListen' | 'tlsNames' | 'exposeOnNetwork'>> = {
      listen: formatListen({ host: isLoopbackHost(httpHost) ? httpHost : '127.0.0.1', port: Number(form.httpPort) }),
      tlsListen: formatListen({ host: form.httpsReach === 'network' ? form.networkHost : '127.0.0.1', port: Number(form.httpsPort) }),
      tlsNames: form.tlsNames,
      exposeOnNetwork: form.httpsReach === 'network',
    };
    // Only what changed: an address shown as the default is not pinned by saving another field (and so not moved
    // by "Apply and restart").
    const body: UpdateSettingsRequest = Object.fromEntries(
      Object.entries(wanted).filter(([key, value]) => JSON.stringify(value) !== JSON.stringify(settings[key as keyof typeof wanted])),
    );
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      const response = await api.patch<UpdateSettingsResponse>(adminRoutes.settings, body);
      setResult(response);
      onSaved(response);
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  };

  const portError = (port: number | string) => (validPort(port) ? undefined : 'A port from 1 to 65535');

  return (
    <form onSubmit={(event) => void submit(event)} noValidate>
      <Stack gap="lg">
        <Stack gap="xs">
          <Text fw={600} size="sm">
            Plain HTTP
          </Text>
          <Group gap="md" align="flex-start">
            <NumberInput
              label="HTTP port"
              value={form.httpPort}
              onChange={(value) => set({ httpPort: value })}
              min={1}
              max={65535}
              allowDecimal={false}
              error={portError(form.httpPort)}
              w={140}
            />
            <Text size="sm" c="dimmed" maw={420} mt={28}>
              Always on 127.0.0.1: plain HTTP never leaves this machine, so tokens cannot be sniffed on the network.
            </Text>
          </Group>
        </Stack>

        <Stack gap="xs">
          <Text fw={600} size="sm">
            HTTPS
          </Text>
          <Stack gap="sm">
            <NumberInput
              label="HTTPS port"
              value={form.httpsPort}
              onChange={(value) => set({ httpsPort: value })}
              min={1}
              max={65535}
              allowDecimal={false}
              error={portError(form.httpsPort)}
              w={140}
            />
            <Radio.Group
              label="Who can connect"
              value={form.httpsReach}
              onChange={(value) => set({ httpsReach: value as Reach })}
            >
              <Stack gap={6} mt={6}>
                <Radio value="loopback" label="This computer only (127.0.0.1)" />
                <Radio value="network" label="Other computers on the network" />
              </Stack>
            </Radio.Group>
            {form.httpsReach === 'network' && (
              <>
                <TextInput
                  label="Bind address"
                  description="0.0.0.0 listens on every interface; or enter one of this machine’s addresses."
                  value={form.networkHost}
                  onChange={(event) => set({ networkHost: event.currentTarget.value })}
                  w={260}
                />
                <Alert color="orange" variant="light" icon={<IconAlert />} title="Berth will be reachable from your network">
                  Anyone who can reach this machine can try to connect. Pushes and deletes always need a token; pulls do too unless a
                  namespace allows anonymous pull. Clients must trust Berth’s CA (download it on the Overview).
                </Alert>
              </>
            )}
          </Stack>
        </Stack>

        <TagsInput
          label="Extra TLS names"
          description="DNS names or IP addresses other machines use to reach Berth; added to the server certificate at once."
          placeholder="berth.lan"
          value={form.tlsNames}
          onChange={(tlsNames) => set({ tlsNames })}
        />

        {error !== undefined && <ErrorAlert error={error} />}
        {result && (
          <Alert color={result.restartRequired ? 'orange' : 'teal'} variant="light" role="status" title="Settings saved">
            {result.restartRequired ? (
              <Stack gap="xs">
                <Text size="sm">
                  Saved, not applied yet: {humanList(result.pending.map((key) => `${settingLabels[key]} (${result.settings[key]})`))}. Until then
                  Berth keeps listening where it does now.
                </Text>
                <ApplyListenersButton />
              </Stack>
            ) : (
              'Applied.'
            )}
          </Alert>
        )}
        <Group>
          <Button type="submit" loading={busy}>
            Save settings
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
