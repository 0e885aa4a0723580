import { Alert, Button, Group, Modal, Stack, Text, TextInput } from '@mantine/core';
import type { CreateTokenResponse } from '../../api/contract.js';
import { CodeSnippet } from '../code-snippet.js';
import { CopyTextButton } from '../copy-button.js';
import { IconAlert } from '../icons.js';

/**
 * The secret, exactly once. Clicking outside does not close it: the only ways out are the buttons, so nobody
 * loses a token to a stray click.
 */
export function TokenSecretModal({ created, onClose }: { created: CreateTokenResponse | undefined; onClose: () => void }) {
  return (
    <Modal
      opened={created !== undefined}
      onClose={onClose}
      title={<Text fw={700}>Token “{created?.record.name}” created</Text>}
      size="lg"
      centered
      closeOnClickOutside={false}
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
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              I have copied the token
            </Button>
          </Group>
        </Stack>
      )}
    </Modal>
  );
}
