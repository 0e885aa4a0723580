/**
 * App lifecycle decisions, free of Electron: what a second launch does to the first instance's window, whether
 * closing the window quits, and the quit sequence that lets in-flight registry requests finish first.
 */

export interface WindowPresence {
  exists: boolean;
  minimized: boolean;
  visible: boolean;
}

export type FocusStep = 'create' | 'restore' | 'show' | 'focus';

/** A second `berth` launch hands over to the first: bring its window forward, re-creating it if it was closed. */
export function secondInstanceSteps(window: WindowPresence): FocusStep[] {
  if (!window.exists) return ['create', 'focus'];
  const steps: FocusStep[] = [];
  if (window.minimized) steps.push('restore');
  if (!window.visible) steps.push('show');
  steps.push('focus');
  return steps;
}

/**
 * Berth is a server: closing its window must not stop the registry that `docker` is using. With a tray icon
 * the app keeps running; without one (some Linux desktops have no tray) closing the last window quits,
 * otherwise there would be no way back to it. macOS keeps apps running without windows by convention.
 */
export function quitWhenAllWindowsClosed(platform: NodeJS.Platform, hasTray: boolean): boolean {
  if (platform === 'darwin') return false;
  return !hasTray;
}

export type ShutdownPhase = 'running' | 'stopping' | 'stopped';

export interface ShutdownOptions {
  /** Stops the server gracefully (Berth's `close()`: in-flight requests finish, state is flushed). */
  stop(): Promise<void>;
  /** Ends the process without emitting before-quit again (Electron's `app.exit`). */
  exit(code: number): void;
  onError?(error: unknown): void;
  /** After this long the app exits anyway: a stuck client must not keep Berth from quitting. Default 15 s. */
  forceAfterMs?: number;
}

export interface Shutdown {
  readonly phase: ShutdownPhase;
  /** The `before-quit` handler. */
  beforeQuit(event: { preventDefault(): void }): void;
}

export function createShutdown(options: ShutdownOptions): Shutdown {
  const forceAfterMs = options.forceAfterMs ?? 15_000;
  let phase: ShutdownPhase = 'running';
  const finish = (code: number) => {
    if (phase === 'stopped') return;
    phase = 'stopped';
    options.exit(code);
  };
  return {
    get phase() {
      return phase;
    },
    beforeQuit(event) {
      if (phase === 'stopped') return;
      // Every quit request is held until the server has stopped; repeated Quit clicks do not stop it twice.
      event.preventDefault();
      if (phase === 'stopping') return;
      phase = 'stopping';
      const timer = setTimeout(() => {
        options.onError?.(new Error(`the server did not stop within ${forceAfterMs} ms: exiting anyway`));
        finish(1);
      }, forceAfterMs);
      timer.unref?.();
      options.stop().then(
        () => {
          clearTimeout(timer);
          finish(0);
        },
        (error: unknown) => {
          clearTimeout(timer);
          options.onError?.(error);
          finish(1);
        },
      );
    },
  };
}
