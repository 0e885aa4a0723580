/**
 * Errors of Berth's own access-control features (token management, token service), each with a stable string
 * code the CLI and the admin API can show and match on. Registry protocol errors stay RegistryError (core/errors.ts).
 */
export const authErrorCodes = {
  BERTH_TOKEN_NAME_INVALID: 400,
  BERTH_TOKEN_NAME_TAKEN: 409,
  BERTH_TOKEN_NOT_FOUND: 404,
  BERTH_SCOPE_INVALID: 400,
  BERTH_EXPIRY_INVALID: 400,
  BERTH_GRANT_UNSUPPORTED: 400,
  BERTH_TOKEN_REQUEST_INVALID: 400,
  BERTH_JWT_INVALID: 401,
} as const;

export type AuthErrorCode = keyof typeof authErrorCodes;

export class AuthError extends Error {
  readonly code: AuthErrorCode;
  /** The HTTP status an API answers this error with. */
  readonly status: number;

  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuthError';
    this.code = code;
    this.status = authErrorCodes[code];
  }
}

export function isAuthError(error: unknown): error is AuthError {
  return error instanceof AuthError;
}
