/**
 * Errors of Berth's TLS layer. Each carries a stable `code` so the CLI, the admin API and the GUI can react
 * to a cause without matching message text.
 */
export const tlsErrorCodes = {
  /** `berth ca export` (or the GUI) asked for the CA before Berth ever started and created it. */
  BERTH_TLS_CA_MISSING: 'the local certificate authority has not been created yet',
  /** A configured extra name is neither a DNS name nor an IP address. */
  BERTH_TLS_NAME_INVALID: 'invalid certificate name',
  /** A file in the tls directory exists but does not hold what it should. */
  BERTH_TLS_FILE_INVALID: 'invalid TLS file',
} as const;

export type TlsErrorCode = keyof typeof tlsErrorCodes;

export class TlsError extends Error {
  readonly code: TlsErrorCode;

  constructor(code: TlsErrorCode, message?: string, options: { cause?: unknown } = {}) {
    super(message ?? tlsErrorCodes[code], { cause: options.cause });
    this.name = 'TlsError';
    this.code = code;
  }
}

export function isTlsError(error: unknown): error is TlsError {
  return error instanceof TlsError;
}
