import { Card, Center, Code, Stack, Text, Title } from '@mantine/core';
import type { ApiError } from '../api/client.js';
import { useDocumentTitle } from '../router.js';
import { BerthLogo } from './berth-logo.js';
import { CodeSnippet } from './code-snippet.js';
import { InlineCodeText } from './inline-code-text.js';

/**
 * Shown for any 401: the GUI has no password form on purpose. Sign-in links come from the CLI on the machine
 * that runs Berth, so whoever can use the GUI could already read the data directory.
 */
export function SignInScreen({ error }: { error: ApiError }) {
  useDocumentTitle('Sign in');
  return (
    <Center mih="100vh" p="md" component="main">
      <Card withBorder shadow="sm" radius="lg" p="xl" maw={520} w="100%">
        <Stack gap="md">
          <BerthLogo size={40} />
          <Title order={1} fz={24}>
            Sign in to Berth
          </Title>
          <Text>
            This page needs a sign-in link. On the machine where Berth runs, run <Code>berth ui-url</Code> and open the
            link it prints. The link works once and signs this browser in.
          </Text>
          <CodeSnippet code="berth ui-url" label="Terminal" copyLabel="Copy command" />
          <Text size="sm" c="dimmed">
            In the Berth desktop app you are signed in automatically; if you see this there, restart the app.
          </Text>
          {error.code !== 'BERTH_ADMIN_SIGNIN_REQUIRED' && (
            <Text size="sm" c="red">
              <InlineCodeText text={error.hint ? `${error.message} ${error.hint}` : error.message} />
            </Text>
          )}
        </Stack>
      </Card>
    </Center>
  );
}
