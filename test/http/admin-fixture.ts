import { policyFor } from '../../registry/lifecycle/policies.js';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLog, type AuditLog } from '../../registry/auth/audit-log.js';
import { createAdminApi, createSignInUrl, type MirrorControl } from '../../registry/admin/index.js';
import type { ErrorBody, ListenerInfo } from '../../registry/admin/contract.js';
import { lifecycleChecksOf } from '../../registry/lifecycle/content-policy.js';
import { createRegistry, type Registry } from '../../registry/index.js';
import { silentLogger } from '../../registry/log.js';
import { createStateStore, type StateStore } from '../../registry/state/index.js';
import { createEncryptingDriver } from '../../registry/storage/encryption/encrypting-driver.js';
import { fileKeyRingStore, MasterKeys } from '../../registry/storage/encryption/key-ring.js';
import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { removeDir } from '../support/temp-dir.js';

/**
 * A real registry with the admin API mounted, on an ephemeral loopback port, composed the way berth-server.ts
 * will compose it; plus a signed-in session (obtained through the real sign-in link) for the API calls.
 */
export interface AdminServer {
  readonly url: string;
  readonly dataDir: string;
  readonly registry: Registry;
  readonly state: StateStore;
  readonly audit: AuditLog;
  readonly server: Server;
  /** `berth_admin=…`, for the Cookie header. */
  cookie: string;
  /** A JSON API call with the session cookie and the CSRF header; the body is parsed when there is one. */
  api<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T; headers: Headers }>;
  close(): Promise<void>;
}

export const testVersion = '9.9.9-test';

/** A real AES-256-GCM seal, as the server's will be: what matters to the tests is that the plain text is not stored. */
export function testSealer(): (plain: string) => string {
  const key = randomBytes(32);
  return (plain) => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `v1:${Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64')}`;
  };
}

export async function startAdminServer(
  options: {
    mirror?: MirrorControl;
    dataDir?: string;
    signIn?: boolean;
    /** Serve the storage through the encrypting layer (as `berth serve` does), master keys in this ring file. */
    keyRingFile?: string;
  } = {},
): Promise<AdminServer> {
  const dataDir = options.dataDir ?? join(await mkdtemp(join(tmpdir(), 'berth-admin-')), 'data');
  const state = await createStateStore(dataDir);
  const audit = await createAuditLog(dataDir);
  const urls: ListenerInfo = {};
  const log = silentLogger();
  // The registry takes the admin mounts at creation, and the admin API needs the registry: pass it lazily.
  let registry: Registry | undefined;
  const encryption = options.keyRingFile ? createEncryptingDriver(createFilesystemDriver(dataDir), new MasterKeys(fileKeyRingStore(options.keyRingFile))) : undefined;
  const mounts = createAdminApi({
    registry: () => registry as Registry,
    state,
    audit,
    dataDir,
    storageBackend: `filesystem ${dataDir}`,
    urls: () => urls,
    log,
    sealSecret: testSealer(),
    mirror: options.mirror,
    version: testVersion,
    ...(encryption ? { encryption } : {}),
  });
  // Berth's lifecycle checks (immutable tags, quotas) and each namespace's trash days as berth-server wires them.
  registry = await createRegistry({
    dataDir,
    logger: log,
    mounts,
    ...(encryption ? { driver: encryption } : {}),
    contentPolicy: (stores) => lifecycleChecksOf(stores, () => state.read(), { cacheWith: stores.events }).checks,
    trashDays: (repository) => policyFor(state.read(), repository).trashDays,
  });
  const { url, server } = await registry.listen({ host: '127.0.0.1', port: 0 });
  urls.http = url;

  const admin: AdminServer = {
    url,
    dataDir,
    registry: registry as Registry,
    state,
    audit,
    server,
    cookie: '',
    async api<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          cookie: admin.cookie,
          'x-berth-admin': '1',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
      });
      const text = await response.text();
      const parsed = text && /json/.test(response.headers.get('content-type') ?? '') ? (JSON.parse(text) as T) : (text as T);
      return { status: response.status, body: parsed, headers: response.headers };
    },
    async close() {
      await registry?.close(500);
      await audit.close();
      await state.close();
      if (!options.dataDir) await removeDir(join(dataDir, '..'));
    },
  };
  if (options.signIn !== false) admin.cookie = await signIn(url, dataDir);
  return admin;
}

/** Signs in the way a user does: `berth ui-url`'s link, opened once. Returns the Cookie header value. */
export async function signIn(url: string, dataDir: string): Promise<string> {
  const { url: link } = await createSignInUrl(dataDir, url);
  const response = await fetch(link, { redirect: 'manual', signal: AbortSignal.timeout(5_000) });
  await response.arrayBuffer();
  assert.equal(response.status, 303, `sign-in link answered ${response.status}`);
  const setCookie = response.headers.get('set-cookie') ?? '';
  const pair = setCookie.split(';')[0] ?? '';
  assert.match(pair, /^berth_admin=[A-Za-z0-9_-]{40,}$/);
  return pair;
}

/** Asserts the contract's error body and returns it. */
export function assertAdminError(result: { status: number; body: unknown }, status: number, code: string): ErrorBody {
  assert.equal(result.status, status, `expected ${status} ${code}, got ${result.status} ${JSON.stringify(result.body).slice(0, 300)}`);
  const body = result.body as ErrorBody;
  assert.equal(typeof body, 'object', `error body is not JSON: ${String(result.body).slice(0, 200)}`);
  assert.equal(body.error.code, code, `expected code ${code}: ${JSON.stringify(body)}`);
  assert.equal(typeof body.error.message, 'string');
  assert.doesNotMatch(JSON.stringify(body), /\n\s+at /, 'no stack traces in error bodies');
  return body;
}
