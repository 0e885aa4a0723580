import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The platform's per-user data directory, shared by the CLI and the desktop app so both open the
 * same instance: $XDG_DATA_HOME/berth (~/.local/share/berth) on Linux, ~/Library/Application
 * Support/Berth on macOS, %APPDATA%\Berth on Windows. BERTH_DATA overrides it.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.BERTH_DATA) return env.BERTH_DATA;
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Berth');
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'Berth');
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'berth');
}
