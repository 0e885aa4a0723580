/**
 * What an S3 storage driver is configured with. Credentials come from the standard AWS sources (environment,
 * shared config and credentials files, instance or container roles) unless given here; they are handed to
 * the SDK only, never logged nor put into an error message.
 */
export interface S3DriverOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket (`berth/` or `berth`): several registries can share one bucket. Default none. */
  readonly prefix?: string;
  /** For S3-compatible services (radosgw, MinIO, ...): `https://s3.example.net`. Default: AWS. */
  readonly endpoint?: string;
  /** Default: the SDK's (AWS_REGION, shared config); `us-east-1` when an endpoint is given and none is found. */
  readonly region?: string;
  /** Path-style URLs (`endpoint/bucket/key`). Default true with an endpoint, false for AWS. */
  readonly forcePathStyle?: boolean;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** Server-side encryption of every object written (and the key to read SSE-C objects). Default none. */
  readonly encryption?: S3Encryption;
  /** Pre-signed GET URLs for blobs (see S3StorageDriver.redirectUrl). Default off. */
  readonly redirects?: { readonly expiresInSeconds?: number } | false;
  /** Multipart upload part size of a writer: 5 MiB to 5 GiB. Default 16 MiB. Memory per writer: twice this. */
  readonly partSizeBytes?: number;
  /** Objects up to this size are moved with one CopyObject; larger ones with parallel UploadPartCopy. Default 5 GiB, S3's limit. */
  readonly multipartCopyThresholdBytes?: number;
  /** Range of one UploadPartCopy: 10 MiB to 5 GiB. Default 256 MiB. */
  readonly copyPartSizeBytes?: number;
  /** UploadPartCopy requests in flight per copy. Default 4. */
  readonly copyConcurrency?: number;
}

/**
 * `sse-s3`: the service encrypts with its own keys (`x-amz-server-side-encryption: AES256`).
 * `sse-c`: the service encrypts with a 32-byte key that Berth sends with every request and the service does not
 * keep; an object is unreadable without it. Pre-signed redirects are then impossible (the client has no key).
 * Either way the driver checks, when it starts and on every write, that the service confirmed the encryption, so
 * a service that ignores the header is refused instead of silently storing plaintext.
 */
export type S3Encryption = { readonly kind: 'sse-s3' } | { readonly kind: 'sse-c'; readonly key: Uint8Array };

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** S3's smallest part, except the last one of an upload. */
export const minPartBytes = 5 * MiB;
/** S3's largest part and largest single copy. */
export const maxPartBytes = 5 * GiB;
/** S3's highest part number. */
export const maxParts = 10_000;

export interface S3Limits {
  readonly partSizeBytes: number;
  readonly multipartCopyThresholdBytes: number;
  readonly copyPartSizeBytes: number;
  readonly copyConcurrency: number;
}

/** The sizes in force, each checked against S3's limits. Throws on a value S3 would refuse. */
export function limitsOf(options: S3DriverOptions): S3Limits {
  const limits: S3Limits = {
    partSizeBytes: options.partSizeBytes ?? 16 * MiB,
    multipartCopyThresholdBytes: options.multipartCopyThresholdBytes ?? maxPartBytes,
    copyPartSizeBytes: options.copyPartSizeBytes ?? 256 * MiB,
    copyConcurrency: options.copyConcurrency ?? 4,
  };
  within('partSizeBytes', limits.partSizeBytes, minPartBytes, maxPartBytes);
  within('multipartCopyThresholdBytes', limits.multipartCopyThresholdBytes, 0, maxPartBytes);
  // Copied ranges are cut evenly, so each is at least half of this: still no smaller than S3's minimum part.
  within('copyPartSizeBytes', limits.copyPartSizeBytes, 2 * minPartBytes, maxPartBytes);
  within('copyConcurrency', limits.copyConcurrency, 1, 64);
  return limits;
}

function within(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`S3 driver: ${name} must be an integer from ${min} to ${max}, not ${value}`);
}
