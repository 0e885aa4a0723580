import { join } from 'node:path';
import { BrowserWindow, screen, shell } from 'electron';
import type { Logger } from '../registry/log.js';
import { versionArgumentPrefix } from './ipc-channels.js';
import { isWebUrl, navigationDecision } from './logic/navigation.js';
import { minimumWindowSize, placeWindow, readWindowState, writeWindowState, type Rectangle } from './logic/window-state.js';

export interface MainWindowOptions {
  /** Electron's userData directory: the window state file lives there. */
  userDataDir: string;
  /** Berth's origin now (it changes when a settings edit moves the listener). */
  origin(): string;
  /** The URL to load: a fresh one-time sign-in link, so the window signs itself in. */
  loadUrl(): Promise<string>;
  preloadPath: string;
  iconPath?: string;
  version: string;
  show: boolean;
  log: Logger;
}

export const windowStateFileName = 'window-state.json';

/** The displays' work areas, the primary display first (placeWindow falls back to it). */
export function workAreas(): Rectangle[] {
  const primary = screen.getPrimaryDisplay();
  return [primary, ...screen.getAllDisplays().filter((display) => display.id !== primary.id)].map((display) => display.workArea);
}

/** Creates Berth's window: locked down, placed where it was, locked to Berth's origin, signed in. */
export async function createMainWindow(options: MainWindowOptions): Promise<BrowserWindow> {
  const stateFile = join(options.userDataDir, windowStateFileName);
  const placement = placeWindow(await readWindowState(stateFile), workAreas());
  const window = new BrowserWindow({
    ...(placement.x !== undefined && placement.y !== undefined ? { x: placement.x, y: placement.y } : {}),
    width: placement.width,
    height: placement.height,
    minWidth: minimumWindowSize.width,
    minHeight: minimumWindowSize.height,
    title: 'Berth',
    show: false,
    ...(options.iconPath ? { icon: options.iconPath } : {}),
    webPreferences: {
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
      spellcheck: false,
      preload: options.preloadPath,
      additionalArguments: [`${versionArgumentPrefix}${options.version}`],
    },
  });
  if (placement.maximized) window.maximize();
  if (options.show) window.once('ready-to-show', () => window.show());

  setupWindowStatePersistence(window, stateFile, options.log);
  setupNavigationLock(window, options.origin, options.log);

  try {
    await window.loadURL(await options.loadUrl());
  } catch (error) {
    // The window stays open (and shows Chromium's error page) so the tray and a retry still work.
    options.log.error({ err: error }, 'loading the Berth UI failed');
  }
  return window;
}

/** Saves size, position and maximized state shortly after each change and when the window closes. */
export function setupWindowStatePersistence(window: BrowserWindow, file: string, log: Logger): void {
  let timer: NodeJS.Timeout | undefined;
  const save = () => {
    clearTimeout(timer);
    timer = undefined;
    if (window.isDestroyed() || window.isMinimized() || window.isFullScreen()) return;
    writeWindowState(file, { bounds: window.getNormalBounds(), maximized: window.isMaximized() }).catch((error: unknown) =>
      log.warn({ err: error, file }, 'could not save the window position'),
    );
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(save, 500);
  };
  window.on('resized', later);
  window.on('moved', later);
  window.on('maximize', later);
  window.on('unmaximize', later);
  window.on('close', save);
}

/**
 * Only Berth's own pages load in the window. Links elsewhere open in the user's browser (http and https only);
 * new windows are never created; a redirect off the origin is stopped.
 */
export function setupNavigationLock(window: BrowserWindow, origin: () => string, log: Logger): void {
  const contents = window.webContents;
  const leave = (url: string) => {
    const decision = navigationDecision(url, origin());
    if (decision === 'open-external') {
      shell.openExternal(url).catch((error: unknown) => log.warn({ err: error, url }, 'could not open the browser'));
    } else if (decision === 'deny') {
      log.warn({ url }, 'blocked navigation to a non-web URL');
    }
  };
  contents.on('will-navigate', (event) => {
    if (navigationDecision(event.url, origin()) === 'allow') return;
    event.preventDefault();
    leave(event.url);
  });
  contents.on('will-redirect', (event) => {
    if (navigationDecision(event.url, origin()) === 'allow') return;
    event.preventDefault();
    log.warn({ url: event.url }, 'blocked a redirect away from Berth');
  });
  contents.setWindowOpenHandler(({ url }) => {
    // target=_blank to Berth itself stays in this window; anything else goes to the browser or nowhere.
    if (navigationDecision(url, origin()) === 'allow') void window.loadURL(url);
    else if (isWebUrl(url)) leave(url);
    return { action: 'deny' };
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
}
