import { Button, Group, Stack, Text } from '@mantine/core';
import { useState } from 'react';
import { api } from '../../api/client.js';
import { adminRoutes, type EncryptionStatusResponse } from '../../api/contract.js';
import { useResource } from '../../api/use-resource.js';
import { ErrorAlert, LoadError } from '../error-alert.js';

/**
 * Encryption at rest: one line saying whether it is on and how many blobs are encrypted, and the button that turns it
 * on (`berth encryption enable`). Key rotation stays on the CLI (`berth encryption rotate`), where it is scripted.
 */
export function EncryptionStatus() {
  const [version, setVersion] = useState(0);
  const status = useResource((signal) => api.get<EncryptionStatusResponse>(adminRoutes.encryption, undefined, signal), `encryption:${version}`);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  const enable = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api.post<EncryptionStatusResponse>(adminRoutes.encryptionEnable);
      setVersion((value) => value + 1);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  if (status.error !== undefined) return <LoadError error={status.error} onRetry={status.reload} />;
  if (!status.data) return <Text c="dimmed">—</Text>;
  const { enabled, blobs, keyRing, pass } = status.data;
  return (
    <Stack gap="xs">
      <Text size="sm" data-testid="encryption-line">
        {enabled
          ? `On: ${blobs.encrypted} blobs encrypted, ${blobs.plaintext} plaintext${pass?.running ? ` (encrypting existing blobs: ${pass.encrypted} done)` : ''}. Master key ${keyRing.activeKey ?? '?'} in ${keyRing.source}.`
          : `Off: ${blobs.plaintext} blobs stored in plaintext.`}
      </Text>
      {error !== undefined ? <ErrorAlert error={error} /> : null}
      <Group>
        {!enabled || blobs.plaintext > 0 ? (
          <Button size="xs" loading={busy} onClick={() => void enable()}>
            {enabled ? 'Encrypt the remaining blobs' : 'Turn on encryption'}
          </Button>
        ) : null}
        {pass?.running ? (
          <Button size="xs" variant="default" onClick={() => setVersion((value) => value + 1)}>
            Refresh
          </Button>
        ) : null}
      </Group>
    </Stack>
  );
}
