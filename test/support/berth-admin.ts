import assert from 'node:assert/strict';
import type { BerthProcess } from './berth-process.js';

/**
 * The admin side of a real `berth serve` child, the way a person gets there: a link from `berth ui-url` becomes a
 * session cookie, and the session creates access tokens through the admin API.
 */

/** Trades a `berth ui-url` link for a `berth_admin=...` cookie. */
export async function signInAsAdmin(berth: BerthProcess): Promise<string> {
  const response = await fetch(await berth.signInUrl(), { redirect: 'manual' });
  await response.arrayBuffer();
  const cookie = /berth_admin=[^;]+/.exec(response.headers.get('set-cookie') ?? '')?.[0];
  assert.ok(response.status === 303 && cookie, `the sign-in link answered ${response.status} without a session cookie`);
  return cookie;
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
