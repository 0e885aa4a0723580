import { createStateStore } from '../../registry/state/index.js';

/**
 * A second process for the cross-process state tests: `node state-child.js <dataDir> <count>` increments
 * `settings.counter` `count` times through its own store, then prints "done". Without arguments it does nothing
 * (node --test may load every file under dist/test/).
 */
async function main(): Promise<void> {
  const [dataDir, countText] = process.argv.slice(2);
  if (!dataDir || !countText) return;
  const store = await createStateStore(dataDir);
  for (let i = 0; i < Number(countText); i++) {
    await store.update((draft) => {
      draft.settings.counter = (typeof draft.settings.counter === 'number' ? draft.settings.counter : 0) + 1;
    });
  }
  await store.close();
  process.stdout.write('done\n');
}

await main();
