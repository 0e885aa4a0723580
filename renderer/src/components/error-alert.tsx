import { Alert, Button, Code, Group, Text } from '@mantine/core';
import { describeError } from '../api/client.js';
import { IconAlert } from './icons.js';

/** Any error as: what went wrong (title), what to do (hint), and a retry when the caller can retry. */
export function ErrorAlert({ error, onRetry, title }: { error: unknown; onRetry?: () => void; title?: string }) {
  const described = describeError(error);
  return (
    <Alert color="red" variant="light" icon={<IconAlert />} title={title ?? described.title} role="alert">
      {title && <Text size="sm">{described.title}</Text>}
      {described.hint && (
        <Text size="sm" mt={title ? 4 : 0}>
          {described.hint}
        </Text>
      )}
      {(onRetry || described.code) && (
        <Group mt="xs" gap="sm">
          {onRetry && (
            <Button size="xs" variant="white" color="red" onClick={onRetry}>
              Try again
            </Button>
          )}
          {described.code && (
            <Code fz="xs" c="dimmed">
              {described.code}
            </Code>
          )}
        </Group>
      )}
    </Alert>
  );
}
