import { Alert, Button, Group, Modal, Stack, Text, TextInput } from '@mantine/core';
import { useEffect, useRef, useState } from 'react';
import type { CreateTokenResponse } from '../../api/contract.js';
import { CodeSnippet } from '../code-snippet.js';
import { CopyTextButton } from '../copy-button.js';
import { IconAlert } from '../icons.js';

/**
 * The secret, exactly once. Esc, a click outside or the close button do not throw it away: they ask first, inside
 * the dialog, with "Keep it open" focused, so a stray key or click cannot lose a token. Only "I have copied the
 * token" (or confirming the question) closes it.
 */
export function TokenSecretModal({ created, onClose }: { created: CreateTokenResponse | undefined; onClose: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const keepOpen = useRef<HTMLButtonElement>(null);
  useEffect(() => setConfirming(false), [created]);
  useEffect(() => {
    if (confirming) keepOpen.current?.focus();
  }, [confirming]);
  return (
    <Modal
      opened={created !== undefined}
      onClose={() => setConfirming(true)}
      title={<Text fw={700}>Token “{created?.record.name}” created</Text>}
      size="lg"
      centered
    >
      {created && (
        <Stack gap="md">
          <Alert color="orange" variant="light" icon={<IconAlert />} title="Copy it now: you will not see it again">
            Berth stores only a hash of this token. If you lose it, revoke it and create a new one.
          </Alert>
          <Group gap="sm" align="flex-end" wrap="nowrap">
            <TextInput
              label="Token secret"
              value={created.token}
              readOnly
              onFocus={(event) => event.currentTarget.select()}
              styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
              style={{ flex: 1 }}
            />
            <CopyTextButton value={created.token} label="Copy token" />
          </Group>
          <Text size="sm">
            Sign Docker in with it: put the token in <code>TOKEN</code> (for example <code>read -rs TOKEN</code>, then paste it), then run
            this. The secret stays out of your shell history.
          </Text>
          <CodeSnippet code={created.loginCommand} label="docker login" copyLabel="Copy docker login command" />
          {confirming ? (
            <Alert color="red" variant="light" role="alert" title="Close without the token?">
              <Stack gap="sm">
                <Text size="sm">Once this dialog is closed the secret cannot be shown again; you would have to create a new token.</Text>
                <Group justify="flex-end" gap="sm">
                  <Button ref={keepOpen} variant="default" onClick={() => setConfirming(false)}>
                    Keep it open
                  </Button>
                  <Button color="red" onClick={onClose}>
                    Close without copying
                  </Button>
                </Group>
              </Stack>
            </Alert>
          ) : (
            <Group justify="flex-end">
              <Button variant="default" onClick={onClose}>
                I have copied the token
              </Button>
            </Group>
          )}
        </Stack>
      )}
    </Modal>
  );
}
