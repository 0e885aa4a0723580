import { Alert, Button, Code, Group, Text } from '@mantine/core';
import { ApiError, describeError } from '../api/client.js';
import { IconAlert } from './icons.js';
import { InlineCodeText } from './inline-code-text.js';

/** Any error as: what went wrong (title), what to do (hint), and a retry when the caller can retry. */
export function ErrorAlert({ error, onRetry, title }: { error: unknown; onRetry?: () => void; title?: string }) {
  const described = describeError(error);
  return (
    <Alert color="red" variant="light" icon={<IconAlert />} title={title ?? <InlineCodeText text={described.title} />} role="alert">
      {title && (
        <Text size="sm">
          <InlineCodeText text={described.title} />
        </Text>
      )}
      {described.hint && (
        <Text size="sm" mt={title ? 4 : 0}>
          <InlineCodeText text={described.hint} />
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

/**
 * A panel's failed load. When Berth does not answer at all, the shell already says so once (ConnectionNotice) and
 * the load repeats by itself when Berth is back, so the panel shows nothing rather than one more identical box.
 */
export function LoadError({ error, onRetry, title }: { error: unknown; onRetry?: () => void; title?: string }) {
  if (error instanceof ApiError && error.unreachable) return null;
  return <ErrorAlert error={error} onRetry={onRetry} title={title} />;
}
