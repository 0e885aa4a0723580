import { Menu, nativeImage, Tray } from 'electron';
import type { Logger } from '../registry/log.js';
import { trayMenuTemplate, trayTooltip, type TrayActions, type TrayState } from './logic/tray-menu.js';

export interface TrayController {
  readonly state: TrayState;
  /** Merges the change, then rebuilds the tooltip and menu from the whole state. */
  update(change: Partial<TrayState>): void;
  destroy(): void;
}

/** The tray icon. Returns undefined when the desktop has no tray (the app then quits with its last window). */
export interface TrayOptions {
  iconPath: string;
  initial: TrayState;
  actions: TrayActions;
  log: Logger;
}

export function setupTray(options: TrayOptions): TrayController | undefined {
  let tray: Tray;
  try {
    const icon = nativeImage.createFromPath(options.iconPath);
    if (icon.isEmpty()) options.log.warn({ path: options.iconPath }, 'tray icon missing: the tray entry has no picture');
    tray = new Tray(icon);
  } catch (error) {
    options.log.warn({ err: error }, 'no system tray: closing the window will quit Berth');
    return undefined;
  }
  let state = options.initial;
  const render = () => {
    tray.setToolTip(trayTooltip(state));
    tray.setContextMenu(Menu.buildFromTemplate(trayMenuTemplate(state, options.actions)));
  };
  // Windows and some Linux trays open the app on a click; the menu stays on the right click.
  tray.on('click', () => {
    if (state.server === 'listening') options.actions.openWindow();
  });
  render();
  return {
    get state() {
      return state;
    },
    update(change) {
      state = { ...state, ...change };
      if (!tray.isDestroyed()) render();
    },
    destroy() {
      tray.destroy();
    },
  };
}
