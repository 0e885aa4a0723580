/**
 * The preload of Berth's window. It runs sandboxed: Electron evaluates it as a plain CommonJS script (hence
 * `.cts` → `preload.cjs`) in which only `require('electron')` works. So it imports nothing at the top level;
 * the channel table is used for its types only, through import types, which leave no trace in the output.
 * It exposes a small named facade, `window.berth`, never ipcRenderer itself, so page scripts can call exactly
 * these functions and nothing else.
 */
{
  type Channels = typeof import('./ipc-channels.js', { with: { 'resolution-mode': 'import' } });
  type IpcChannel = import('./ipc-channels.js', { with: { 'resolution-mode': 'import' } }).IpcChannel;
  type IpcArgs<C extends IpcChannel> = import('./ipc-channels.js', { with: { 'resolution-mode': 'import' } }).IpcArgs<C>;
  type IpcResult<C extends IpcChannel> = import('./ipc-channels.js', { with: { 'resolution-mode': 'import' } }).IpcResult<C>;
  type BerthBridge = import('./ipc-channels.js', { with: { 'resolution-mode': 'import' } }).BerthBridge;

  const { contextBridge, ipcRenderer } = require('electron') as typeof import('electron');

  const invoke = <C extends IpcChannel>(channel: C, ...args: IpcArgs<C>): Promise<IpcResult<C>> =>
    ipcRenderer.invoke(channel, ...args) as Promise<IpcResult<C>>;

  // Typed as the constant in ipc-channels.ts, so the compiler keeps this copy equal to it.
  const versionPrefix: Channels['versionArgumentPrefix'] = '--berth-version=';

  const bridge: BerthBridge = {
    version: process.argv.find((arg) => arg.startsWith(versionPrefix))?.slice(versionPrefix.length) ?? '',
    platform: process.platform,
    copyToClipboard: (text) => invoke('berth:copy-to-clipboard', String(text)),
    openExternal: (url) => invoke('berth:open-external', String(url)),
  };

  contextBridge.exposeInMainWorld('berth', bridge);
}
