import { originOf } from './navigation.js';

/**
 * Main-process IPC handlers act with the app's full privileges, so each call is checked to come from our own
 * window showing our own origin: a compromised or navigated-away frame (or any other webContents, such as a
 * devtools extension page) is refused.
 */

export interface IpcSender {
  /** `event.senderFrame?.url`: undefined when the frame is gone (navigated or destroyed) before the call. */
  frameUrl: string | undefined;
  /** `event.sender.id`. */
  webContentsId: number;
}

export interface TrustedSenders {
  /** Berth's origin, e.g. `http://127.0.0.1:5000`. */
  origin: string;
  /** The webContents ids of Berth's own windows. */
  webContentsIds: Iterable<number>;
}

export function isTrustedSender(sender: IpcSender, trusted: TrustedSenders): boolean {
  if (originOf(sender.frameUrl) !== trusted.origin) return false;
  for (const id of trusted.webContentsIds) if (id === sender.webContentsId) return true;
  return false;
}

/** Thrown (and so rejected to the renderer) for refused senders and bad arguments. */
export class IpcRefusedError extends Error {
  readonly code = 'BERTH_IPC_REFUSED';
  constructor(channel: string, reason: string) {
    super(`IPC ${channel} refused: ${reason}`);
    this.name = 'IpcRefusedError';
  }
}
