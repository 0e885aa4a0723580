import { Button, Group, Loader, Paper, Switch, Text } from '@mantine/core';
import { useState } from 'react';
import { api } from '../api/client.js';
import { adminPaths, adminRoutes, type CreateTokenResponse, type NamespacesResponse, type TokensResponse, type TokenView } from '../api/contract.js';
import { useEvents } from '../api/events.js';
import { useResource } from '../api/use-resource.js';
import { useAppInfo } from '../app-context.js';
import { CodeSnippet } from '../components/code-snippet.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { EmptyState } from '../components/empty-state.js';
import { LoadError } from '../components/error-alert.js';
import { IconKey, IconPlus } from '../components/icons.js';
import { PageHeader } from '../components/page-header.js';
import { CreateTokenModal } from '../components/tokens/create-token-modal.js';
import { TokenSecretModal } from '../components/tokens/token-secret-modal.js';
import { TokenTable } from '../components/tokens/token-table.js';

export function TokensPage() {
  const { registryHost, reloadOverview } = useAppInfo();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreateTokenResponse>();
  const [revoking, setRevoking] = useState<TokenView>();
  const [showInactive, setShowInactive] = useState(false);
  const [version, setVersion] = useState(0);
  const bump = () => setVersion((value) => value + 1);
  useEvents(['token.created', 'token.revoked'], bump, bump);

  const tokens = useResource((signal) => api.get<TokensResponse>(adminRoutes.tokens, undefined, signal), `tokens:${version}`);
  const namespaces = useResource((signal) => api.get<NamespacesResponse>(adminRoutes.namespaces, undefined, signal), 'namespaces');

  const all = tokens.data?.tokens ?? [];
  const inactive = all.filter((token) => token.status !== 'active').length;
  const shown = showInactive ? all : all.filter((token) => token.status === 'active');
  const createButton = (
    <Button leftSection={<IconPlus size={16} />} onClick={() => setCreating(true)}>
      Create token
    </Button>
  );

  return (
    <>
      <PageHeader
        title="Access tokens"
        description="Tokens let Docker, Podman and CI push and pull. Each is limited to the repositories and actions you choose."
        actions={createButton}
      />
      <Paper withBorder radius="lg" p="lg">
        {tokens.error !== undefined ? (
          <LoadError error={tokens.error} onRetry={tokens.reload} />
        ) : !tokens.data ? (
          <Group justify="center" py="xl">
            <Loader aria-label="Loading tokens" />
          </Group>
        ) : all.length === 0 ? (
          <EmptyState icon={<IconKey size={28} />} title="No access tokens yet">
            <Text c="dimmed">Create a token, then sign your tools in with it:</Text>
            <CodeSnippet code={`docker login ${registryHost} -u <token name>`} copyLabel="Copy docker login command" />
            <Button variant="light" leftSection={<IconPlus size={16} />} onClick={() => setCreating(true)}>
              Create your first token
            </Button>
          </EmptyState>
        ) : (
          <>
            {inactive > 0 && (
              <Group justify="flex-end" mb="sm">
                <Switch
                  label={`Show revoked and expired (${inactive})`}
                  checked={showInactive}
                  onChange={(event) => setShowInactive(event.currentTarget.checked)}
                />
              </Group>
            )}
            {shown.length === 0 ? (
              <Text c="dimmed" size="sm" py="md" ta="center">
                No active tokens. Create one, or show the revoked and expired ones.
              </Text>
            ) : (
              <TokenTable tokens={shown} onRevoke={setRevoking} />
            )}
          </>
        )}
      </Paper>
      <CreateTokenModal
        opened={creating}
        namespaces={namespaces.data?.namespaces.map((entry) => entry.name) ?? []}
        onClose={() => setCreating(false)}
        onCreated={(response) => {
          setCreating(false);
          setCreated(response);
          bump();
          reloadOverview();
        }}
      />
      <TokenSecretModal created={created} onClose={() => setCreated(undefined)} />
      <ConfirmDialog
        opened={revoking !== undefined}
        title="Revoke token?"
        confirmLabel="Revoke token"
        onClose={() => setRevoking(undefined)}
        onConfirm={async () => {
          if (!revoking) return;
          await api.delete(adminPaths.token(revoking.name));
          bump();
          reloadOverview();
        }}
      >
        <Text size="sm">
          Revoking <strong>{revoking?.name}</strong> stops it working at once: every client signed in with it (
          {revoking?.scopeText.join(', ')}) will be refused on its next request. This cannot be undone.
        </Text>
      </ConfirmDialog>
    </>
  );
}
