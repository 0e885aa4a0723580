import { Alert, Badge, Button, Group, Paper, Stack, Text, Tooltip } from '@mantine/core';
import { useState } from 'react';
import { api } from '../../api/client.js';
import { adminPaths, type UpstreamTestResponse, type UpstreamView } from '../../api/contract.js';
import { ErrorAlert } from '../error-alert.js';
import { IconPencil, IconPlay, IconTrash } from '../icons.js';

export type HealthMap = Record<string, { online: boolean; lastError?: string }>;

/** Ends an error message with a full stop, so the advice after it reads as its own sentence. */
function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function HealthBadge({ health }: { health: UpstreamView['health'] }) {
  if (!health) {
    return (
      <Tooltip label="The mirror service is not running in this Berth">
        <Badge color="gray" variant="light">
          unknown
        </Badge>
      </Tooltip>
    );
  }
  return health.online ? (
    <Badge color="teal" variant="light">
      online
    </Badge>
  ) : (
    <Badge color="orange" variant="filled">
      offline
    </Badge>
  );
}

function UpstreamCard({ upstream, onEdit, onDelete }: { upstream: UpstreamView; onEdit: () => void; onDelete: () => void }) {
  const [testing, setTesting] = useState(false);
  const [result, setResult] = useState<UpstreamTestResponse>();
  const [error, setError] = useState<unknown>();
  const test = async () => {
    setTesting(true);
    setResult(undefined);
    setError(undefined);
    try {
      setResult(await api.post<UpstreamTestResponse>(adminPaths.upstreamTest(upstream.name)));
    } catch (reason) {
      setError(reason);
    } finally {
      setTesting(false);
    }
  };
  const offline = upstream.health && !upstream.health.online;
  return (
    <Paper withBorder radius="md" p="md" component="article" aria-label={`Upstream ${upstream.name}`}>
      <Group justify="space-between" align="flex-start" wrap="wrap" gap="sm">
        <Stack gap={4} style={{ minWidth: 0 }}>
          <Group gap="xs">
            <Text fw={700}>{upstream.name}</Text>
            <HealthBadge health={upstream.health} />
            {upstream.isDefault && (
              <Badge variant="light" color="harbour">
                default
              </Badge>
            )}
            {upstream.insecure && (
              <Badge variant="light" color="orange">
                TLS not verified
              </Badge>
            )}
            {upstream.username && (
              <Badge variant="light" color="gray" tt="none">
                as {upstream.username}
              </Badge>
            )}
            {upstream.anonymousPull ? (
              <Tooltip label={`Anyone who can reach Berth may pull ${upstream.name}/… without a token`}>
                <Badge variant="light" color="yellow">
                  anonymous pull
                </Badge>
              </Tooltip>
            ) : (
              <Tooltip label={`Pulls need an access token with ${upstream.name}/*:pull`}>
                <Badge variant="light" color="gray">
                  private
                </Badge>
              </Tooltip>
            )}
          </Group>
          <Text size="sm" className="berth-mono berth-break">
            {upstream.url}
          </Text>
          {upstream.aliases.length > 0 && (
            <Text size="xs" c="dimmed">
              Also known as {upstream.aliases.join(', ')}
            </Text>
          )}
          <Text size="xs" c="dimmed">
            Pull through: <code>{upstream.name}/library/alpine</code>
          </Text>
        </Stack>
        <Group gap="xs">
          <Button size="xs" variant="light" leftSection={<IconPlay size={14} />} onClick={() => void test()} loading={testing} aria-label={`Test ${upstream.name}`}>
            Test
          </Button>
          <Button size="xs" variant="default" leftSection={<IconPencil size={14} />} onClick={onEdit} aria-label={`Edit ${upstream.name}`}>
            Edit
          </Button>
          <Button size="xs" variant="subtle" color="red" leftSection={<IconTrash size={14} />} onClick={onDelete} aria-label={`Delete ${upstream.name}`}>
            Delete
          </Button>
        </Group>
      </Group>
      {offline && (
        <Alert mt="sm" color="orange" variant="light" title="Offline: Berth serves what it has cached">
          <Text size="sm">
            {sentence(upstream.health?.lastError ?? 'Recent requests failed')} Berth retries on its own; use Test to check now.
          </Text>
        </Alert>
      )}
      {result && (
        <Alert mt="sm" color={result.ok ? 'teal' : 'red'} variant="light" role="status" title={result.ok ? 'Connection works' : 'Connection failed'}>
          <Text size="sm">
            {result.message}
            {result.latencyMs !== undefined ? ` (${Math.round(result.latencyMs)} ms)` : ''}
          </Text>
        </Alert>
      )}
      {error !== undefined && (
        <Stack mt="sm">
          <ErrorAlert error={error} />
        </Stack>
      )}
    </Paper>
  );
}

/** Upstreams with their live health merged in (`health` overrides what the list request returned). */
export function UpstreamList({ upstreams, health, onEdit, onDelete }: {
  upstreams: UpstreamView[];
  health: HealthMap;
  onEdit: (upstream: UpstreamView) => void;
  onDelete: (upstream: UpstreamView) => void;
}) {
  return (
    <Stack gap="sm">
      {upstreams.map((upstream) => {
        const merged = { ...upstream, health: health[upstream.name] ?? upstream.health };
        return <UpstreamCard key={upstream.name} upstream={merged} onEdit={() => onEdit(upstream)} onDelete={() => onDelete(upstream)} />;
      })}
    </Stack>
  );
}
