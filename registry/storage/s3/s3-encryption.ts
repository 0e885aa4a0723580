import { createHash } from 'node:crypto';
import type { S3Encryption } from './s3-driver-options.js';

/**
 * The request parameters that make S3 encrypt what Berth writes, and the check that it did. With SSE-C every
 * request that reads or writes object bytes carries the key; with SSE-S3 only the requests that create objects
 * carry the header.
 */
export interface EncryptionParameters {
  /** For PutObject, CreateMultipartUpload and CopyObject (the object created). */
  readonly create: Readonly<Record<string, string>>;
  /** For GetObject, HeadObject, UploadPart and UploadPartCopy (the object or upload addressed). */
  readonly access: Readonly<Record<string, string>>;
  /** For CopyObject and UploadPartCopy (the source object). */
  readonly copySource: Readonly<Record<string, string>>;
  /** Throws unless a create response says the object is encrypted as asked. */
  confirm(operation: string, key: string, response: EncryptionEcho): void;
  /** Whether a client without Berth's help can read objects (false with SSE-C). */
  readonly presignable: boolean;
}

export interface EncryptionEcho {
  readonly ServerSideEncryption?: string;
  readonly SSECustomerAlgorithm?: string;
  readonly SSECustomerKeyMD5?: string;
}

export class EncryptionNotConfirmedError extends Error {
  constructor(operation: string, key: string, what: string) {
    super(`S3 ${operation} ${key}: the service did not confirm ${what}; refusing to store unencrypted data (is it supported and enabled there?)`);
    this.name = 'EncryptionNotConfirmedError';
  }
}

export function encryptionParameters(encryption: S3Encryption | undefined): EncryptionParameters {
  if (!encryption) {
    return { create: {}, access: {}, copySource: {}, confirm: () => undefined, presignable: true };
  }
  if (encryption.kind === 'sse-s3') {
    return {
      create: { ServerSideEncryption: 'AES256' },
      access: {},
      copySource: {},
      confirm: (operation, key, response) => {
        if (response.ServerSideEncryption !== 'AES256') throw new EncryptionNotConfirmedError(operation, key, 'SSE-S3 (AES256) encryption');
      },
      presignable: true,
    };
  }
  if (encryption.key.length !== 32) throw new RangeError('S3 driver: an SSE-C key is 32 bytes (AES-256)');
  // The SDK takes the key as a string and decodes it as base64 when it is valid base64; it adds the key's MD5.
  const key = Buffer.from(encryption.key).toString('base64');
  const keyMd5 = createHash('md5').update(encryption.key).digest('base64');
  const access = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: key };
  return {
    create: access,
    access,
    copySource: { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: key },
    confirm: (operation, objectKey, response) => {
      if (response.SSECustomerAlgorithm !== 'AES256' || (response.SSECustomerKeyMD5 !== undefined && response.SSECustomerKeyMD5 !== keyMd5)) {
        throw new EncryptionNotConfirmedError(operation, objectKey, 'SSE-C encryption with the configured key');
      }
    },
    presignable: false,
  };
}
