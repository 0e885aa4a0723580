import { Alert, Button, Code, Text } from '@mantine/core';
import { useState } from 'react';
import { checkReachable } from '../api/client.js';
import { useReachable } from '../api/connection.js';
import { IconAlert } from './icons.js';

/**
 * The one message for "Berth does not answer", above every page while it lasts. Pages keep what they already show
 * (LoadError hides their own copies of this), and everything reloads by itself once Berth answers again.
 */
export function ConnectionNotice() {
  const reachable = useReachable();
  const [checking, setChecking] = useState(false);
  if (reachable) return null;
  const check = async () => {
    setChecking(true);
    try {
      await checkReachable();
    } finally {
      setChecking(false);
    }
  };
  return (
    <Alert color="red" variant="light" icon={<IconAlert />} title="Berth is not answering" role="alert" mb="lg">
      <Text size="sm">
        This page cannot reach Berth at <Code fz="0.95em">{window.location.host}</Code>. If Berth was stopped, start it again with{' '}
        <Code fz="0.95em">berth serve</Code> or by opening the Berth app. The page reconnects by itself and then shows current data.
      </Text>
      <Button mt="sm" size="xs" variant="white" color="red" onClick={() => void check()} loading={checking}>
        Check again
      </Button>
    </Alert>
  );
}
