import { Button } from '@mantine/core';
import { useState } from 'react';
import { api } from '../../api/client.js';
import { adminPaths, adminRoutes, type PinRequest, type PinsResponse } from '../../api/contract.js';
import { useResource } from '../../api/use-resource.js';
import { ErrorAlert } from '../error-alert.js';
import { IconPin } from '../icons.js';

/** Pins or unpins one tag or digest (retention never removes a pinned image), for the image details. */
export function PinToggle({ repository, reference }: { repository: string; reference: string }) {
  const pins = useResource((signal) => api.get<PinsResponse>(adminPaths.pins(repository), undefined, signal), `pins:${repository}`);
  const pinned = (pins.data?.pins ?? []).some((pin) => pin.reference === reference);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const toggle = async () => {
    setBusy(true);
    setError(undefined);
    try {
      if (pinned) await api.delete(adminPaths.pin(repository, reference));
      else await api.post(adminRoutes.pins, { repository, reference } satisfies PinRequest);
      pins.reload();
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Button
        variant={pinned ? 'light' : 'default'}
        leftSection={<IconPin size={16} />}
        aria-pressed={pinned}
        loading={busy || pins.loading}
        onClick={() => void toggle()}
        title={pinned ? 'Retention never removes this image; click to unpin' : 'Pin: retention never removes this image'}
      >
        {pinned ? 'Pinned' : 'Pin'}
      </Button>
      {error !== undefined && <ErrorAlert error={error} />}
    </>
  );
}
