import { Alert, Anchor, Button, Group, Paper, Progress, Stack, Text } from '@mantine/core';
import { useRef, useState, type DragEvent } from 'react';
import { uploadFile, withQuery } from '../../api/client.js';
import { adminRoutes, type AdminEvent, type ImportArchiveResponse, type ImportPendingResponse, type ImportPhase } from '../../api/contract.js';
import { useEvents } from '../../api/events.js';
import { formatBytes } from '../../format.js';
import { hrefFor, Link } from '../../router.js';
import { ErrorAlert } from '../error-alert.js';
import { IconCheck, IconDownload } from '../icons.js';

/**
 * Drag-and-drop import on the Images page: an archive dropped here (or chosen with the button) is uploaded to
 * POST /api/images/import and imported exactly as `berth import` would. The bar shows the upload (from the browser),
 * then the server's checking and storing (its `import.progress` events); the outcome stays until the next import.
 */

type Status =
  | { kind: 'idle' }
  | { kind: 'running'; archive: string; phase: ImportPhase; bytes: number; total?: number; id?: string }
  | { kind: 'done'; result: ImportArchiveResponse }
  /** A long import answered 202: its outcome came as an import.finished event. */
  | { kind: 'finished'; archive: string; message: string }
  | { kind: 'failed'; archive: string; error: unknown };

const phaseText: Record<ImportPhase, string> = { uploading: 'Uploading', checking: 'Checking every digest', storing: 'Storing new layers' };

export function ImportDropZone({ onImported }: { onImported: () => void }) {
  const [status, setStatus] = useState<Status>({ kind: 'idle' });
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const running = status.kind === 'running';

  useEvents(['import.progress', 'import.finished'], (event: AdminEvent) => {
    if (event.type === 'import.finished') {
      // Only for an import the server answered 202 (still running): the others end with their own answer.
      setStatus((current) => {
        if (current.kind !== 'running' || current.id !== event.id) return current;
        if (event.ok) onImported();
        return event.ok ? { kind: 'finished', archive: event.archive, message: event.message } : { kind: 'failed', archive: event.archive, error: new Error(event.message) };
      });
      return;
    }
    if (event.type !== 'import.progress' || event.phase === 'uploading') return;
    setStatus((current) => (current.kind === 'running' && current.archive === event.archive ? { ...current, phase: event.phase, bytes: event.bytes, total: event.total } : current));
  });

  async function start(file: File | undefined): Promise<void> {
    if (!file || running) return;
    setStatus({ kind: 'running', archive: file.name, phase: 'uploading', bytes: 0, total: file.size });
    try {
      const result = await uploadFile<ImportArchiveResponse | ImportPendingResponse>(
        withQuery(adminRoutes.imageImport, { name: file.name }),
        file,
        (sent, total) => setStatus((current) => (current.kind === 'running' && current.phase === 'uploading' ? { ...current, bytes: sent, total } : current)),
        () => setStatus((current) => (current.kind === 'running' && current.phase === 'uploading' ? { ...current, phase: 'checking', bytes: 0 } : current)),
      );
      if ('pending' in result) {
        setStatus((current) => (current.kind === 'running' ? { ...current, id: result.id } : current));
        return;
      }
      setStatus({ kind: 'done', result });
      onImported();
    } catch (error) {
      setStatus({ kind: 'failed', archive: file.name, error });
    }
  }

  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setOver(false);
    void start(event.dataTransfer.files[0]);
  };
  const percent = status.kind === 'running' && status.total ? Math.min(100, Math.round((status.bytes / status.total) * 100)) : 0;

  return (
    <Paper
      withBorder
      radius="lg"
      p="lg"
      data-testid="import-drop-zone"
      style={{ borderStyle: 'dashed', borderWidth: 2, borderColor: over ? 'var(--mantine-color-blue-filled)' : undefined }}
      onDragOver={(event) => {
        event.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <Stack gap="sm">
        <Group justify="space-between" wrap="wrap" gap="sm">
          <div>
            <Text fw={600}>Import images from an archive</Text>
            <Text size="sm" c="dimmed">
              Drop a <code>berth export</code>, <code>docker save</code> or OCI layout <code>.tar</code> here. Every layer is checked against its digest; a damaged archive imports nothing.
            </Text>
          </div>
          <Button leftSection={<IconDownload size={16} />} variant="light" onClick={() => input.current?.click()} disabled={running}>
            Choose archive…
          </Button>
          <input
            ref={input}
            type="file"
            accept=".tar,application/x-tar"
            hidden
            aria-label="Archive to import"
            onChange={(event) => {
              const element = event.currentTarget;
              // Cleared after the import, so choosing the same file again starts another import.
              void start(element.files?.[0]).finally(() => (element.value = ''));
            }}
          />
        </Group>
        {status.kind === 'running' && (
          <Stack gap={4} role="status" aria-live="polite">
            <Text size="sm">
              {phaseText[status.phase]} {status.archive}… {status.total ? `${formatBytes(status.bytes)} of ${formatBytes(status.total)}` : ''}
            </Text>
            <Progress value={percent} animated aria-label={`${phaseText[status.phase]}: ${percent}%`} />
          </Stack>
        )}
        {status.kind === 'done' && (
          <Alert color="green" variant="light" icon={<IconCheck />} title={`Imported ${status.result.archive}`} role="status">
            <Stack gap={2}>
              {status.result.images.map((image) => (
                <Anchor key={`${image.repository}:${image.tag ?? image.digest}`} component={Link} href={hrefFor('images', image.repository.split('/'))} size="sm">
                  {image.tag ? `${image.repository}:${image.tag}` : `${image.repository}@${image.digest.slice(0, 19)}…`}
                </Anchor>
              ))}
              <Text size="sm" c="dimmed">
                {status.result.blobsStored} layer(s) and config(s) stored ({formatBytes(status.result.bytesStored)}), {status.result.blobsReused} already here.
              </Text>
            </Stack>
          </Alert>
        )}
        {status.kind === 'finished' && (
          <Alert color="green" variant="light" icon={<IconCheck />} title={`Imported ${status.archive}`} role="status">
            <Text size="sm">{status.message}</Text>
          </Alert>
        )}
        {status.kind === 'failed' && <ErrorAlert error={status.error} title={`${status.archive} was not imported`} />}
      </Stack>
    </Paper>
  );
}
