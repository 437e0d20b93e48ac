/**
 * The codes authgate puts in `extensions.code` (see docs/client.md), plus the
 * client's own: `NETWORK_ERROR` (no answer, or one that is not GraphQL),
 * `NOT_SIGNED_IN` (a method that needs a session was called without one),
 * `PASSKEY_CANCELLED` (the browser's passkey dialog was closed, timed out or
 * aborted) and `PASSKEY_UNAVAILABLE` (no WebAuthn here, or the browser
 * refused the ceremony otherwise; `extensions.name` is its error's name).
 * Any other string a server sends (a newer authgate, or Hasura) passes through.
 */
export type AuthgateErrorCode =
  | 'INVALID_CREDENTIALS'
  | 'USER_DISABLED'
  | 'INVALID_REFRESH_TOKEN'
  | 'REFRESH_TOKEN_REUSED'
  | 'UNAUTHENTICATED'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'WEAK_PASSWORD'
  | 'EMAIL_TAKEN'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'INTERNAL'
  | 'INVALID_EMAIL_TOKEN'
  | 'EMAIL_NOT_VERIFIED'
  | 'EMAIL_NOT_CONFIGURED'
  | 'UNKNOWN_PROVIDER'
  | 'INVALID_AUTH_CODE'
  | 'ACCOUNT_EXISTS'
  | 'PROVIDER_ERROR'
  | 'MFA_REQUIRED'
  | 'INVALID_MFA_CODE'
  | 'INVALID_PASSKEY'
  | 'GRAPHQL_PARSE_FAILED'
  | 'GRAPHQL_VALIDATION_FAILED'
  | 'NETWORK_ERROR'
  | 'NOT_SIGNED_IN'
  | 'PASSKEY_CANCELLED'
  | 'PASSKEY_UNAVAILABLE'
  | (string & {});

/**
 * An error answered by authgate (or Hasura), typed by its `extensions.code`.
 * `retryAfter` is set for `RATE_LIMITED` and `UNAVAILABLE` (seconds to wait);
 * `reason` for `UNAUTHENTICATED` (`expired`, `invalid`, `revoked`);
 * `extensions` holds everything the server sent (e.g. `ticket` and `methods`
 * of `MFA_REQUIRED`).
 */
export class AuthgateError extends Error {
  readonly code: AuthgateErrorCode;
  readonly retryAfter?: number;
  readonly reason?: string;
  readonly status?: number;
  readonly extensions: Record<string, unknown>;

  constructor(code: AuthgateErrorCode, message: string, extensions: Record<string, unknown> = {}, status?: number) {
    super(message);
    this.name = 'AuthgateError';
    this.code = code;
    this.extensions = extensions;
    if (status !== undefined) this.status = status;
    const retryAfter = Number(extensions.retryAfter);
    if (extensions.retryAfter !== undefined && Number.isFinite(retryAfter)) this.retryAfter = retryAfter;
    if (typeof extensions.reason === 'string') this.reason = extensions.reason;
  }
}

/** The codes after which the stored session cannot be refreshed any more. */
export const sessionEndingCodes: ReadonlySet<string> = new Set([
  'INVALID_REFRESH_TOKEN',
  'REFRESH_TOKEN_REUSED',
  'USER_DISABLED',
]);

interface GraphQLErrorShape {
  message?: unknown;
  extensions?: Record<string, unknown>;
}

/**
 * errorFrom turns the first GraphQL error of an answer into an AuthgateError.
 * Hasura's own JWT refusal (`invalid-jwt`, "Could not verify JWT: JWTExpired")
 * becomes `UNAUTHENTICATED` with reason `expired` or `invalid`, so that code
 * written against authgate's endpoint works unchanged behind Hasura.
 */
export function errorFrom(err: GraphQLErrorShape, status?: number, retryAfterHeader?: string | null): AuthgateError {
  const ext: Record<string, unknown> = { ...(err.extensions ?? {}) };
  const message = typeof err.message === 'string' ? err.message : 'request failed';
  let code = typeof ext.code === 'string' ? ext.code : status === 429 ? 'RATE_LIMITED' : 'INTERNAL';
  if (code === 'invalid-jwt' || code === 'invalid-headers') {
    ext.hasuraCode = code;
    ext.reason ??= /expired/i.test(message) ? 'expired' : 'invalid';
    code = 'UNAUTHENTICATED';
  }
  if (ext.retryAfter === undefined && retryAfterHeader && /^\d+$/.test(retryAfterHeader)) {
    ext.retryAfter = Number(retryAfterHeader);
  }
  return new AuthgateError(code, message, ext, status);
}

/** isUnauthenticated reports whether an answer's errors ask for a fresh token. */
export function isUnauthenticated(errors: unknown): boolean {
  if (!Array.isArray(errors)) return false;
  return errors.some((e: GraphQLErrorShape) => {
    const code = e?.extensions?.code;
    return code === 'UNAUTHENTICATED' || code === 'invalid-jwt';
  });
}
