import assert from 'node:assert/strict';
import type { BerthProcess } from './berth-process.js';

/**
 * The admin side of a real `berth serve` child, the way a person gets there: the sign-in link Berth logs at
 * start becomes a session cookie, and the session creates access tokens through the admin API (which the
 * running server honours at once, unlike a state file written by another process).
 */

/** Trades the sign-in link from the start-up log for a `berth_admin=...` cookie. Polls briefly: the code is written as Berth starts. */
export async function signInAsAdmin(berth: BerthProcess, timeoutMs = 20_000): Promise<string> {
  const line = await berth.waitForLog((entry) => typeof entry.signInUrl === 'string');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(String(line.signInUrl), { redirect: 'manual' });
    await response.arrayBuffer();
    const cookie = /berth_admin=[^;]+/.exec(response.headers.get('set-cookie') ?? '')?.[0];
    if (response.status === 303 && cookie) return cookie;
    if (Date.now() > deadline) assert.fail(`the sign-in link answered ${response.status} without a session cookie`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Creates an access token through the admin API (`POST /api/tokens`) and returns its secret. */
export async function createAccessToken(berth: BerthProcess, cookie: string, name: string, scopes: readonly string[]): Promise<string> {
  const response = await fetch(`${berth.url}/api/tokens`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json', 'x-berth-admin': '1' },
    body: JSON.stringify({ name, scopes }),
  });
  const text = await response.text();
  assert.equal(response.status, 201, `POST /api/tokens ${name}: ${text}`);
  return (JSON.parse(text) as { token: string }).token;
}
