import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCertificateManager } from '../../registry/tls/index.js';
import { autostartEntry, autostartFile, isAutostartEnabled, setAutostart } from '../../main/logic/autostart.js';
import { isSameCertificate } from '../../main/logic/certificate-trust.js';
import { parseLaunchOptions } from '../../main/logic/launch-options.js';
import { settingsPlan, tlsNamesOf } from '../../main/logic/live-settings.js';
import { loginUserFrom } from '../../main/logic/tray-menu.js';
import type { TokenRecord } from '../../registry/state/schema.js';
import { makeTempDir } from '../support/temp-dir.js';

describe('launch options', () => {
  it('reads --data and --hidden among Chromium switches', () => {
    assert.deepEqual(parseLaunchOptions(['/app', '--enable-logging', '--data', '/srv/berth', '--hidden']), { dataDir: '/srv/berth', hidden: true });
    assert.deepEqual(parseLaunchOptions(['--no-sandbox', '--data=/x']), { dataDir: '/x', hidden: false });
    assert.deepEqual(parseLaunchOptions([]), { hidden: false });
  });
});

describe('start at login on Linux (XDG autostart)', () => {
  it('writes and removes a desktop entry that starts Berth hidden', async (t) => {
    const dir = await makeTempDir(t);
    const file = autostartFile({ XDG_CONFIG_HOME: dir });
    assert.equal(file, join(dir, 'autostart', 'berth.desktop'));
    assert.equal(await isAutostartEnabled(file), false);
    await setAutostart(file, true, ['/opt/Berth Apps/berth.AppImage']);
    assert.equal(await isAutostartEnabled(file), true);
    const text = await readFile(file, 'utf8');
    assert.match(text, /^\[Desktop Entry\]\nType=Application\n/);
    assert.match(text, /\nExec="\/opt\/Berth Apps\/berth.AppImage" --hidden\n/, 'paths with spaces are quoted');
    await setAutostart(file, false, []);
    assert.equal(await isAutostartEnabled(file), false);
    await setAutostart(file, false, []);
  });

  it('escapes characters the Exec key gives meaning to', () => {
    assert.match(autostartEntry(['/home/a$b/"x"/electron', '/app']), /Exec="\/home\/a\\\$b\/\\"x\\"\/electron" \/app --hidden/);
  });
});

describe('live settings plan', () => {
  it('restarts the server for listener changes and re-issues the certificate for names only', () => {
    assert.deepEqual(settingsPlan(['listen']), { restartServer: true, reissueCertificate: false });
    assert.deepEqual(settingsPlan(['tlsListen', 'tlsNames']), { restartServer: true, reissueCertificate: false });
    assert.deepEqual(settingsPlan(['tlsNames']), { restartServer: false, reissueCertificate: true });
    assert.deepEqual(settingsPlan(['theme']), { restartServer: false, reissueCertificate: false });
    assert.deepEqual(tlsNamesOf({ tlsNames: ['berth.lan', 3, null, '10.0.0.2'] }), ['berth.lan', '10.0.0.2']);
    assert.deepEqual(tlsNamesOf({ tlsNames: 'berth.lan' }), []);
  });
});

describe('loginUserFrom', () => {
  it('names the newest token that can still log in', () => {
    const token = (name: string, createdAt: string, extra: Partial<TokenRecord> = {}): TokenRecord => ({
      id: name, name, hash: 'h', scopes: [], createdAt, ...extra,
    });
    const now = new Date('2025-06-01T00:00:00Z');
    const tokens = [
      token('old', '2025-01-01T00:00:00Z'),
      token('revoked', '2025-05-01T00:00:00Z', { revokedAt: '2025-05-02T00:00:00Z' }),
      token('expired', '2025-05-03T00:00:00Z', { expiresAt: '2025-05-04T00:00:00Z' }),
      token('ci', '2025-03-01T00:00:00Z', { expiresAt: '2026-01-01T00:00:00Z' }),
    ];
    assert.equal(loginUserFrom(tokens, now), 'ci');
    assert.equal(loginUserFrom([], now), undefined);
  });
});

describe('certificate trust for the HTTPS-only window', () => {
  it("accepts Berth's own server certificate, whatever its PEM line wrapping, and nothing else", async (t) => {
    const [a, b] = [await makeTempDir(t), await makeTempDir(t)];
    const first = createCertificateManager({ dataDir: a });
    const other = createCertificateManager({ dataDir: b });
    t.after(async () => {
      await first.close();
      await other.close();
    });
    const mine = (await first.ensure()).server.pem;
    const theirs = (await other.ensure()).server.pem;
    assert.equal(isSameCertificate(mine.replace(/\n/g, '\r\n'), mine), true);
    assert.equal(isSameCertificate(theirs, mine), false);
    assert.equal(isSameCertificate('not a certificate', mine), false);
  });
});
