/**
 * S3 failures in the driver's terms. The SDK's own errors from radosgw often carry no message at all
 * ("UnknownError"), so each is rewrapped with the operation, the key, the HTTP status and the S3 error code;
 * never with a request's headers or the client's configuration, where credentials and SSE-C keys live.
 */
export class S3RequestError extends Error {
  readonly operation: string;
  readonly key: string;
  /** HTTP status, when the service answered. */
  readonly status: number | undefined;
  /** S3 error code (`NoSuchKey`, `SignatureDoesNotMatch`, ...) or the SDK's error name. */
  readonly code: string;
  constructor(operation: string, key: string, cause: unknown) {
    const status = statusOf(cause);
    const code = codeOf(cause);
    const detail = cause instanceof Error && cause.message && cause.message !== 'UnknownError' ? `: ${cause.message}` : '';
    super(`S3 ${operation} ${key || '(bucket)'} failed (${status ?? 'no answer'} ${code})${detail}`, { cause });
    this.name = 'S3RequestError';
    this.operation = operation;
    this.key = key;
    this.status = status;
    this.code = code;
  }
}

/** Runs one S3 call; its failure becomes an S3RequestError. */
export async function request<T>(operation: string, key: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw error instanceof S3RequestError ? error : new S3RequestError(operation, key, error);
  }
}

/** The object does not exist (not: the bucket, or a multipart upload, does not exist). */
export function isMissingObject(error: unknown): boolean {
  return error instanceof S3RequestError && error.status === 404 && (error.code === 'NoSuchKey' || error.code === 'NotFound');
}

/** A range that starts at or past the end of the object. */
export function isUnsatisfiableRange(error: unknown): boolean {
  return error instanceof S3RequestError && error.status === 416;
}

/** The multipart upload was completed or aborted meanwhile. */
export function isMissingUpload(error: unknown): boolean {
  return error instanceof S3RequestError && error.status === 404 && error.code === 'NoSuchUpload';
}

function statusOf(error: unknown): number | undefined {
  const metadata = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata;
  return metadata?.httpStatusCode;
}

function codeOf(error: unknown): string {
  const value = error as { Code?: unknown; name?: unknown } | undefined;
  if (typeof value?.Code === 'string') return value.Code;
  return typeof value?.name === 'string' ? value.name : 'Error';
}
