import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  loginCommand,
  trayMenuTemplate,
  trayTooltip,
  type TrayActions,
  type TrayMenuItem,
  type TrayState,
} from '../../main/logic/tray-menu.js';

function recordingActions(): { actions: TrayActions; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    actions: {
      openWindow: () => calls.push('open'),
      copyText: (text) => calls.push(`copy ${text}`),
      pauseMirror: () => calls.push('pause'),
      resumeMirror: () => calls.push('resume'),
      setOpenAtLogin: (enabled) => calls.push(`login ${enabled}`),
      quit: () => calls.push('quit'),
    },
  };
}

const listening: TrayState = {
  server: 'listening',
  urls: { http: 'http://127.0.0.1:5000', https: 'https://127.0.0.1:5443' },
  loginUser: 'ci',
  mirror: 'running',
  openAtLogin: false,
};

function item(menu: TrayMenuItem[], id: string): TrayMenuItem {
  const found = menu.find((entry) => entry.id === id);
  assert.ok(found, `menu has ${id}`);
  return found;
}

function labels(menu: TrayMenuItem[]): string[] {
  return menu.map((entry) => (entry.type === 'separator' ? '---' : (entry.label ?? '')));
}

describe('trayMenuTemplate', () => {
  it('offers everything while listening, and each item does what it says', () => {
    const { actions, calls } = recordingActions();
    const menu = trayMenuTemplate(listening, actions);
    assert.deepEqual(labels(menu), [
      'Listening on 127.0.0.1:5000, 127.0.0.1:5443', '---', 'Open Berth', 'Copy login command', '---',
      'Pause mirror', '---', 'Start at login', '---', 'Quit Berth',
    ]);
    assert.equal(item(menu, 'status').enabled, false, 'the status line is information, not an action');
    for (const id of ['open', 'copy-login', 'mirror', 'open-at-login', 'quit']) item(menu, id).click?.();
    assert.deepEqual(calls, ['open', 'copy docker login 127.0.0.1:5000 -u ci', 'pause', 'login true', 'quit']);
  });

  it('turns the mirror item into Resume while paused', () => {
    const { actions, calls } = recordingActions();
    const menu = trayMenuTemplate({ ...listening, mirror: 'paused', openAtLogin: true }, actions);
    assert.equal(item(menu, 'mirror').label, 'Resume mirror');
    item(menu, 'mirror').click?.();
    const login = item(menu, 'open-at-login');
    assert.equal(login.type, 'checkbox');
    assert.equal(login.checked, true);
    login.click?.();
    assert.deepEqual(calls, ['resume', 'login false']);
  });

  it('shows a disabled note, not a dead button, when there is no mirror', () => {
    const menu = trayMenuTemplate({ ...listening, mirror: 'absent' }, recordingActions().actions);
    assert.deepEqual(item(menu, 'mirror'), { id: 'mirror', label: 'Mirror not set up', enabled: false });
  });

  it('disables what needs a running server while starting, stopped or failed, but always allows Quit', () => {
    for (const server of ['starting', 'stopped', 'failed'] as const) {
      const menu = trayMenuTemplate({ ...listening, server, error: 'port 5000 in use' }, recordingActions().actions);
      assert.equal(item(menu, 'open').enabled, false, server);
      assert.equal(item(menu, 'copy-login').enabled, false, server);
      assert.equal(item(menu, 'copy-login').click, undefined, server);
      assert.equal(item(menu, 'mirror').enabled, false, server);
      assert.notEqual(item(menu, 'quit').enabled, false, server);
      assert.notEqual(item(menu, 'open-at-login').enabled, false, server);
    }
    const failed = trayMenuTemplate({ ...listening, server: 'failed', error: 'port 5000 in use' }, recordingActions().actions);
    assert.equal(item(failed, 'status').label, 'Failed: port 5000 in use');
  });
});

describe('trayTooltip and loginCommand', () => {
  it('says the state and the addresses', () => {
    assert.equal(trayTooltip(listening), 'Berth: Listening on 127.0.0.1:5000, 127.0.0.1:5443');
    assert.equal(trayTooltip({ ...listening, mirror: 'paused' }), 'Berth: Listening on 127.0.0.1:5000, 127.0.0.1:5443\nMirror paused');
    assert.equal(trayTooltip({ ...listening, server: 'stopped' }), 'Berth: Stopped');
    assert.equal(trayTooltip({ ...listening, server: 'starting' }), 'Berth: Starting…');
  });

  it('prefers the loopback HTTP listener, falls back to HTTPS, and uses a placeholder without a token name', () => {
    assert.equal(loginCommand(listening.urls, 'ci'), 'docker login 127.0.0.1:5000 -u ci');
    assert.equal(loginCommand({ https: 'https://berth.local:5443' }, undefined), 'docker login berth.local:5443 -u <token-name>');
    assert.equal(loginCommand({}, 'ci'), undefined);
  });
});
