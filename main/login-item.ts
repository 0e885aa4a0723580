import { app } from 'electron';
import { autostartFile, isAutostartEnabled, setAutostart } from './logic/autostart.js';
import { hiddenFlag } from './logic/launch-options.js';

/**
 * "Start at login": Electron's login items on macOS and Windows, an XDG autostart entry on Linux (where
 * `app.setLoginItemSettings` does nothing). Started at login, Berth comes up in the tray without a window.
 */

/** The command that starts this app: the AppImage itself when run from one, else Electron plus the app path. */
function launchCommand(): string[] {
  if (process.env.APPIMAGE) return [process.env.APPIMAGE];
  return app.isPackaged ? [process.execPath] : [process.execPath, app.getAppPath()];
}

export async function getOpenAtLogin(): Promise<boolean> {
  if (process.platform === 'linux') return isAutostartEnabled(autostartFile());
  return app.getLoginItemSettings().openAtLogin;
}

export async function setOpenAtLogin(enabled: boolean): Promise<void> {
  if (process.platform === 'linux') return setAutostart(autostartFile(), enabled, launchCommand());
  app.setLoginItemSettings({ openAtLogin: enabled, args: [hiddenFlag] });
}

/** macOS passes no arguments to login items; it says so through wasOpenedAtLogin instead. */
export function startedAtLogin(): boolean {
  return process.platform === 'darwin' && app.getLoginItemSettings().wasOpenedAtLogin === true;
}
