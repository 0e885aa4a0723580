import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { berthContentSecurityPolicy, withContentSecurityPolicy } from '../../main/logic/content-security-policy.js';
import { clipboardTextArgument, externalUrlArgument, maxClipboardText } from '../../main/logic/ipc-arguments.js';
import { isTrustedSender } from '../../main/logic/ipc-sender.js';
import { navigationDecision, originOf } from '../../main/logic/navigation.js';

const origin = 'http://127.0.0.1:5000';
const trusted = { origin, webContentsIds: new Set([3]) };

describe('isTrustedSender', () => {
  it('accepts our window showing our origin, on any page of it', () => {
    assert.equal(isTrustedSender({ frameUrl: 'http://127.0.0.1:5000/ui/tokens?x=1', webContentsId: 3 }, trusted), true);
  });

  it('refuses another webContents, even on our origin', () => {
    assert.equal(isTrustedSender({ frameUrl: 'http://127.0.0.1:5000/ui/', webContentsId: 4 }, trusted), false);
  });

  it('refuses our window once it shows another origin, port or scheme', () => {
    for (const frameUrl of [
      'http://127.0.0.1:5001/ui/',
      'https://127.0.0.1:5000/ui/',
      'http://localhost:5000/ui/',
      'http://127.0.0.1:5000.evil.example/',
      'file:///etc/passwd',
      'data:text/html,<script>1</script>',
      'about:blank',
      'not a url',
      undefined,
    ]) {
      assert.equal(isTrustedSender({ frameUrl, webContentsId: 3 }, trusted), false, String(frameUrl));
    }
  });
});

describe('navigation', () => {
  it('keeps Berth inside the window, sends the web to the browser and refuses other schemes', () => {
    assert.equal(navigationDecision('http://127.0.0.1:5000/ui/audit', origin), 'allow');
    assert.equal(navigationDecision('https://docs.docker.com/', origin), 'open-external');
    assert.equal(navigationDecision('http://127.0.0.1:8080/', origin), 'open-external');
    for (const url of ['file:///home', 'javascript:alert(1)', 'vscode://file/x', 'mailto:a@b.c', '']) {
      assert.equal(navigationDecision(url, origin), 'deny', url);
    }
  });

  it('treats origins without a host as none', () => {
    assert.equal(originOf('data:,x'), undefined);
    assert.equal(originOf('http://127.0.0.1:5000/a'), origin);
  });
});

describe('IPC arguments', () => {
  it('passes http(s) URLs only to openExternal', () => {
    assert.equal(externalUrlArgument('https://github.com/berth'), 'https://github.com/berth');
    for (const bad of ['file:///etc/passwd', 'smb://host/share', 'javascript:1', 42, undefined]) {
      assert.throws(() => externalUrlArgument(bad), TypeError, String(bad));
    }
  });

  it('copies strings of sane size only', () => {
    assert.equal(clipboardTextArgument('docker login 127.0.0.1:5000 -u ci'), 'docker login 127.0.0.1:5000 -u ci');
    assert.throws(() => clipboardTextArgument({ toString: () => 'x' }), TypeError);
    assert.throws(() => clipboardTextArgument('x'.repeat(maxClipboardText + 1)), RangeError);
  });
});

describe('withContentSecurityPolicy', () => {
  it('replaces any CSP from our origin with the policy, whatever the header case', () => {
    const headers = withContentSecurityPolicy(
      { 'content-security-policy': ["default-src *"], 'Content-Type': ['text/html'] },
      'http://127.0.0.1:5000/ui/',
      origin,
    );
    assert.deepEqual(headers, { 'Content-Type': ['text/html'], 'Content-Security-Policy': [berthContentSecurityPolicy] });
  });

  it('leaves other origins alone', () => {
    const original = { 'Content-Type': ['text/html'] };
    assert.equal(withContentSecurityPolicy(original, 'https://example.com/', origin), original);
  });

  it('is the policy the UI server sends: no inline script, no other origin, no framing', () => {
    assert.equal(
      berthContentSecurityPolicy,
      "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
  });
});
