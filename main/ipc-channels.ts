/**
 * The one table of IPC channels between Berth's window and the main process, with each channel's argument and
 * result types. `ipc.ts` registers a handler for every channel (the compiler checks none is missing) and the
 * preload calls them by these names, so both sides cannot drift apart. No Electron import: the renderer may
 * import the `BerthBridge` type for `window.berth`.
 */

export interface IpcContract {
  'berth:copy-to-clipboard': { args: [text: string]; result: void };
  'berth:open-external': { args: [url: string]; result: void };
}

export type IpcChannel = keyof IpcContract;
export type IpcArgs<C extends IpcChannel> = IpcContract[C]['args'];
export type IpcResult<C extends IpcChannel> = IpcContract[C]['result'];

export const ipcChannels = {
  copyToClipboard: 'berth:copy-to-clipboard',
  openExternal: 'berth:open-external',
} as const satisfies Record<string, IpcChannel>;

/** `window.berth`: what the GUI can ask of the desktop shell. Absent when the GUI runs in a plain browser. */
export interface BerthBridge {
  /** The app's version (package.json). */
  readonly version: string;
  readonly platform: string;
  copyToClipboard(text: string): Promise<void>;
  /** Opens an http(s) URL in the user's browser; other schemes are refused. */
  openExternal(url: string): Promise<void>;
}

/** Passed to the preload through `additionalArguments`: a sandboxed preload cannot read package.json. */
export const versionArgumentPrefix = '--berth-version=';
