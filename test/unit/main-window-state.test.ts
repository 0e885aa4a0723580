import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  defaultWindowSize,
  minimumWindowSize,
  parseWindowState,
  placeWindow,
  readWindowState,
  writeWindowState,
  type Rectangle,
  type WindowState,
} from '../../main/logic/window-state.js';
import { makeTempDir } from '../support/temp-dir.js';

const laptop: Rectangle = { x: 0, y: 0, width: 1440, height: 875 };
// A second monitor to the right of the laptop, taller, with its own work area.
const monitor: Rectangle = { x: 1440, y: -200, width: 2560, height: 1400 };

function saved(bounds: Rectangle, maximized = false): WindowState {
  return { bounds, maximized };
}

describe('placeWindow', () => {
  it('opens at the default size, centred by the OS, the first time', () => {
    assert.deepEqual(placeWindow(undefined, [laptop]), { ...defaultWindowSize, maximized: false });
  });

  it('puts a window that fits back exactly where it was, maximized flag included', () => {
    const bounds = { x: 100, y: 50, width: 1000, height: 700 };
    assert.deepEqual(placeWindow(saved(bounds, true), [laptop, monitor]), { ...bounds, maximized: true });
  });

  it('restores onto the secondary display it was on, negative coordinates included', () => {
    const bounds = { x: 2000, y: -150, width: 1600, height: 1000 };
    assert.deepEqual(placeWindow(saved(bounds), [laptop, monitor]), { ...bounds, maximized: false });
  });

  it('centres on the primary display when the saved display is gone (monitor unplugged)', () => {
    const placement = placeWindow(saved({ x: 2000, y: 100, width: 1200, height: 800 }), [laptop]);
    assert.equal(placement.x, undefined);
    assert.equal(placement.y, undefined);
    assert.equal(placement.width, 1200);
    assert.equal(placement.height, 800);
  });

  it('pulls a window hanging off the edge back inside the work area', () => {
    const placement = placeWindow(saved({ x: 1000, y: 600, width: 1000, height: 700 }), [laptop]);
    assert.deepEqual(placement, { x: 440, y: 175, width: 1000, height: 700, maximized: false });
  });

  it('treats a sliver of title bar at the edge as off screen', () => {
    const placement = placeWindow(saved({ x: 1400, y: 100, width: 1000, height: 700 }), [laptop]);
    assert.equal(placement.x, undefined, 'only 40 px visible: centred rather than left out of reach');
  });

  it('shrinks a window larger than the display it lands on, and never below the minimum size', () => {
    const small: Rectangle = { x: 0, y: 0, width: 1024, height: 600 };
    assert.deepEqual(placeWindow(saved({ x: 0, y: 0, width: 3000, height: 2000 }), [small]), {
      x: 0, y: 0, width: 1024, height: 600, maximized: false,
    });
    const tiny = placeWindow(saved({ x: 10, y: 10, width: 50, height: 40 }), [laptop]);
    assert.equal(tiny.width, minimumWindowSize.width);
    assert.equal(tiny.height, minimumWindowSize.height);
  });

  it('picks the display showing most of a window that spans two', () => {
    const placement = placeWindow(saved({ x: 1200, y: 100, width: 1200, height: 700 }), [laptop, monitor]);
    assert.equal(placement.x, 1440, 'moved fully onto the monitor, which shows 960 of its 1200 px');
    assert.equal(placement.y, 100);
  });
});

describe('window state file', () => {
  it('round-trips through the JSON file and survives damage', async (t) => {
    const dir = await makeTempDir(t);
    const file = join(dir, 'nested', 'window-state.json');
    assert.equal(await readWindowState(file), undefined, 'missing file: no saved state');
    const state = saved({ x: 12, y: 34, width: 900, height: 600 }, true);
    await writeWindowState(file, state);
    assert.deepEqual(await readWindowState(file), state);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), state, 'a readable file a user could inspect');

    await writeFile(file, '{"bounds": {"x": 1, "y": 2, "wid');
    assert.equal(await readWindowState(file), undefined, 'truncated file: ignored, not thrown');
  });

  it('rejects malformed values instead of opening a zero-size or NaN window', () => {
    assert.equal(parseWindowState(null), undefined);
    assert.equal(parseWindowState({ bounds: { x: 0, y: 0, width: 0, height: 500 } }), undefined);
    assert.equal(parseWindowState({ bounds: { x: 'a', y: 0, width: 800, height: 500 } }), undefined);
    assert.equal(parseWindowState({ bounds: { x: 0, y: 0, width: 800 } }), undefined);
    assert.deepEqual(parseWindowState({ bounds: { x: 0.4, y: 0, width: 800.6, height: 500 }, maximized: 'yes' }), {
      bounds: { x: 0, y: 0, width: 801, height: 500 },
      maximized: false,
    });
  });
});
