import { mkdir, rm, writeFile, access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { hiddenFlag } from './launch-options.js';

/**
 * Start at login on Linux. Electron's `app.setLoginItemSettings` works on macOS and Windows only; Linux
 * desktops follow the XDG autostart spec instead: a .desktop file in ~/.config/autostart.
 */

export function autostartFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'autostart', 'berth.desktop');
}

/** Quotes an Exec argument per the Desktop Entry spec (double quotes; `"`, `` ` ``, `$` and `\` escaped). */
function execArgument(value: string): string {
  return /^[A-Za-z0-9_./:=+-]+$/.test(value) ? value : `"${value.replace(/(["`$\\])/g, '\\$1')}"`;
}

/** `command` is the app's executable (an AppImage sets APPIMAGE, which survives updates better than execPath). */
export function autostartEntry(command: readonly string[]): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=Berth',
    'Comment=Local container registry mirror',
    `Exec=${[...command, hiddenFlag].map(execArgument).join(' ')}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

export async function isAutostartEnabled(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

export async function setAutostart(file: string, enabled: boolean, command: readonly string[]): Promise<void> {
  if (!enabled) {
    await rm(file, { force: true });
    return;
  }
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, autostartEntry(command));
}
