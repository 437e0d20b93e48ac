/**
 * An error answered by authgate (or Hasura), typed by its `extensions.code`.
 * `retryAfter` is set for `RATE_LIMITED` and `UNAVAILABLE` (seconds to wait);
 * `reason` for `UNAUTHENTICATED` (`expired`, `invalid`, `revoked`);
 * `extensions` holds everything the server sent (e.g. `ticket` and `methods`
 * of `MFA_REQUIRED`).
 */
export class AuthgateError extends Error {
    code;
    retryAfter;
    reason;
    status;
    extensions;
    constructor(code, message, extensions = {}, status) {
        super(message);
        this.name = 'AuthgateError';
        this.code = code;
        this.extensions = extensions;
        if (status !== undefined)
            this.status = status;
        const retryAfter = Number(extensions.retryAfter);
        if (extensions.retryAfter !== undefined && Number.isFinite(retryAfter))
            this.retryAfter = retryAfter;
        if (typeof extensions.reason === 'string')
            this.reason = extensions.reason;
    }
}
/** The codes after which the stored session cannot be refreshed any more. */
export const sessionEndingCodes = new Set([
    'INVALID_REFRESH_TOKEN',
    'REFRESH_TOKEN_REUSED',
    'USER_DISABLED',
]);
/**
 * errorFrom turns the first GraphQL error of an answer into an AuthgateError.
 * Hasura's own JWT refusal (`invalid-jwt`, "Could not verify JWT: JWTExpired")
 * becomes `UNAUTHENTICATED` with reason `expired` or `invalid`, so that code
 * written against authgate's endpoint works unchanged behind Hasura.
 */
export function errorFrom(err, status, retryAfterHeader) {
    const ext = { ...(err.extensions ?? {}) };
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
export function isUnauthenticated(errors) {
    if (!Array.isArray(errors))
        return false;
    return errors.some((e) => {
        const code = e?.extensions?.code;
        return code === 'UNAUTHENTICATED' || code === 'invalid-jwt';
    });
}
