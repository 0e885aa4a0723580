import { S3Client } from '@aws-sdk/client-s3';
import type { S3DriverOptions, S3Limits } from './s3-driver-options.js';
import { limitsOf } from './s3-driver-options.js';
import { encryptionParameters, type EncryptionParameters } from './s3-encryption.js';
import { createKeyMapper, type KeyMapper } from './s3-keys.js';

/** What every part of the S3 driver works with: one client, one bucket, one key layout, one encryption. */
export interface S3Context {
  readonly client: S3Client;
  readonly bucket: string;
  readonly keys: KeyMapper;
  readonly encryption: EncryptionParameters;
  readonly limits: S3Limits;
  /** Set once the service answered a CopyObject with 501 (radosgw 16 with SSE-C): copies then go part by part. */
  singleCopyUnsupported: boolean;
}

export function createS3Context(options: S3DriverOptions): S3Context {
  if (!options.bucket) throw new Error('S3 driver: a bucket is required');
  const limits = limitsOf(options);
  const encryption = encryptionParameters(options.encryption);
  const client = new S3Client({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : options.endpoint ? { region: defaultRegion() } : {}),
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    ...(options.credentials ? { credentials: { ...options.credentials } } : {}),
    // The SDK's default CRC32 trailer checksums need aws-chunked bodies, which radosgw 16 (and other S3-compatible
    // services) refuse with 411 MissingContentLength. Bodies are still signed with their SHA-256.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: 10_000,
      // Idle sockets only: a blob GET that streams for minutes is fine, a service that stops answering is not.
      socketTimeout: 120_000,
      httpAgent: { keepAlive: true, maxSockets: 64 },
      httpsAgent: { keepAlive: true, maxSockets: 64 },
    },
  });
  return { client, bucket: options.bucket, keys: createKeyMapper(options.prefix), encryption, limits, singleCopyUnsupported: false };
}

/** The region of the environment, else us-east-1 (what S3-compatible services accept by default). */
function defaultRegion(): string {
  return process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1';
}
