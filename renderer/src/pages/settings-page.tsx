import { Group, Loader, Stack, Text } from '@mantine/core';
import { useState } from 'react';
import { api } from '../api/client.js';
import { adminRoutes, type NamespacesResponse, type SettingsResponse } from '../api/contract.js';
import { useEvents } from '../api/events.js';
import { useResource } from '../api/use-resource.js';
import { useAppInfo } from '../app-context.js';
import { InlineCode } from '../components/code-snippet.js';
import { LoadError } from '../components/error-alert.js';
import { PageHeader } from '../components/page-header.js';
import { SectionCard } from '../components/section-card.js';
import { EncryptionStatus } from '../components/settings/encryption-status.js';
import { ListenersForm } from '../components/settings/listeners-form.js';
import { MaintenanceForm } from '../components/settings/maintenance-form.js';
import { NamespaceAccess } from '../components/settings/namespace-access.js';
import { RetentionPanel } from '../components/retention/retention-panel.js';
import { NamespaceLimits } from '../components/settings/namespace-limits.js';

export function SettingsPage() {
  const { reloadOverview } = useAppInfo();
  const [version, setVersion] = useState(0);
  const bump = () => setVersion((value) => value + 1);
  useEvents(['namespace.created', 'namespace.updated', 'namespace.deleted'], bump, bump);
  const settings = useResource((signal) => api.get<SettingsResponse>(adminRoutes.settings, undefined, signal), 'settings');
  const namespaces = useResource((signal) => api.get<NamespacesResponse>(adminRoutes.namespaces, undefined, signal), `ns:${version}`);

  return (
    <>
      <PageHeader title="Settings" description="Where Berth listens, the names in its certificate, and who may pull without a token." />
      <Stack gap="lg">
        <SectionCard title="Listeners and TLS" description="New listener addresses apply with “Apply and restart listeners”, or when Berth next starts.">
          {settings.error !== undefined ? (
            <LoadError error={settings.error} onRetry={settings.reload} />
          ) : !settings.data ? (
            <Group justify="center" py="md">
              <Loader size="sm" aria-label="Loading settings" />
            </Group>
          ) : (
            <Stack gap="lg">
              <Group gap="xl">
                <Text size="sm">
                  Running now: HTTP <code>{settings.data.running.http ?? 'off'}</code>, HTTPS <code>{settings.data.running.https ?? 'off'}</code>
                </Text>
              </Group>
              <ListenersForm
                settings={settings.data}
                onSaved={() => {
                  settings.reload();
                  reloadOverview();
                }}
              />
            </Stack>
          )}
        </SectionCard>

        <SectionCard title="Maintenance" description="Garbage collection, how long the audit trail is kept, and how often mirrored tags are checked.">
          {settings.data ? (
            <MaintenanceForm settings={settings.data} onSaved={settings.reload} />
          ) : settings.error === undefined ? (
            <Group justify="center" py="md">
              <Loader size="sm" aria-label="Loading maintenance settings" />
            </Group>
          ) : null}
        </SectionCard>

        <SectionCard title="Anonymous pull" description="Let anyone pull from a namespace without a token. Push and delete always need one.">
          {namespaces.error !== undefined ? (
            <LoadError error={namespaces.error} onRetry={namespaces.reload} />
          ) : !namespaces.data ? (
            <Group justify="center" py="md">
              <Loader size="sm" aria-label="Loading namespaces" />
            </Group>
          ) : (
            <NamespaceAccess namespaces={namespaces.data.namespaces} onChanged={bump} />
          )}
        </SectionCard>

        <SectionCard title="Retention" description="Per namespace: keep the newest tags, remove old untagged manifests, evict mirrored images nobody pulls. Preview first.">
          {namespaces.data ? <RetentionPanel namespaces={namespaces.data.namespaces.map((namespace) => namespace.name)} /> : null}
        </SectionCard>

        <SectionCard title="Quotas and immutable tags" description="Limit what a namespace stores and how much is pulled from it each month; keep released tags from moving.">
          {namespaces.data ? <NamespaceLimits namespaces={namespaces.data.namespaces} onChanged={bump} /> : null}
        </SectionCard>

        <SectionCard title="Encryption at rest" description="Blobs, manifests and uploads encrypted with AES-256-GCM; the master key is kept outside the data.">
          <EncryptionStatus />
        </SectionCard>

        <SectionCard title="Data directory" description="Images, state and keys. Set with --data or BERTH_DATA when Berth starts; read-only here.">
          {settings.data ? <InlineCode code={settings.data.dataDir} copyLabel="Copy data directory path" /> : <Text c="dimmed">—</Text>}
          {/* Shared S3 storage (--storage) holds the images instead; the desktop default shows nothing more. */}
          {settings.data && !settings.data.storageBackend.startsWith('filesystem ') ? (
            <Stack gap={4} mt="sm">
              <Text size="sm">Images are stored in (--storage):</Text>
              <InlineCode code={settings.data.storageBackend} copyLabel="Copy storage URL" />
            </Stack>
          ) : null}
        </SectionCard>
      </Stack>
    </>
  );
}
