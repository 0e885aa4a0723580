import { Anchor, Badge, Button, Group, SimpleGrid, Stack, Table, Tabs, Text } from '@mantine/core';
import { useEffect } from 'react';
import { adminRoutes, type OverviewResponse } from '../api/contract.js';
import { useEvents } from '../api/events.js';
import { useAppInfo } from '../app-context.js';
import { auditSubject, OutcomeBadge } from '../components/audit-event.js';
import { CodeSnippet, InlineCode } from '../components/code-snippet.js';
import { EmptyState } from '../components/empty-state.js';
import { IconBox, IconCloud, IconDownload, IconFolder, IconKey, IconLock } from '../components/icons.js';
import { PageHeader } from '../components/page-header.js';
import { RelativeTime } from '../components/relative-time.js';
import { columnPriority, ResponsiveTable } from '../components/responsive-table.js';
import { SectionCard } from '../components/section-card.js';
import { StatCard } from '../components/stat-card.js';
import { FreeSpaceButton } from '../components/storage/free-space-button.js';
import { formatBytes, formatCount } from '../format.js';
import { hrefFor, Link } from '../router.js';

function Listeners({ overview, host }: { overview: OverviewResponse; host: string }) {
  const rows: Array<[string, string | undefined, string]> = [
    ['HTTP', overview.listeners.http, 'Loopback only: for this machine’s clients.'],
    ['HTTPS', overview.listeners.https, 'TLS with Berth’s local CA: for other machines and strict clients.'],
  ];
  return (
    <SectionCard title="Listeners" description="Where Berth answers. Clients use the registry address below in image names.">
      <Stack gap="sm">
        <Group gap="xs" wrap="nowrap">
          <Text size="sm" fw={600} w={130} style={{ flexShrink: 0 }}>
            Registry address
          </Text>
          <InlineCode code={host} copyLabel="Copy registry address" />
        </Group>
        {rows.map(([name, url, explanation]) => (
          <Group key={name} gap="xs" wrap="nowrap" align="flex-start">
            <Text size="sm" fw={600} w={130} style={{ flexShrink: 0 }}>
              {name}
            </Text>
            {url ? (
              <div>
                <Anchor href={url} size="sm" className="berth-mono" target="_blank" rel="noreferrer">
                  {url}
                </Anchor>
                <Text size="xs" c="dimmed">
                  {explanation}
                </Text>
              </div>
            ) : (
              <Text size="sm" c="dimmed">
                Off. Set it up under{' '}
                <Anchor component={Link} href={hrefFor('settings')}>
                  Listeners and TLS
                </Anchor>
                .
              </Text>
            )}
          </Group>
        ))}
        <Group gap="xs" wrap="nowrap" align="flex-start">
          <Text size="sm" fw={600} w={130} style={{ flexShrink: 0 }}>
            Data directory
          </Text>
          <Text size="sm" className="berth-mono berth-break">
            {overview.dataDir}
          </Text>
        </Group>
      </Stack>
    </SectionCard>
  );
}

function TlsPanel({ overview }: { overview: OverviewResponse }) {
  const { tls } = overview;
  const download = (
    <Button component="a" href={adminRoutes.caCertificate} download="berth-ca.crt" variant="light" leftSection={<IconDownload size={16} />}>
      Download CA certificate
    </Button>
  );
  return (
    <SectionCard
      title="TLS"
      description="Clients on other machines need to trust Berth’s local certificate authority once."
      actions={tls.ca ? download : undefined}
    >
      {tls.enabled ? (
        <Stack gap={6}>
          <Group gap="xs">
            <Badge color="teal" variant="light" leftSection={<IconLock size={12} />}>
              HTTPS on
            </Badge>
            {tls.server && (
              <Text size="sm" c="dimmed">
                server certificate expires <RelativeTime value={tls.server.notAfter} />
              </Text>
            )}
          </Group>
          {tls.server && (
            <Text size="sm">
              Names: <span className="berth-mono">{tls.server.names.join(', ')}</span>
            </Text>
          )}
          {tls.ca && (
            <Text size="xs" c="dimmed" className="berth-mono berth-break" title="SHA-256 fingerprint of the CA certificate">
              CA SHA-256 {tls.ca.fingerprint256}
            </Text>
          )}
        </Stack>
      ) : (
        <Stack gap={6}>
          <Badge color="gray" variant="light">
            HTTPS off
          </Badge>
          <Text size="sm" c="dimmed">
            Plain HTTP on loopback works for this machine. To serve other machines, set up the HTTPS listener under{' '}
            <Anchor component={Link} href={hrefFor('settings')}>
              Listeners and TLS
            </Anchor>
            .
          </Text>
        </Stack>
      )}
    </SectionCard>
  );
}

function SetupSnippets({ overview }: { overview: OverviewResponse }) {
  const { setup } = overview;
  return (
    <SectionCard title="Connect your tools" description="Copy, paste, done. Every line uses this Berth’s real address.">
      <Tabs defaultValue="docker" keepMounted={false}>
        <Tabs.List mb="md">
          <Tabs.Tab value="docker">Docker</Tabs.Tab>
          <Tabs.Tab value="login">docker login</Tabs.Tab>
          <Tabs.Tab value="podman">Podman</Tabs.Tab>
          <Tabs.Tab value="containerd">containerd</Tabs.Tab>
          <Tabs.Tab value="push">Push and pull</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="docker">
          <Text size="sm" mb="xs">
            Use Berth as a pull-through mirror: add this to <code>/etc/docker/daemon.json</code>, then restart Docker.
          </Text>
          <CodeSnippet code={setup.dockerDaemonJson} label="daemon.json" copyLabel="Copy daemon.json" />
        </Tabs.Panel>
        <Tabs.Panel value="login">
          <Text size="sm" mb="xs">
            Sign Docker in with an access token (
            <Anchor component={Link} href={hrefFor('tokens')}>
              create one
            </Anchor>{' '}
            first); paste the token when asked for the password.
          </Text>
          <CodeSnippet code={setup.dockerLogin} label="Terminal" copyLabel="Copy docker login command" />
        </Tabs.Panel>
        <Tabs.Panel value="podman">
          <Text size="sm" mb="xs">
            Podman, Buildah and Skopeo share this login.
          </Text>
          <CodeSnippet code={setup.podmanLogin} label="Terminal" copyLabel="Copy podman login command" />
        </Tabs.Panel>
        <Tabs.Panel value="containerd">
          <Text size="sm" mb="xs">
            Save as <code>/etc/containerd/certs.d/{overview.registryHost ?? 'HOST'}/hosts.toml</code> (and point containerd’s{' '}
            <code>config_path</code> at <code>/etc/containerd/certs.d</code>).
          </Text>
          <CodeSnippet code={setup.containerdHostsToml} label="hosts.toml" copyLabel="Copy hosts.toml" />
        </Tabs.Panel>
        <Tabs.Panel value="push">
          <CodeSnippet code={setup.pushExample} label="Terminal" copyLabel="Copy push example" />
        </Tabs.Panel>
      </Tabs>
    </SectionCard>
  );
}

function RecentActivity({ overview }: { overview: OverviewResponse }) {
  const events = overview.recentActivity;
  return (
    <SectionCard
      title="Recent activity"
      actions={
        <Button component={Link} href={hrefFor('audit')} variant="subtle" size="xs">
          See all activity
        </Button>
      }
    >
      {events.length === 0 ? (
        <Text size="sm" c="dimmed">
          Nothing yet. Pushes, pulls, token changes and denied requests appear here.
        </Text>
      ) : (
        <ResponsiveTable label="Recent activity">
          <Table verticalSpacing={6} fz="sm" aria-label="Recent activity">
            <Table.Tbody>
              {events.map((event, index) => (
                <Table.Tr key={`${event.time}-${index}`}>
                  <Table.Td c="dimmed" w={130}>
                    <RelativeTime value={event.time} />
                  </Table.Td>
                  <Table.Td fw={500}>{event.action}</Table.Td>
                  <Table.Td className="berth-mono berth-break">{auditSubject(event)}</Table.Td>
                  <Table.Td c="dimmed" className={columnPriority.medium}>
                    {event.actor}
                  </Table.Td>
                  <Table.Td ta="right">
                    <OutcomeBadge outcome={event.outcome} />
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </ResponsiveTable>
      )}
    </SectionCard>
  );
}

export function OverviewPage() {
  const { overview, registryHost, reloadOverview } = useAppInfo();
  // The events below only refresh the overview while this page is open: coming back from another page, where
  // pushes or sync jobs may have changed the numbers, loads it again (the old figures stay until it arrives).
  useEffect(() => reloadOverview(), [reloadOverview]);
  // The overview is cheap: refresh it on anything that changes its numbers.
  useEvents(
    ['manifest.pushed', 'manifest.deleted', 'tag.deleted', 'upstream.health', 'token.created', 'token.revoked', 'job.finished'],
    reloadOverview,
    reloadOverview,
  );
  if (!overview) return <PageHeader title="Overview" />;
  const { upstreams } = overview;
  return (
    <>
      <PageHeader title="Overview" description="Your local registry and mirror at a glance." />
      <Stack gap="lg">
        <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }} spacing="md">
          <StatCard
            label="Repositories"
            value={formatCount(overview.repositories)}
            detail={
              <Anchor component={Link} href={hrefFor('images')} size="sm">
                {overview.repositories === 0 ? 'Push your first image' : 'Browse repositories'}
              </Anchor>
            }
            icon={<IconBox size={22} />}
          />
          <StatCard
            label="Storage used"
            value={formatBytes(overview.storage.bytes)}
            detail={`${formatCount(overview.storage.blobs)} blobs`}
            icon={<IconFolder size={22} />}
            color="grape"
            action={<FreeSpaceButton onFreed={reloadOverview} />}
          />
          <StatCard
            label="Upstreams"
            value={upstreams.total === 0 ? '—' : `${upstreams.online}/${upstreams.total}`}
            detail={
              upstreams.total === 0 ? (
                <Anchor component={Link} href={hrefFor('mirror')} size="sm">
                  Add an upstream to mirror
                </Anchor>
              ) : upstreams.offline > 0 ? (
                <Text span c="orange" size="sm" fw={500}>
                  {upstreams.offline} offline: serving from cache
                </Text>
              ) : (
                'all online'
              )
            }
            icon={<IconCloud size={22} />}
            color={upstreams.offline > 0 ? 'orange' : 'teal'}
          />
          <StatCard
            label="Access tokens"
            value={formatCount(overview.tokens.active)}
            detail={
              <Anchor component={Link} href={hrefFor('tokens')} size="sm">
                {overview.tokens.active === 0 ? 'Create one for docker login' : 'active'}
              </Anchor>
            }
            icon={<IconKey size={22} />}
            color="yellow"
          />
        </SimpleGrid>
        {overview.repositories === 0 && (
          <SectionCard title="Get started">
            <EmptyState icon={<IconBox size={28} />} title="No images yet">
              <Text c="dimmed">Push your first image, then find it under Images:</Text>
              <CodeSnippet code={`docker push ${registryHost}/team/app:1`} copyLabel="Copy push command" />
            </EmptyState>
          </SectionCard>
        )}
        <SimpleGrid cols={{ base: 1, md: 2 }} spacing="lg">
          <Listeners overview={overview} host={registryHost} />
          <TlsPanel overview={overview} />
        </SimpleGrid>
        <SetupSnippets overview={overview} />
        <RecentActivity overview={overview} />
      </Stack>
    </>
  );
}
