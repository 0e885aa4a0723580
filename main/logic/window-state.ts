import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Where the main window opens: the size, position and maximized flag it had when it last closed, kept in a
 * small JSON file in Electron's userData, and checked against the displays there are now, so a window saved on
 * a monitor that has since been unplugged never opens off screen.
 */

export interface Rectangle {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface WindowState {
  /** The normal (not maximized) bounds, so un-maximizing after a restore goes back to a sensible size. */
  bounds: Rectangle;
  maximized: boolean;
}

/** What to pass to `new BrowserWindow()`; no x/y means "let the OS centre it". */
export interface WindowPlacement {
  x?: number;
  y?: number;
  width: number;
  height: number;
  maximized: boolean;
}

export const minimumWindowSize = { width: 720, height: 480 } as const;
export const defaultWindowSize = { width: 1200, height: 800 } as const;

/**
 * How much of a saved window must overlap a display's work area to be put back on it. Less than this (a sliver
 * of title bar at a screen edge) and the user could not grab it, so it is centred on the primary display.
 */
const minimumVisible = { width: 160, height: 80 } as const;

const unbounded: Rectangle = { x: 0, y: 0, width: Infinity, height: Infinity };

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Accepts a parsed window-state file; anything malformed (hand edit, older format) gives undefined. */
export function parseWindowState(value: unknown): WindowState | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { bounds, maximized } = value as { bounds?: unknown; maximized?: unknown };
  if (typeof bounds !== 'object' || bounds === null) return undefined;
  const { x, y, width, height } = bounds as Partial<Record<keyof Rectangle, unknown>>;
  if (!isFiniteNumber(x) || !isFiniteNumber(y) || !isFiniteNumber(width) || !isFiniteNumber(height)) return undefined;
  if (width <= 0 || height <= 0) return undefined;
  const rounded = { x: Math.round(x), y: Math.round(y), width: Math.round(width), height: Math.round(height) };
  return { bounds: rounded, maximized: maximized === true };
}

function overlap(a: Rectangle, b: Rectangle): { width: number; height: number } {
  const width = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const height = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return { width: Math.max(0, width), height: Math.max(0, height) };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}

/** A size no smaller than the minimum (unless the display itself is smaller) and no larger than the display. */
function fitSize(width: number, height: number, area: Rectangle): { width: number; height: number } {
  return {
    width: Math.min(Math.max(width, minimumWindowSize.width), area.width),
    height: Math.min(Math.max(height, minimumWindowSize.height), area.height),
  };
}

/**
 * Decides where the window opens. `workAreas` are the displays' work areas (without taskbar/dock), the primary
 * display first. The saved window goes back on the display it overlaps most, resized and moved just enough to
 * be fully inside it; if it overlaps no display usefully, it is centred on the primary display.
 */
export function placeWindow(saved: WindowState | undefined, workAreas: readonly Rectangle[]): WindowPlacement {
  const primary = workAreas[0];
  const wanted = saved?.bounds ?? { x: 0, y: 0, ...defaultWindowSize };
  // No display information (headless, or asked before the screen module is ready): trust the saved size.
  if (!primary) return { ...fitSize(wanted.width, wanted.height, unbounded), maximized: saved?.maximized ?? false };
  if (!saved) return { ...fitSize(wanted.width, wanted.height, primary), maximized: false };

  let best: { area: Rectangle; visible: number } | undefined;
  for (const area of workAreas) {
    const { width, height } = overlap(saved.bounds, area);
    if (width < minimumVisible.width || height < minimumVisible.height) continue;
    if (!best || width * height > best.visible) best = { area, visible: width * height };
  }
  if (!best) return { ...fitSize(saved.bounds.width, saved.bounds.height, primary), maximized: saved.maximized };

  const { area } = best;
  const size = fitSize(saved.bounds.width, saved.bounds.height, area);
  return {
    x: clamp(saved.bounds.x, area.x, area.x + area.width - size.width),
    y: clamp(saved.bounds.y, area.y, area.y + area.height - size.height),
    ...size,
    maximized: saved.maximized,
  };
}

/** Reads the saved state; a missing or damaged file means "no saved state", never an error at startup. */
export async function readWindowState(file: string): Promise<WindowState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return parseWindowState(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** Writes the state atomically (temp file, then rename), so a crash mid-write cannot leave half a file. */
export async function writeWindowState(file: string, state: WindowState): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(temp, file);
}
