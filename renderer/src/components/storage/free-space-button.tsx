import { Alert, Button, Group, Modal, Stack, Text } from '@mantine/core';
import { useState } from 'react';
import { api } from '../../api/client.js';
import { adminRoutes, type GarbageCollectionRequest, type GarbageCollectionResponse } from '../../api/contract.js';
import { formatBytes, formatCount } from '../../format.js';
import { ErrorAlert } from '../error-alert.js';
import { IconCheck } from '../icons.js';
import { hrefFor, Link } from '../../router.js';

/**
 * What the dialog shows: the dry run's plan (confirm or nothing to do), or the real run's result. A discriminated
 * union, so a result can never be confirmed twice and a plan is never mistaken for something already done.
 */
type Stage =
  | { kind: 'closed' }
  | { kind: 'plan'; plan: GarbageCollectionResponse; now: boolean }
  | { kind: 'done'; result: GarbageCollectionResponse };

function plural(count: number, one: string, many = `${one}s`): string {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}

/** 3_600_000 → "hour", 7_200_000 → "2 hours", 600_000 → "10 minutes": the grace period as a person says it. */
export function graceText(graceMs: number): string {
  const minutes = Math.round(graceMs / 60_000);
  if (minutes >= 60 && minutes % 60 === 0) return minutes === 60 ? 'hour' : `${minutes / 60} hours`;
  return minutes <= 1 ? 'minute' : `${minutes} minutes`;
}

/** Something to delete: blobs, or links that make a no-longer-used blob visible in a repository. */
function hasWork(plan: GarbageCollectionResponse): boolean {
  return plan.blobsDeleted > 0 || plan.layerLinksRemoved > 0;
}

/**
 * The way past the grace period, with what it risks said plainly. The server refuses it while a push or a sync job is
 * still bringing in layers, so the warning is about what it cannot see: a push through another Berth process.
 */
function ReclaimNowOffer({ gc, checking, onCheck }: { gc: GarbageCollectionResponse; checking: boolean; onCheck: () => void }) {
  return (
    <Alert color="orange" variant="light" title="Free them now instead?">
      <Stack gap="xs">
        <Text size="sm">
          Skips the {graceText(gc.graceMs)} wait. Berth first checks that no push and no sync job is still sending layers, and refuses
          if one is; then only blobs no image uses are deleted. A push through another Berth process on this data directory is not
          seen: its layers could go, and that push would have to be repeated.
        </Text>
        <Group>
          <Button size="xs" color="orange" variant="light" onClick={onCheck} loading={checking}>
            Check what freeing now would free
          </Button>
        </Group>
      </Stack>
    </Alert>
  );
}

/** Why some unused blobs stay: pushes in progress upload layers before the manifest that uses them. */
function SparedNote({ gc }: { gc: GarbageCollectionResponse }) {
  if (gc.youngSpared === 0 || gc.graceMs <= 1) return null;
  return (
    <Text size="sm" c="dimmed">
      {plural(gc.youngSpared, 'unused blob or link', 'unused blobs or links')} from the last {graceText(gc.graceMs)}{' '}
      {gc.youngSpared === 1 ? 'is' : 'are'} kept for now: a push in progress uploads its layers before the image that uses
      them. Run this again later to free {gc.youngSpared === 1 ? 'it' : 'them'}.
    </Text>
  );
}

/** Deleted images stay restorable in the Trash, which keeps their blobs: where to go to free them now. */
function TrashNote({ gc }: { gc: GarbageCollectionResponse }) {
  if (gc.trashManifestsKept === 0) return null;
  return (
    <Text size="sm" c="dimmed">
      {plural(gc.trashManifestsKept, 'deleted manifest')} in the <Link href={hrefFor('trash')}>Trash</Link> {gc.trashManifestsKept === 1 ? 'keeps its' : 'keep their'}{' '}
      layers until {gc.trashManifestsKept === 1 ? 'it expires' : 'they expire'}, so {gc.trashManifestsKept === 1 ? 'it' : 'they'} can be restored. Empty the Trash to free that space now.
    </Text>
  );
}

function UnreadableNote({ gc }: { gc: GarbageCollectionResponse }) {
  if (gc.unreadableManifests === 0) return null;
  return (
    <Alert color="orange" variant="light" title="Some images could not be read">
      {plural(gc.unreadableManifests, 'image manifest')} could not be read, so every layer of {gc.unreadableManifests === 1 ? 'its' : 'their'}{' '}
      repository was kept. Check Berth’s log for the details.
    </Alert>
  );
}

function PlanText({ plan }: { plan: GarbageCollectionResponse }) {
  if (!hasWork(plan) && plan.youngSpared > 0) {
    // Not "every blob belongs to an image": some do not, they are only too recent to delete (SparedNote says so).
    return <Text size="sm">Nothing to free yet.</Text>;
  }
  if (!hasWork(plan)) {
    return (
      <Stack gap="xs">
        <Text size="sm">Nothing to free: every stored blob belongs to an image.</Text>
        <Text size="sm" c="dimmed">
          Deleting a tag keeps its image pullable by digest. To free an image’s layers, delete the image itself under Images.
        </Text>
      </Stack>
    );
  }
  return (
    <Stack gap="xs">
      <Text size="sm">
        {plan.blobsDeleted > 0 ? (
          <>
            <b>
              {plural(plan.blobsDeleted, 'blob')}, {formatBytes(plan.bytesFreed)}
            </b>{' '}
            no image uses any more. Freeing deletes {plan.blobsDeleted === 1 ? 'it' : 'them'} from disk; every image stays pullable.
          </>
        ) : (
          'No blob can be deleted, but some repositories still list layers their images no longer use.'
        )}
      </Text>
      {plan.layerLinksRemoved > 0 && (
        <Text size="sm" c="dimmed">
          {plural(plan.layerLinksRemoved, 'stale layer link')} will be removed from repositories too.
        </Text>
      )}
    </Stack>
  );
}

function ResultText({ result }: { result: GarbageCollectionResponse }) {
  return (
    <Stack gap="xs">
      <Group gap="xs" wrap="nowrap">
        <IconCheck size={18} />
        <Text size="sm" fw={600} role="status">
          {result.blobsDeleted > 0
            ? `Freed ${formatBytes(result.bytesFreed)} (${plural(result.blobsDeleted, 'blob')}).`
            : result.layerLinksRemoved > 0
              ? `Removed ${plural(result.layerLinksRemoved, 'stale layer link')}; no blob needed deleting.`
              : 'Nothing was freed: the unused blobs were taken into use again in the meantime.'}
        </Text>
      </Group>
      <Text size="sm" c="dimmed">
        Storage now holds {plural(result.blobsKept, 'blob')}, {formatBytes(result.bytesKept)}.
      </Text>
    </Stack>
  );
}

/**
 * “Free unused space” on the overview's storage card. Asks the server for a dry run first, so the confirmation names
 * what will go; the real run then reports what it freed, and `onFreed` refreshes the storage figures.
 */
export function FreeSpaceButton({ onFreed }: { onFreed: () => void }) {
  const [stage, setStage] = useState<Stage>({ kind: 'closed' });
  const [opened, setOpened] = useState(false);
  const [checking, setChecking] = useState(false);
  const [freeing, setFreeing] = useState(false);
  const [error, setError] = useState<unknown>();

  const run = (dryRun: boolean, now: boolean) =>
    api.post<GarbageCollectionResponse>(adminRoutes.storageGc, { dryRun, ...(now ? { skipGracePeriod: true } : {}) } satisfies GarbageCollectionRequest);

  const check = async (now = false) => {
    setChecking(true);
    setError(undefined);
    if (!now) setStage({ kind: 'closed' });
    setOpened(true);
    try {
      setStage({ kind: 'plan', plan: await run(true, now), now });
    } catch (reason) {
      setError(reason);
    } finally {
      setChecking(false);
    }
  };

  const free = async () => {
    setFreeing(true);
    setError(undefined);
    try {
      setStage({ kind: 'done', result: await run(false, stage.kind === 'plan' && stage.now) });
      onFreed();
    } catch (reason) {
      setError(reason);
    } finally {
      setFreeing(false);
    }
  };

  const close = () => {
    if (freeing) return;
    setOpened(false);
  };

  const plan = stage.kind === 'plan' ? stage.plan : undefined;
  const gc = stage.kind === 'plan' ? stage.plan : stage.kind === 'done' ? stage.result : undefined;
  return (
    <>
      <Button variant="light" color="grape" size="compact-sm" onClick={() => void check()} loading={checking && !opened}>
        Free unused space
      </Button>
      <Modal opened={opened} onClose={close} title={<Text fw={600}>Free unused space</Text>} centered>
        <Stack gap="md">
          {checking && stage.kind === 'closed' && (
            <Text size="sm" c="dimmed">
              Looking for blobs no image uses…
            </Text>
          )}
          {stage.kind === 'plan' && <PlanText plan={stage.plan} />}
          {stage.kind === 'done' && <ResultText result={stage.result} />}
          {gc && <SparedNote gc={gc} />}
          {plan && stage.kind === 'plan' && !stage.now && plan.youngSpared > 0 && (
            <ReclaimNowOffer gc={plan} checking={checking} onCheck={() => void check(true)} />
          )}
          {plan && stage.kind === 'plan' && stage.now && hasWork(plan) && (
            <Text size="sm" c="dimmed">
              Without the wait: what changes from now on (a push that starts meanwhile) is still kept.
            </Text>
          )}
          {gc && <TrashNote gc={gc} />}
          {gc && <UnreadableNote gc={gc} />}
          {error !== undefined && <ErrorAlert error={error} />}
          <Group justify="flex-end" gap="sm">
            {plan && hasWork(plan) && stage.kind === 'plan' ? (
              <>
                <Button variant="default" onClick={close} disabled={freeing} data-autofocus>
                  Cancel
                </Button>
                <Button color="red" onClick={() => void free()} loading={freeing}>
                  {plan.bytesFreed > 0 ? `Free ${formatBytes(plan.bytesFreed)}${stage.now ? ' now' : ''}` : 'Remove stale links'}
                </Button>
              </>
            ) : (
              <Button variant="default" onClick={close} data-autofocus>
                Close
              </Button>
            )}
          </Group>
        </Stack>
      </Modal>
    </>
  );
}
