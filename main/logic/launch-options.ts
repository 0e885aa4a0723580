import { parseArgs } from 'node:util';

/**
 * The desktop app's own command-line options. Electron and Chromium add switches of their own to argv, so
 * unknown options are ignored rather than refused.
 */
export interface LaunchOptions {
  /** `--data DIR`; defaults to the same directory as the CLI's (`defaultDataDir()`). */
  dataDir?: string;
  /** `--hidden`: start in the tray without opening the window (used for start at login). */
  hidden: boolean;
}

export const hiddenFlag = '--hidden';

export function parseLaunchOptions(argv: readonly string[]): LaunchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: { data: { type: 'string' }, hidden: { type: 'boolean', default: false } },
    strict: false,
    allowPositionals: true,
  });
  const data = typeof values.data === 'string' && values.data !== '' ? values.data : undefined;
  return { ...(data ? { dataDir: data } : {}), hidden: values.hidden === true };
}
