import { Alert, Button, Group, Loader, Paper, Text, TextInput } from '@mantine/core';
import { useState } from 'react';
import { api, ApiError } from '../api/client.js';
import { adminPaths, type EmptyTrashResponse, type RestoreTrashResponse, type TrashEntryView, type TrashResponse } from '../api/contract.js';
import { useEvents } from '../api/events.js';
import { useResource } from '../api/use-resource.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { EmptyState } from '../components/empty-state.js';
import { ErrorAlert, LoadError } from '../components/error-alert.js';
import { IconCheck, IconTrash } from '../components/icons.js';
import { PageHeader } from '../components/page-header.js';
import { TrashDaysForm } from '../components/trash/trash-days-form.js';
import { TrashTable, trashEntryName } from '../components/trash/trash-table.js';

/**
 * What deletes put in the trash (every delete: docker or skopeo, `berth image rm`, this GUI), newest first, each with a
 * Restore button. A restore whose tag now names another image is refused; the page then offers to move the tag back.
 */
export function TrashPage() {
  const [version, setVersion] = useState(0);
  const bump = () => setVersion((value) => value + 1);
  useEvents(['manifest.deleted', 'tag.deleted', 'repository.deleted'], bump, bump);
  const trash = useResource((signal) => api.get<TrashResponse>(adminPaths.trash(), undefined, signal), `trash:${version}`);
  const [restored, setRestored] = useState<string>();
  const [failure, setFailure] = useState<{ entry: TrashEntryView; error: unknown }>();
  const [busy, setBusy] = useState<string>();
  const [emptying, setEmptying] = useState(false);

  const [asTag, setAsTag] = useState('');
  const restore = async (entry: TrashEntryView, options: { force?: boolean; as?: string } = {}) => {
    setBusy(entry.id);
    setRestored(undefined);
    setFailure(undefined);
    try {
      const result = await api.post<RestoreTrashResponse>(adminPaths.trashRestore(entry.id), { force: options.force ?? false, ...(options.as ? { as: options.as } : {}) });
      setAsTag('');
      const tags = result.tags.map((tag) => `${result.repository}:${tag}`);
      setRestored(`Restored ${trashEntryName(entry)}${tags.length > 0 ? `: ${tags.join(', ')} can be pulled again.` : '.'}`);
      bump();
    } catch (error) {
      setFailure({ entry, error });
    } finally {
      setBusy(undefined);
    }
  };

  const entries = trash.data?.entries ?? [];
  const tagTaken = failure?.error instanceof ApiError && failure.error.code === 'BERTH_TRASH_TAG_TAKEN';
  return (
    <>
      <PageHeader
        title="Trash"
        description="Deleted tags, images and repositories stay here, restorable with their tags, signatures and SBOMs, until they expire (30 days unless a namespace is set otherwise). Clients see them as deleted at once."
        actions={
          entries.length > 0 && (
            <Button variant="default" color="red" leftSection={<IconTrash size={16} />} onClick={() => setEmptying(true)}>
              Empty trash
            </Button>
          )
        }
      />
      {restored && (
        <Alert color="teal" variant="light" icon={<IconCheck />} role="status" mb="md" withCloseButton onClose={() => setRestored(undefined)} closeButtonLabel="Dismiss">
          {restored}
        </Alert>
      )}
      {failure && (
        <div style={{ marginBottom: 16 }}>
          <ErrorAlert error={failure.error} title={`Could not restore ${trashEntryName(failure.entry)}`} />
          {tagTaken && (
            <Group mt="xs" align="flex-end" gap="sm">
              <Button size="xs" color="red" variant="light" loading={busy === failure.entry.id} onClick={() => void restore(failure.entry, { force: true })}>
                Move the tag back and restore
              </Button>
              {failure.entry.deleted.kind !== 'repository' && (
                <form
                  onSubmit={(event) => {
                    event.preventDefault();
                    if (asTag.trim()) void restore(failure.entry, { as: asTag.trim() });
                  }}
                >
                  <Group gap="xs" align="flex-end">
                    <TextInput size="xs" label="Or restore it as tag" placeholder="1-restored" value={asTag} onChange={(event) => setAsTag(event.currentTarget.value)} />
                    <Button size="xs" variant="light" type="submit" disabled={!asTag.trim()} loading={busy === failure.entry.id}>
                      Restore as this tag
                    </Button>
                  </Group>
                </form>
              )}
            </Group>
          )}
        </div>
      )}
      <Paper withBorder radius="lg" p="lg" aria-busy={busy !== undefined}>
        {trash.error !== undefined ? (
          <LoadError error={trash.error} onRetry={trash.reload} />
        ) : !trash.data ? (
          <Group justify="center" py="xl">
            <Loader aria-label="Loading the trash" />
          </Group>
        ) : entries.length === 0 ? (
          <EmptyState icon={<IconTrash size={28} />} title="The trash is empty">
            <Text c="dimmed">What you delete from Images, or clients delete over the registry API, shows up here.</Text>
          </EmptyState>
        ) : (
          <TrashTable entries={entries} onRestore={(entry) => void restore(entry)} />
        )}
      </Paper>
      <div style={{ marginTop: 24 }}>
        <TrashDaysForm />
      </div>
      <ConfirmDialog
        opened={emptying}
        title="Empty the trash?"
        confirmLabel="Empty trash"
        onClose={() => setEmptying(false)}
        onConfirm={async () => {
          await api.delete<EmptyTrashResponse>(adminPaths.trash());
          bump();
        }}
      >
        <Text size="sm">
          This drops all {entries.length} entr{entries.length === 1 ? 'y' : 'ies'} for good: none of them can be restored afterwards, and the next garbage
          collection frees their space. It cannot be undone.
        </Text>
      </ConfirmDialog>
    </>
  );
}
