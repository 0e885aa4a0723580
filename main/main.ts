/**
 * The desktop app's entry point (`dist/main/main.js`, run by Electron). It is a list of setupX() calls over
 * plain functions: Berth itself is the same `startBerth()` as `berth serve`, on the same data directory, in
 * this process; the window is a locked-down view of Berth's own GUI; the tray keeps the registry reachable
 * when the window is closed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, clipboard, dialog, safeStorage, session } from 'electron';
import { createSignInUrl } from '../registry/admin/sign-in.js';
import { startBerth, type Berth } from '../registry/berth-server.js';
import { defaultDataDir } from '../registry/config/data-dir.js';
import { changedSettingKeys, createSettingsWatcher, type SettingsWatcher } from '../registry/config/settings-watcher.js';
import { createLogger } from '../registry/log.js';
import { stateFileName, type Settings } from '../registry/state/index.js';
import { setupContentSecurity } from './content-security.js';
import { setupIpc } from './ipc.js';
import { getOpenAtLogin, setOpenAtLogin, startedAtLogin } from './login-item.js';
import { isSameCertificate } from './logic/certificate-trust.js';
import { desktopKeyRingStore } from './logic/keychain-key-ring.js';
import { parseLaunchOptions } from './logic/launch-options.js';
import { createShutdown, quitWhenAllWindowsClosed, secondInstanceSteps } from './logic/lifecycle.js';
import { settingsPlan, tlsNamesOf } from './logic/live-settings.js';
import { originOf } from './logic/navigation.js';
import { loginUserFrom, type MirrorStatus, type TrayActions } from './logic/tray-menu.js';
import { setupTray, type TrayController } from './tray.js';
import { createMainWindow } from './window.js';

/** The mirror scheduler's controls, when Berth has one (injected; the tray shows "Mirror not set up" without). */
export interface MirrorControl {
  isPaused(): boolean;
  pause(): Promise<void>;
  resume(): Promise<void>;
}

const log = createLogger();
const launch = parseLaunchOptions(process.argv.slice(1));
const dataDir = launch.dataDir ?? defaultDataDir();
const appRoot = fileURLToPath(new URL('../../', import.meta.url));
const preloadPath = fileURLToPath(new URL('./preload.cjs', import.meta.url));
const iconPath = join(appRoot, 'build', 'icon.png');
// macOS wants a black "Template" image it recolours for the menu bar; elsewhere the coloured mark reads best.
const trayIconPath = join(appRoot, 'build', process.platform === 'darwin' ? 'trayTemplate.png' : 'tray.png');
const loginUserRefreshMs = 15_000;
/** From our package.json: `npm start` runs Electron on a script file, where app.getVersion() is Electron's own. */
const version = (JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8')) as { version: string }).version;

// The same name and userData directory whether packaged or started from a checkout (`electron dist/main/main.js`
// would otherwise be called "Electron" and share its userData with every other unpackaged app).
app.setName('Berth');
// Every renderer sandboxed, whatever a future window forgets to set.
app.enableSandbox();
app.setPath('userData', join(app.getPath('appData'), 'Berth'));

let berth: Berth | undefined;
let window: BrowserWindow | undefined;
let tray: TrayController | undefined;
let watcher: SettingsWatcher | undefined;
/** Berth's origin for the window, IPC and CSP checks; '' until the server is up (matches nothing). */
let origin = '';
/** Set once Berth has a pausable sync scheduler to hand over; until then the tray says "Mirror not set up". */
let mirror: MirrorControl | undefined;

function mirrorStatus(): MirrorStatus {
  if (!mirror) return 'absent';
  return mirror.isPaused() ? 'paused' : 'running';
}

function baseUrl(server: Berth): string | undefined {
  // Plain HTTP is loopback-only and needs no certificate trust, so the window prefers it.
  return server.urls.http ?? server.urls.https;
}

async function startServer(): Promise<void> {
  tray?.update({ server: 'starting', error: undefined });
  try {
    // Encryption keys sealed by the OS keychain when there is one (main/logic/keychain-key-ring.ts).
    const keyRing = desktopKeyRingStore(app.getPath('userData'), safeStorage);
    berth = await startBerth({ dataDir, logger: log, ...(keyRing ? { keyRing } : {}) });
    mirror = berth.sync;
  } catch (error) {
    const message = (error as Error).message;
    log.error({ err: error, dataDir }, 'Berth could not start');
    tray?.update({ server: 'failed', error: message });
    dialog.showErrorBox('Berth could not start', message);
    return;
  }
  origin = originOf(baseUrl(berth)) ?? '';
  tray?.update({
    server: 'listening',
    urls: { ...berth.urls },
    loginUser: loginUserFrom(berth.state.read().tokens),
    mirror: mirrorStatus(),
  });
  log.info({ urls: berth.urls, dataDir }, 'berth ready');
}

async function stopServer(): Promise<void> {
  const running = berth;
  berth = undefined;
  origin = '';
  tray?.update({ server: 'stopped' });
  await running?.close();
}

async function signInUrl(): Promise<string> {
  const base = berth ? baseUrl(berth) : undefined;
  if (!base) throw new Error('Berth is not listening');
  return (await createSignInUrl(dataDir, base)).url;
}

async function openWindow(): Promise<void> {
  if (window && !window.isDestroyed()) {
    const steps = secondInstanceSteps({ exists: true, minimized: window.isMinimized(), visible: window.isVisible() });
    if (steps.includes('restore')) window.restore();
    if (steps.includes('show')) window.show();
    window.focus();
    return;
  }
  if (!berth) return;
  window = await createMainWindow({
    userDataDir: app.getPath('userData'),
    origin: () => origin,
    loadUrl: signInUrl,
    preloadPath,
    iconPath,
    version,
    show: true,
    log,
  });
  window.on('closed', () => {
    window = undefined;
  });
}

async function applySettings(next: Settings, previous: Settings): Promise<void> {
  const plan = settingsPlan(changedSettingKeys(previous, next));
  if (plan.restartServer) {
    log.info('listener settings changed: restarting the server');
    await stopServer();
    await startServer();
    if (window && !window.isDestroyed() && berth) await window.loadURL(await signInUrl());
  } else if (plan.reissueCertificate) {
    await berth?.certificates?.setNames(tlsNamesOf(next));
  }
}

const trayActions: TrayActions = {
  openWindow: () => void openWindow().catch((error: unknown) => log.error({ err: error }, 'opening the window failed')),
  copyText: (text) => clipboard.writeText(text),
  pauseMirror: () => void mirror?.pause().then(() => tray?.update({ mirror: mirrorStatus() })),
  resumeMirror: () => void mirror?.resume().then(() => tray?.update({ mirror: mirrorStatus() })),
  setOpenAtLogin: (enabled) =>
    void setOpenAtLogin(enabled).then(
      () => tray?.update({ openAtLogin: enabled }),
      (error: unknown) => log.error({ err: error }, 'could not change start at login'),
    ),
  quit: () => app.quit(),
};

async function start(): Promise<void> {
  setupContentSecurity(session.defaultSession, () => origin);
  setupIpc(() => ({ origin, webContentsIds: window && !window.isDestroyed() ? [window.webContents.id] : [] }), log);
  tray = setupTray({
    iconPath: trayIconPath,
    initial: { server: 'starting', urls: {}, mirror: mirrorStatus(), openAtLogin: await getOpenAtLogin() },
    actions: trayActions,
    log,
  });
  await startServer();
  if (!berth && !tray) {
    // Nothing to show and no tray to retry from: the error box has been shown, so leave.
    app.quit();
    return;
  }
  watcher = await createSettingsWatcher({ path: join(dataDir, stateFileName), applySettings, logger: log });
  // New access tokens appear in the login command without a restart (a read of the state snapshot).
  setInterval(() => {
    if (berth) tray?.update({ loginUser: loginUserFrom(berth.state.read().tokens) });
  }, loginUserRefreshMs).unref();
  if (!launch.hidden && !startedAtLogin()) await openWindow();
}

if (!app.requestSingleInstanceLock()) {
  // Another Berth owns the data directory and the ports: hand over to it (it focuses its window) and leave.
  app.quit();
} else {
  const shutdown = createShutdown({
    async stop() {
      await watcher?.close();
      await stopServer();
      tray?.destroy();
    },
    exit: (code) => app.exit(code),
    onError: (error) => log.error({ err: error }, 'stopping Berth failed'),
  });
  app.on('before-quit', (event) => shutdown.beforeQuit(event));
  app.on('second-instance', () => trayActions.openWindow());
  app.on('activate', () => trayActions.openWindow());
  app.on('window-all-closed', () => {
    if (quitWhenAllWindowsClosed(process.platform, tray !== undefined)) app.quit();
  });
  app.on('certificate-error', (event, _contents, url, _error, certificate, callback) => {
    // Only when the window talks HTTPS to Berth itself, and only for Berth's current server certificate.
    const expected = berth?.certificates?.secureContextOptions().cert;
    const trusted = originOf(url) === origin && expected !== undefined && isSameCertificate(certificate.data, expected);
    if (trusted) event.preventDefault();
    callback(trusted);
  });
  app.whenReady().then(start).catch((error: unknown) => {
    log.fatal({ err: error }, 'the desktop app failed to start');
    dialog.showErrorBox('Berth failed to start', (error as Error).message);
    app.exit(1);
  });
}
