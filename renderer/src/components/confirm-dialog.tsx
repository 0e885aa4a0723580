import { Button, Group, Modal, Stack, Text } from '@mantine/core';
import { useState, type ReactNode } from 'react';
import { ErrorAlert } from './error-alert.js';

export interface ConfirmDialogProps {
  opened: boolean;
  title: string;
  /** Says exactly what will be deleted or revoked. */
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}

/**
 * A destructive action's last question. The confirm button is red and names the action; Cancel has the
 * initial focus, so Enter on an accidental open does nothing harmful. Errors stay inside the dialog.
 */
export function ConfirmDialog({ opened, title, children, confirmLabel, onConfirm, onClose }: ConfirmDialogProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const close = () => {
    if (busy) return;
    setError(undefined);
    onClose();
  };
  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm();
      setBusy(false);
      onClose();
    } catch (reason) {
      setBusy(false);
      setError(reason);
    }
  };
  return (
    <Modal opened={opened} onClose={close} title={<Text fw={600}>{title}</Text>} centered>
      <Stack gap="md">
        <div>{children}</div>
        {error !== undefined && <ErrorAlert error={error} />}
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={close} data-autofocus>
            Cancel
          </Button>
          <Button color="red" onClick={() => void confirm()} loading={busy}>
            {confirmLabel}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
