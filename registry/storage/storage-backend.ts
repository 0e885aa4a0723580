import { readOwnerOnlySecretFile } from '../config/secret-file.js';
import { openKeyRing, type MetadataBackend, type OpenKeyRing } from '../state/metadata-backend.js';
import type { StorageDriver } from './driver.js';
import type { EncryptingDriver } from './encryption/encrypting-driver.js';
import { createEncryptingDriver } from './encryption/encrypting-driver.js';
import { readEncryptionMarker } from './encryption/encryption-marker.js';
import { defaultKeyRingPath, fileKeyRingStore, MasterKeys, type KeyRingStore, type MasterKeyEntry } from './encryption/key-ring.js';
import { createFilesystemDriver } from './filesystem-driver.js';
import type { S3DriverOptions, S3Encryption } from './s3-driver.js';
import { bindStorage } from './storage-binding.js';

/**
 * Where a Berth instance keeps image content (blobs, link files, uploads), chosen once where the instance is
 * composed, like `--metadata` (state/metadata-backend.ts): the data directory (the desktop default), or an S3
 * bucket that several Berth nodes share (`--storage s3://BUCKET?endpoint=URL&region=R&prefix=P&encryption=sse-s3`,
 * or `BERTH_STORAGE`). Nothing else branches on the backend.
 *
 * Credentials never stand in the URL (a URL with one is refused): the AWS SDK's default chain finds them
 * (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE with ~/.aws/credentials and
 * ~/.aws/config, instance and container roles). An SSE-C key comes from an owner-only file named by
 * BERTH_STORAGE_SSE_C_KEY_FILE.
 */
export type StorageBackend =
  | { readonly kind: 'filesystem' }
  | { readonly kind: 's3'; readonly url: string; readonly options: S3DriverOptions };

/** A mistake in `--storage`/`BERTH_STORAGE`: said in the option's terms; the CLI exits 2 on it. */
export class StorageOptionError extends Error {
  readonly code = 'BERTH_STORAGE_OPTION';
  constructor(message: string) {
    super(message);
    this.name = 'StorageOptionError';
  }
}

/** The storage could not be opened (bucket missing, endpoint down, credentials refused): a runtime failure. */
export class StorageUnavailableError extends Error {
  readonly code = 'BERTH_STORAGE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageUnavailableError';
  }
}

export const storageEnv = 'BERTH_STORAGE';
export const sseCustomerKeyFileEnv = 'BERTH_STORAGE_SSE_C_KEY_FILE';

const usage = 's3://BUCKET?endpoint=URL&region=REGION&prefix=PREFIX&encryption=sse-s3|sse-c';
const credentialsHelp =
  'credentials come from the standard AWS environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE ' +
  'with ~/.aws/credentials), never from the URL, where they would show in the process list and shell history';
const knownParameters = ['endpoint', 'region', 'prefix', 'encryption', 'path-style', 'redirects'] as const;
/** Query names that would carry a secret: refused with the place the secret belongs instead of "unknown parameter". */
const secretParameter = /key|secret|token|password|credential|signature/i;
/** S3's bucket naming rules (virtual-host-safe subset): 3-63 lowercase letters, digits, dots and hyphens. */
const bucketName = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * The backend from the `--storage` value (which wins) or BERTH_STORAGE; neither, or `filesystem`, is the data
 * directory. Every mistake surfaces here, before anything starts (the SSE-C key file is read now).
 */
export function parseStorageOption(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): StorageBackend {
  const source = flag !== undefined ? '--storage' : storageEnv;
  const value = (flag ?? env[storageEnv] ?? '').trim();
  if (value === '' || value === 'filesystem') return { kind: 'filesystem' };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new StorageOptionError(`${source} "${value.slice(0, 80)}" is not a URL: use filesystem, or ${usage}`);
  }
  if (url.protocol !== 's3:') {
    throw new StorageOptionError(`${source}: unsupported backend "${url.protocol.replace(/:$/, '')}" (use filesystem, or ${usage})`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new StorageOptionError(`${source}: the URL contains credentials: remove them; ${credentialsHelp}`);
  }
  const bucket = url.hostname;
  if (bucket === '') throw new StorageOptionError(`${source}: the URL names no bucket (${usage})`);
  if (!bucketName.test(bucket) || bucket.includes('..')) {
    throw new StorageOptionError(`${source}: "${bucket}" is not a valid S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)`);
  }
  if (url.port !== '') throw new StorageOptionError(`${source}: a bucket has no port: put the service's address in endpoint= (${usage})`);
  if (url.pathname !== '' && url.pathname !== '/') {
    throw new StorageOptionError(`${source}: put the key prefix in prefix= rather than the URL's path (${usage})`);
  }
  if (url.hash !== '') throw new StorageOptionError(`${source}: the URL has a #fragment, which means nothing here (${usage})`);

  const parameters = new Map<string, string>();
  for (const [name, parameterValue] of url.searchParams) {
    if (secretParameter.test(name)) {
      throw new StorageOptionError(`${source}: the URL parameter "${name}" would carry a secret: remove it; ${credentialsHelp}; an SSE-C key goes in a file named by ${sseCustomerKeyFileEnv}`);
    }
    if (!(knownParameters as readonly string[]).includes(name)) {
      throw new StorageOptionError(`${source}: unknown parameter "${name}" (known: ${knownParameters.join(', ')})`);
    }
    if (parameters.has(name)) throw new StorageOptionError(`${source}: parameter "${name}" is given twice`);
    parameters.set(name, parameterValue);
  }
  const endpoint = parameters.has('endpoint') ? endpointOf(source, parameters.get('endpoint') ?? '') : undefined;
  const region = parameters.get('region');
  if (region !== undefined && !/^[a-z0-9-]{1,64}$/i.test(region)) throw new StorageOptionError(`${source}: region "${region}" is not a region name (such as us-east-1)`);
  const prefix = parameters.get('prefix');
  if (prefix !== undefined && (prefix === '' || prefix.split('/').some((part) => part === '.' || part === '..'))) {
    throw new StorageOptionError(`${source}: prefix "${prefix}" must be a key prefix such as berth/ (no . or .. segments)`);
  }
  const encryption = encryptionOf(source, parameters.get('encryption'), env);
  const forcePathStyle = parameters.has('path-style') ? booleanOf(source, 'path-style', parameters.get('path-style') ?? '') : undefined;
  const redirects = parameters.has('redirects') ? booleanOf(source, 'redirects', parameters.get('redirects') ?? '') : undefined;
  if (redirects && encryption?.kind === 'sse-c') {
    throw new StorageOptionError(`${source}: redirects=true is impossible with encryption=sse-c (a client cannot send the key)`);
  }
  const options: S3DriverOptions = {
    bucket,
    ...(prefix !== undefined ? { prefix } : {}),
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(forcePathStyle !== undefined ? { forcePathStyle } : {}),
    ...(encryption !== undefined ? { encryption } : {}),
    ...(redirects ? { redirects: {} } : {}),
  };
  return { kind: 's3', url: url.href, options };
}

function endpointOf(source: string, text: string): string {
  let endpoint: URL;
  try {
    endpoint = new URL(text);
  } catch {
    throw new StorageOptionError(`${source}: endpoint "${text.slice(0, 80)}" is not a URL (such as http://127.0.0.1:7480 or https://s3.example.net)`);
  }
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') {
    throw new StorageOptionError(`${source}: endpoint "${text.slice(0, 80)}" must be http:// or https://`);
  }
  if (endpoint.username !== '' || endpoint.password !== '') {
    throw new StorageOptionError(`${source}: the endpoint contains credentials: remove them; ${credentialsHelp}`);
  }
  if (endpoint.search !== '' || endpoint.hash !== '') throw new StorageOptionError(`${source}: endpoint "${text.slice(0, 80)}" must have no query or fragment`);
  return endpoint.href.replace(/\/$/, '');
}

function encryptionOf(source: string, kind: string | undefined, env: NodeJS.ProcessEnv): S3Encryption | undefined {
  if (kind === undefined || kind === 'none') return undefined;
  if (kind === 'sse-s3') return { kind: 'sse-s3' };
  if (kind !== 'sse-c') throw new StorageOptionError(`${source}: encryption "${kind}" is unknown (none, sse-s3 or sse-c)`);
  const path = env[sseCustomerKeyFileEnv];
  if (path === undefined || path === '') {
    throw new StorageOptionError(`${source}: encryption=sse-c needs its 32-byte key in a file (mode 0600) named by ${sseCustomerKeyFileEnv}`);
  }
  const content = readOwnerOnlySecretFile(sseCustomerKeyFileEnv, path, (message) => new StorageOptionError(message));
  // 32 raw bytes, or their base64 (what `openssl rand -base64 32` writes).
  const key = content.length === 32 ? content : Buffer.from(content.toString('utf8').trim(), 'base64');
  if (key.length !== 32) throw new StorageOptionError(`${sseCustomerKeyFileEnv}: ${path} must hold a 32-byte key, raw or base64 (openssl rand -base64 32)`);
  return { kind: 'sse-c', key: new Uint8Array(key) };
}

function booleanOf(source: string, name: string, text: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new StorageOptionError(`${source}: ${name} must be true or false, not "${text.slice(0, 40)}"`);
}

/** For `berth status`, the admin API and the start log: `filesystem /data`, or the s3:// URL (which holds no secret). */
export function describeStorage(backend: StorageBackend, dataDir: string): string {
  return backend.kind === 'filesystem' ? `filesystem ${dataDir}` : backend.url;
}

/** An open storage: the driver, and close() for its connections (nothing to close for the filesystem). */
export interface OpenStorage {
  /** The backend's driver under the encrypting layer (storage/encryption/encrypting-driver.ts). */
  readonly driver: EncryptingDriver;
  readonly description: string;
  close(): void;
}

/**
 * The one place a StorageDriver is created for an instance or a CLI command. An S3 bucket is checked first (it
 * answers, the credentials are accepted, encryption is confirmed), so a wrong endpoint fails here, said plainly.
 * With a PostgreSQL `metadata`, the storage must then be the one the database is bound to (storage-binding.ts):
 * StorageMismatchError otherwise, before anything reads or writes content.
 */
export async function openStorage(
  dataDir: string,
  backend: StorageBackend,
  metadata: MetadataBackend,
  options: OpenStorageOptions = {},
): Promise<OpenStorage> {
  const description = describeStorage(backend, dataDir);
  const opened = backend.kind === 'filesystem' ? openFilesystem(dataDir, description, options) : await openS3(backend, description);
  try {
    await bindStorage(opened.driver, description, metadata);
  } catch (error) {
    opened.close();
    throw error;
  }
  // The key ring follows the metadata backend (a file, or the database every node shares), unless one is given
  // (the desktop app's keychain).
  let ring: OpenKeyRing;
  try {
    ring = options.keyRing ? { store: options.keyRing, close: async () => undefined } : await openKeyRing(metadata, { earlierRing: () => ringFileOfEncryptedStorage(opened.driver) });
  } catch (error) {
    opened.close();
    throw error;
  }
  // Every backend gets encryption at rest the same way: reads follow each object's header, writes the marker.
  const driver = createEncryptingDriver(opened.driver, new MasterKeys(ring.store));
  return {
    driver,
    description: opened.description,
    close() {
      opened.close();
      void ring.close();
    },
  };
}

/**
 * The ring file of this process (BERTH_ENCRYPTION_KEY_FILE, else the default path) when the storage is encrypted
 * already: what a cluster that shared one ring file used before its ring moved into the database.
 */
async function ringFileOfEncryptedStorage(driver: StorageDriver): Promise<readonly MasterKeyEntry[] | undefined> {
  if (!(await readEncryptionMarker(driver))) return undefined;
  return (await fileKeyRingStore(defaultKeyRingPath()).load())?.entries;
}

export interface OpenStorageOptions {
  readonly keyRing?: KeyRingStore;
  /**
   * For a CLI command that only works through the storage (`berth gc`): the filesystem's metadata reads run on the
   * calling thread (filesystem-driver.ts FilesystemDriverOptions). Never for the server. Nothing on S3.
   */
  readonly inlineReads?: boolean;
}

interface OpenBackend {
  readonly driver: StorageDriver;
  readonly description: string;
  close(): void;
}

function openFilesystem(dataDir: string, description: string, options: OpenStorageOptions): OpenBackend {
  return { driver: createFilesystemDriver(dataDir, { inlineReads: options.inlineReads === true }), description, close: () => undefined };
}

async function openS3(backend: Extract<StorageBackend, { kind: 's3' }>, description: string): Promise<OpenBackend> {
  try {
    // Loaded only here: the AWS SDK is large, and the desktop default never needs it.
    const { createS3Driver } = await import('./s3-driver.js');
    const driver = await createS3Driver(backend.options);
    return { driver, description, close: () => driver.close() };
  } catch (error) {
    throw new StorageUnavailableError(`storage ${backend.url}: bucket not reachable: ${(error as Error).message}`, { cause: error });
  }
}
