/**
 * Why an archive cannot be imported (or an image exported): a stable code, a message that names the archive entry
 * or image at fault, and nothing written. The CLI prints it, the watched folder writes it to `<name>.reason.txt`,
 * the admin API answers it as a 400 / 404.
 */
export type TransferErrorCode =
  /** The archive itself is malformed: not a tar, truncated, an unsafe entry, a digest that does not match. */
  | 'BERTH_ARCHIVE_INVALID'
  /** A well-formed archive that Berth will not take: names it cannot store, parts it lacks, mirrored namespaces. */
  | 'BERTH_ARCHIVE_REFUSED'
  /** An export names an image (or a part of one) that this Berth does not hold. */
  | 'BERTH_IMAGE_UNKNOWN';

export class TransferError extends Error {
  override readonly name = 'TransferError';

  constructor(
    readonly code: TransferErrorCode,
    message: string,
    /** The archive entry the message is about, when there is one. */
    readonly entry?: string,
  ) {
    super(message);
  }
}

export const invalidArchive = (message: string, entry?: string) => new TransferError('BERTH_ARCHIVE_INVALID', message, entry);
export const refusedArchive = (message: string, entry?: string) => new TransferError('BERTH_ARCHIVE_REFUSED', message, entry);

export function isTransferError(error: unknown): error is TransferError {
  return error instanceof TransferError;
}
