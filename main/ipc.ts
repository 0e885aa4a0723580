import { clipboard, ipcMain, shell, type IpcMainInvokeEvent } from 'electron';
import type { Logger } from '../registry/log.js';
import type { IpcChannel, IpcResult } from './ipc-channels.js';
import { clipboardTextArgument, externalUrlArgument } from './logic/ipc-arguments.js';
import { IpcRefusedError, isTrustedSender, type TrustedSenders } from './logic/ipc-sender.js';

/** One handler per channel of the table (the type makes a missing one a compile error). Arguments are untrusted. */
export type IpcHandlers = { [C in IpcChannel]: (...args: unknown[]) => IpcResult<C> | Promise<IpcResult<C>> };

export function ipcHandlers(): IpcHandlers {
  return {
    'berth:copy-to-clipboard': (text) => clipboard.writeText(clipboardTextArgument(text)),
    'berth:open-external': (url) => shell.openExternal(externalUrlArgument(url)),
  };
}

/**
 * Registers every handler behind the sender check: only Berth's own window, showing Berth's own origin, may
 * call. `trusted` is read on each call because the origin and the window change over the app's life.
 * Returns a function that removes the handlers.
 */
export function setupIpc(trusted: () => TrustedSenders, log: Logger, handlers: IpcHandlers = ipcHandlers()): () => void {
  const channels = Object.keys(handlers) as IpcChannel[];
  for (const channel of channels) {
    const handle = handlers[channel] as (...args: unknown[]) => unknown;
    ipcMain.handle(channel, (event: IpcMainInvokeEvent, ...args: unknown[]) => {
      const sender = { frameUrl: event.senderFrame?.url, webContentsId: event.sender.id };
      if (!isTrustedSender(sender, trusted())) {
        log.warn({ channel, url: sender.frameUrl }, 'refused IPC from a frame that is not Berth');
        throw new IpcRefusedError(channel, 'the caller is not Berth\'s window');
      }
      return handle(...args);
    });
  }
  return () => {
    for (const channel of channels) ipcMain.removeHandler(channel);
  };
}
