import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { createAccessToken, signInAsAdmin } from '../support/berth-admin.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { sha256 } from '../support/oci-client.js';
import { basicHeader } from '../support/registry-auth.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * `berth serve` exactly as a user starts it (no --auth flag: token auth), with an access token that may pull, push
 * and delete everywhere, and a tiny /v2 client that sends it: for tests that race many requests.
 */
export interface Client {
  readonly url: string;
  readonly headers: Record<string, string>;
}

export async function send(client: Client, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${client.url}${path}`, {
    method,
    headers: { ...client.headers, ...headers },
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(30_000),
  });
}

/** A monolithic blob push (`POST ?digest=`): for a blob the store already holds, the upload is the reuse. */
export async function pushBlob(client: Client, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const response = await send(client, 'POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, bytes, { 'content-type': 'application/octet-stream' });
  const text = await response.text();
  assert.equal(response.status, 201, `blob push into ${repo}: ${response.status} ${text}`);
  return digest;
}

export async function startDefaultBerth(t: TestContext): Promise<DefaultBerth> {
  const dataDir = await makeTempDir(t, 'berth-default-');
  // No --auth flag: token auth, what a user gets.
  const berth = await startBerth({ dataDir, auth: null, tlsListen: 'off' });
  t.after(() => berth.stop());
  const cookie = await signInAsAdmin(berth);
  const token = await createAccessToken(berth, cookie, 'racer', ['*:pull,push,delete']);
  const client = { url: berth.url, headers: { authorization: basicHeader('racer', token) } };
  const anonymous = await fetch(`${berth.url}/v2/`);
  await anonymous.arrayBuffer();
  assert.equal(anonymous.status, 401, 'the server runs with token auth');
  return { berth, client, cookie, dataDir };
}


export interface DefaultBerth {
  berth: BerthProcess;
  client: Client;
  /** An admin session's Cookie header. */
  cookie: string;
  dataDir: string;
}
