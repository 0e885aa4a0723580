import type { TokenRecord } from '../../registry/state/schema.js';

/**
 * The tray icon's tooltip and menu as plain data, so what the user sees in every state is tested in Node.
 * `main/tray.ts` hands the template to Electron's `Menu.buildFromTemplate` unchanged.
 */

export type ServerStatus = 'starting' | 'listening' | 'stopped' | 'failed';
/** `absent`: this Berth has no mirror scheduler (no upstreams, or the feature is not built in). */
export type MirrorStatus = 'running' | 'paused' | 'absent';

export interface TrayState {
  server: ServerStatus;
  urls: { http?: string; https?: string };
  /** Why the server failed, shown in the tooltip. */
  error?: string;
  /** The access-token name to put in the login command; a placeholder is shown without one. */
  loginUser?: string;
  mirror: MirrorStatus;
  openAtLogin: boolean;
}

export interface TrayActions {
  openWindow(): void;
  copyText(text: string): void;
  pauseMirror(): void;
  resumeMirror(): void;
  setOpenAtLogin(enabled: boolean): void;
  quit(): void;
}

/** The subset of Electron's MenuItemConstructorOptions Berth uses (structurally compatible with it). */
export interface TrayMenuItem {
  id?: string;
  label?: string;
  type?: 'normal' | 'separator' | 'checkbox';
  enabled?: boolean;
  checked?: boolean;
  toolTip?: string;
  click?: () => void;
}

export const loginUserPlaceholder = '<token-name>';

/**
 * The `host:port` clients log in to. The plain-HTTP listener is preferred: it is loopback-only and Docker
 * talks HTTP to 127.0.0.1 without configuration, whereas HTTPS needs Berth's CA trusted first.
 */
export function registryHost(urls: TrayState['urls']): string | undefined {
  const url = urls.http ?? urls.https;
  return url ? new URL(url).host : undefined;
}

export function loginCommand(urls: TrayState['urls'], user: string | undefined): string | undefined {
  const host = registryHost(urls);
  return host ? `docker login ${host} -u ${user ?? loginUserPlaceholder}` : undefined;
}

/** A token name to log in with: the most recently created token that is neither revoked nor expired. */
export function loginUserFrom(tokens: readonly TokenRecord[], now: Date = new Date()): string | undefined {
  const usable = tokens.filter((token) => !token.revokedAt && (!token.expiresAt || Date.parse(token.expiresAt) > now.getTime()));
  return usable.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0]?.name;
}

function statusLine(state: TrayState): string {
  switch (state.server) {
    case 'starting':
      return 'Starting…';
    case 'listening': {
      const urls = [state.urls.http, state.urls.https].filter((url): url is string => url !== undefined);
      return urls.length > 0 ? `Listening on ${urls.map((url) => new URL(url).host).join(', ')}` : 'Running (no listener)';
    }
    case 'stopped':
      return 'Stopped';
    case 'failed':
      return state.error ? `Failed: ${state.error}` : 'Failed to start';
  }
}

/** One line per fact; tooltips are plain text everywhere (Linux trays show the first line only). */
export function trayTooltip(state: TrayState): string {
  const lines = [`Berth: ${statusLine(state)}`];
  if (state.mirror === 'paused') lines.push('Mirror paused');
  return lines.join('\n');
}

export function trayMenuTemplate(state: TrayState, actions: TrayActions): TrayMenuItem[] {
  const listening = state.server === 'listening';
  const command = listening ? loginCommand(state.urls, state.loginUser) : undefined;
  const mirror: TrayMenuItem =
    state.mirror === 'absent'
      ? { id: 'mirror', label: 'Mirror not set up', enabled: false }
      : state.mirror === 'running'
        ? { id: 'mirror', label: 'Pause mirror', enabled: listening, click: () => actions.pauseMirror() }
        : { id: 'mirror', label: 'Resume mirror', enabled: listening, click: () => actions.resumeMirror() };
  return [
    { id: 'status', label: statusLine(state), enabled: false },
    { type: 'separator' },
    { id: 'open', label: 'Open Berth', enabled: listening, click: () => actions.openWindow() },
    {
      id: 'copy-login',
      label: 'Copy login command',
      enabled: command !== undefined,
      ...(command ? { toolTip: command, click: () => actions.copyText(command) } : {}),
    },
    { type: 'separator' },
    mirror,
    { type: 'separator' },
    {
      id: 'open-at-login',
      label: 'Start at login',
      type: 'checkbox',
      checked: state.openAtLogin,
      click: () => actions.setOpenAtLogin(!state.openAtLogin),
    },
    { type: 'separator' },
    { id: 'quit', label: 'Quit Berth', click: () => actions.quit() },
  ];
}
