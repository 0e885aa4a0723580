import assert from 'node:assert/strict';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { changedSettingKeys, createSettingsWatcher, type SettingsWatcher } from '../../registry/config/settings-watcher.js';
import { createStateStore } from '../../registry/state/index.js';
import type { Settings } from '../../registry/state/schema.js';
import { makeTempDir } from '../support/temp-dir.js';

interface Recorder {
  applied: Array<{ settings: Settings; previous: Settings }>;
  errors: Error[];
  /** Resolves at the next applySettings or error, failing after `ms`. */
  next(ms?: number): Promise<void>;
}

function recorder(): Recorder {
  let wake: (() => void) | undefined;
  const rec: Recorder = {
    applied: [],
    errors: [],
    next(ms = 2000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`nothing happened within ${ms} ms`)), ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
  return Object.assign(rec, {
    apply(settings: Settings, previous: Settings) {
      rec.applied.push({ settings, previous });
      wake?.();
    },
    fail(error: Error) {
      rec.errors.push(error);
      wake?.();
    },
  });
}

function stateText(settings: Settings, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ schemaVersion: 1, settings, namespaces: [], ...extra }, null, 2)}\n`;
}

async function start(t: { after(fn: () => Promise<void>): void }, file: string, debounceMs = 50): Promise<{ rec: Recorder; watcher: SettingsWatcher }> {
  const rec = recorder() as Recorder & { apply(s: Settings, p: Settings): void; fail(e: Error): void };
  const watcher = await createSettingsWatcher({ path: file, applySettings: rec.apply, onError: rec.fail, debounceMs });
  t.after(() => watcher.close());
  return { rec, watcher };
}

describe('settings watcher (real chokidar, real files)', () => {
  it('applies a hand edit within two seconds, with the settings it replaces', async (t) => {
    const dir = await makeTempDir(t);
    const file = join(dir, 'state.json');
    await writeFile(file, stateText({ listen: '127.0.0.1:5000' }));
    const { rec, watcher } = await start(t, file);
    assert.deepEqual(watcher.current(), { listen: '127.0.0.1:5000' }, 'the settings in force at start');
    assert.equal(rec.applied.length, 0, 'nothing is applied at start');

    const applied = rec.next();
    await writeFile(file, stateText({ listen: '127.0.0.1:5050', tlsNames: ['berth.lan'] }));
    await applied;
    assert.deepEqual(rec.applied, [{ settings: { listen: '127.0.0.1:5050', tlsNames: ['berth.lan'] }, previous: { listen: '127.0.0.1:5000' } }]);
    assert.deepEqual(watcher.current(), { listen: '127.0.0.1:5050', tlsNames: ['berth.lan'] });
  });

  it('keeps the old settings and reports the error when the file is not valid JSON, then recovers', async (t) => {
    const dir = await makeTempDir(t);
    const file = join(dir, 'state.json');
    await writeFile(file, stateText({ listen: '127.0.0.1:5000' }));
    const { rec, watcher } = await start(t, file);

    const reported = rec.next();
    await writeFile(file, '{ "schemaVersion": 1, "settings": { "listen": "127.0.0.1:6000", } ');
    await reported;
    assert.equal(rec.applied.length, 0, 'a broken file is never applied');
    assert.match(rec.errors[0]?.message ?? '', /state\.json: not valid JSON/);
    assert.deepEqual(watcher.current(), { listen: '127.0.0.1:5000' });

    const fixed = rec.next();
    await writeFile(file, stateText({ listen: '127.0.0.1:6000' }));
    await fixed;
    assert.deepEqual(rec.applied.map((a) => a.settings), [{ listen: '127.0.0.1:6000' }]);
  });

  it('rejects valid JSON that is not a valid state file (settings must be an object)', async (t) => {
    const dir = await makeTempDir(t);
    const file = join(dir, 'state.json');
    await writeFile(file, stateText({}));
    const { rec } = await start(t, file);
    const reported = rec.next();
    await writeFile(file, JSON.stringify({ schemaVersion: 1, settings: ['listen'] }));
    await reported;
    assert.match(rec.errors[0]?.message ?? '', /"settings" must be an object/);
    assert.equal(rec.applied.length, 0);
  });

  it('follows atomic replacement (write elsewhere, rename over) and ignores writes that leave settings alone', async (t) => {
    const dir = await makeTempDir(t);
    const file = join(dir, 'state.json');
    await writeFile(file, stateText({ a: 1, b: { c: [1, 2] } }));
    const { rec, watcher } = await start(t, file);

    // Same settings in another key order, plus an unrelated section change: not a settings change.
    await writeFile(`${file}.tmp`, stateText({ b: { c: [1, 2] }, a: 1 }, { namespaces: [{ name: 'team', anonymousPull: false, createdAt: 'now' }] }));
    await rename(`${file}.tmp`, file);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await watcher.settled();
    assert.equal(rec.applied.length, 0);

    for (const value of [2, 3]) {
      const applied = rec.next();
      await writeFile(`${file}.tmp`, stateText({ a: value, b: { c: [1, 2] } }));
      await rename(`${file}.tmp`, file);
      await applied;
    }
    assert.deepEqual(rec.applied.map((a) => a.settings.a), [2, 3], 'every replacement seen, not only the first');
    assert.deepEqual(rec.errors, []);
  });

  it('debounces a burst of writes into one application of the final settings', async (t) => {
    const dir = await makeTempDir(t);
    const file = join(dir, 'state.json');
    await writeFile(file, stateText({ n: 0 }));
    // A generous quiet time, so a loaded CI machine does not split the burst.
    const { rec, watcher } = await start(t, file, 400);
    const applied = rec.next(3000);
    for (let n = 1; n <= 5; n += 1) await writeFile(file, stateText({ n }));
    await applied;
    await new Promise((resolve) => setTimeout(resolve, 600));
    await watcher.settled();
    assert.deepEqual(rec.applied.map((a) => a.settings), [{ n: 5 }]);
  });

  it('sees changes made through the state store, and a deleted file means default settings', async (t) => {
    const dir = await makeTempDir(t);
    const store = await createStateStore(dir);
    t.after(() => store.close());
    const { rec } = await start(t, store.path);
    const applied = rec.next();
    await store.update((draft) => {
      draft.settings.tlsListen = '127.0.0.1:5443';
    });
    await applied;
    assert.deepEqual(rec.applied[0]?.settings, { tlsListen: '127.0.0.1:5443' });

    const removed = rec.next();
    await rm(store.path);
    await removed;
    assert.deepEqual(rec.applied[1]?.settings, {});
  });
});

describe('changedSettingKeys', () => {
  it('names added, removed and changed keys, ignoring key order inside values', () => {
    assert.deepEqual(
      changedSettingKeys({ listen: 'a', tlsNames: ['x'], nested: { p: 1, q: 2 } }, { tlsNames: ['x', 'y'], nested: { q: 2, p: 1 }, mirror: {} }),
      ['listen', 'mirror', 'tlsNames'],
    );
  });
});
