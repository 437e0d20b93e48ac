package auth

import (
	"errors"
	"time"
)

// Code is a stable, machine-readable error code, shown to clients as
// extensions.code.
type Code string

// The codes authgate answers with. They are a contract: never rename one.
const (
	CodeInvalidCredentials  Code = "INVALID_CREDENTIALS"
	CodeUserDisabled        Code = "USER_DISABLED"
	CodeInvalidRefreshToken Code = "INVALID_REFRESH_TOKEN"
	CodeRefreshTokenReused  Code = "REFRESH_TOKEN_REUSED"
	CodeUnauthenticated     Code = "UNAUTHENTICATED"
	CodeForbidden           Code = "FORBIDDEN"
	CodeNotFound            Code = "NOT_FOUND"
	CodeBadUserInput        Code = "BAD_USER_INPUT"
	CodeWeakPassword        Code = "WEAK_PASSWORD"
	CodeEmailTaken          Code = "EMAIL_TAKEN"
	CodeRateLimited         Code = "RATE_LIMITED"
	CodeInternal            Code = "INTERNAL"
	CodeUnavailable         Code = "UNAVAILABLE"
	// CodeActionSecretMismatch refuses an /actions call whose X-Action-Secret
	// is not AUTHGATE_ACTION_SECRET: Hasura is misconfigured, which is not
	// the same as a client's bad token.
	CodeActionSecretMismatch Code = "ACTION_SECRET_MISMATCH"
	// CodeEmailNotConfigured refuses a request that needs mail when no delivery
	// is set up (outside development).
	CodeEmailNotConfigured Code = "EMAIL_NOT_CONFIGURED"
	// CodeMFARequired answers a first factor that passed for a user with a
	// second one: extensions.ticket finishes the sign-in (completeMfa) with
	// one of extensions.methods.
	CodeMFARequired Code = "MFA_REQUIRED"
	// CodeInvalidMFACode refuses a wrong, replayed or used-up TOTP or
	// recovery code, or an MFA ticket that is unknown, expired or used
	// (extensions.reason "ticket": sign in again).
	CodeInvalidMFACode Code = "INVALID_MFA_CODE"
	// CodeInvalidPasskey refuses a passkey response that fails a check.
	CodeInvalidPasskey Code = "INVALID_PASSKEY"
	// CodeInvalidEmailToken answers an emailed token or code that is
	// unknown, used, expired, or made for another purpose: one answer for all.
	CodeInvalidEmailToken Code = "INVALID_EMAIL_TOKEN"
	// CodeEmailNotVerified answers a sign-up, or a correct password, while
	// AUTHGATE_EMAIL_VERIFICATION=required and the address is not verified.
	CodeEmailNotVerified Code = "EMAIL_NOT_VERIFIED"
	// CodeUnknownProvider answers a provider id that is not configured
	// (AUTHGATE_PROVIDERS).
	CodeUnknownProvider Code = "UNKNOWN_PROVIDER"
	// CodeInvalidAuthCode answers a provider sign-in's code, or an identity
	// link, that is unknown, used, expired or made for another purpose.
	CodeInvalidAuthCode Code = "INVALID_AUTH_CODE"
	// CodeAccountExists refuses a provider identity whose address belongs to
	// an account it may not be linked to by that address (either address
	// unverified), or an identity already linked to another user.
	CodeAccountExists Code = "ACCOUNT_EXISTS"
	// CodeProviderError answers a provider that failed or answered what
	// cannot be used (down, an invalid token, a refused sign-in).
	CodeProviderError Code = "PROVIDER_ERROR"
)

// Error is the one error type that reaches clients: a code and a message
// that is safe to show. Anything else is reported as INTERNAL.
type Error struct {
	Code    Code
	Message string
	// Err is the underlying cause, for logs only; never shown to a client.
	Err error
	// RetryAfter, when positive, is how long a RATE_LIMITED client should
	// wait before it tries again; clients see it as whole seconds
	// (extensions.retryAfter, and Retry-After on /actions).
	RetryAfter time.Duration
	// Reason, on UNAUTHENTICATED when a bearer token was sent but failed,
	// says why (ReasonExpired, ReasonInvalid, ReasonRevoked; clients see
	// extensions.reason), so that a client refreshes an expired token
	// instead of signing its user out. On INVALID_MFA_CODE, "ticket" says
	// the ticket is dead (sign in again), "code" that only the code was
	// refused (try another).
	Reason string
	// Ticket and Methods, on MFA_REQUIRED, are the MFA ticket and the
	// second factors that can finish the sign-in (extensions.ticket,
	// extensions.methods).
	Ticket  string
	Methods []string
}

// The reasons a bearer access token is refused.
const (
	ReasonExpired = "expired"
	ReasonInvalid = "invalid"
	ReasonRevoked = "revoked"
)

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up so that a
// client that waits that long is let in: 0 when there is nothing to wait for.
func (e *Error) RetryAfterSeconds() int {
	if e.RetryAfter <= 0 {
		return 0
	}
	return int((e.RetryAfter + time.Second - 1) / time.Second)
}

func newError(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// Unavailable wraps a cause that means the database cannot be reached.
func Unavailable(cause error) *Error {
	return &Error{Code: CodeUnavailable, Message: "the service is temporarily unavailable; try again", Err: cause}
}

// OutcomeOf names an operation's outcome for metrics: "OK" when err is nil,
// else its code.
func OutcomeOf(err error) string {
	if err == nil {
		return "OK"
	}
	return string(CodeOf(err))
}

// CodeOf returns the code of err, or CodeInternal when err is not an *Error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// The errors clients see, with one fixed message each so that no message tells
// more than its code (an unknown email and a wrong password read the same).
var (
	ErrInvalidCredentials  = newError(CodeInvalidCredentials, "invalid email or password")
	ErrUserDisabled        = newError(CodeUserDisabled, "this account is disabled")
	ErrInvalidRefreshToken = newError(CodeInvalidRefreshToken, "the refresh token is invalid, expired or revoked")
	ErrRefreshTokenReused  = newError(CodeRefreshTokenReused, "the refresh token was already used; the session has been ended")
	ErrUnauthenticated     = newError(CodeUnauthenticated, "a valid access token is required")
	ErrSignupDisabled      = newError(CodeForbidden, "sign-up is switched off")
	ErrNotFound            = newError(CodeNotFound, "not found")
	errNoSuchSession       = newError(CodeNotFound, "no live session of yours has this id")
	ErrEmailTaken          = newError(CodeEmailTaken, "an account with this email already exists")
	ErrEmailNotConfigured  = newError(CodeEmailNotConfigured, "mail delivery is not configured on this server")
	ErrInvalidEmailToken   = newError(CodeInvalidEmailToken, "the link or code is invalid, used or expired")
	ErrEmailNotVerified    = newError(CodeEmailNotVerified, "the email address is not verified yet; follow the link in the mail we sent")
	ErrBusy                = &Error{Code: CodeRateLimited, Message: "too many sign-ins at once; try again in a moment", RetryAfter: time.Second}
)

// throttled is the answer to a password check the login throttle holds back
// for wait. The message is the same for every account, known or not.
func throttled(wait time.Duration) *Error {
	return &Error{Code: CodeRateLimited, Message: "too many failed sign-in attempts; try again later", RetryAfter: wait}
}

// errNoPassword refuses changePassword for an account without a password.
var errNoPassword = badInput("this account has no password: set one through the password-reset flow (requestPasswordReset)")

func badInput(message string) *Error { return newError(CodeBadUserInput, message) }
func weakPassword(msg string) *Error { return newError(CodeWeakPassword, msg) }
