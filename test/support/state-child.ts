import { closeSync, openSync, promises as fsPromises, unlinkSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A second process for the cross-process state tests (node --test may load every file under dist/test/, so without
 * arguments it does nothing):
 * - `node state-child.js <dataDir> <count> [marker]` increments `settings.counter` `count` times through its own
 *   store, then prints "done". With `marker`, each update also proves it is alone: it creates that file exclusively
 *   on entry (an EEXIST means another process is inside too: printed to stderr as "overlap") and removes it on exit.
 * - `node state-child.js <dataDir> hold` takes the state lock, prints "holding" and never lets go (a test kills it).
 * With `BERTH_TEST_SLOW_FS_MS=N`, every file operation that changes the lock waits N ms first: a process on a loaded machine,
 * whose look at the lock and its next step are far apart (the interleavings a fast machine shows rarely).
 */
const slowMs = Number(process.env.BERTH_TEST_SLOW_FS_MS ?? 0);
/** How long an update with a marker stays inside (what writing state.json costs on a busy disk). */
const insideMs = Number(process.env.BERTH_TEST_INSIDE_MS ?? 5);
if (slowMs > 0) {
  const mutable = fsPromises as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  // The steps that change the lock; the looks (stat, readFile, readdir) stay fast, so each look is followed by a
  // long gap before the step it decided on.
  for (const name of ['rename', 'link', 'unlink', 'writeFile', 'open']) {
    const real = mutable[name];
    if (!real) continue;
    mutable[name] = async (...args: unknown[]) => {
      await sleep(slowMs);
      return real.apply(fsPromises, args);
    };
  }
  // ES modules importing from node:fs/promises see the wrapped functions from now on.
  syncBuiltinESMExports();
}
const { createStateStore } = await import('../../registry/state/index.js');

async function main(): Promise<void> {
  const [dataDir, countText, marker] = process.argv.slice(2);
  if (!dataDir || !countText) return;
  const store = await createStateStore(dataDir);
  if (countText === 'hold') {
    await store.update(async () => {
      process.stdout.write('holding\n');
      await new Promise(() => undefined);
    });
    return;
  }
  for (let i = 0; i < Number(countText); i++) {
    await store.update(async (draft) => {
      const alone = marker ? await enter(marker) : true;
      draft.settings.counter = (typeof draft.settings.counter === 'number' ? draft.settings.counter : 0) + 1;
      if (marker) {
        await sleep(insideMs); // a wider window for another process to come in, if the lock let it
        if (alone) unlinkSync(marker);
      }
    });
  }
  await store.close();
  process.stdout.write('done\n');
}

/** Synchronous (not slowed down): the marker measures the lock, it is not part of it. */
async function enter(marker: string): Promise<boolean> {
  try {
    closeSync(openSync(marker, 'wx'));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    process.stderr.write('overlap\n');
    return false;
  }
}

await main();
