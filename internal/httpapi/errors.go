package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"authgate/internal/auth"
	"authgate/internal/logctx"
)

// actionStatus is the HTTP status of each error code on /actions. Hasura
// passes a 4xx answer's message and extensions through to its client, and
// turns any other failure into its own "internal error" (Hasura's
// GraphQL/Execute/Action.hs, callWebhook): so the codes that are 5xx on
// their own (UNAVAILABLE, INTERNAL) are answered 424 Failed Dependency, and
// extensions.code says which.
var actionStatus = map[auth.Code]int{
	auth.CodeBadUserInput:         http.StatusBadRequest,
	auth.CodeWeakPassword:         http.StatusBadRequest,
	auth.CodeInvalidCredentials:   http.StatusUnauthorized,
	auth.CodeInvalidRefreshToken:  http.StatusUnauthorized,
	auth.CodeRefreshTokenReused:   http.StatusUnauthorized,
	auth.CodeUnauthenticated:      http.StatusUnauthorized,
	auth.CodeMFARequired:          http.StatusUnauthorized,
	auth.CodeInvalidMFACode:       http.StatusUnauthorized,
	auth.CodeInvalidPasskey:       http.StatusUnauthorized,
	auth.CodeInvalidAuthCode:      http.StatusUnauthorized,
	auth.CodeActionSecretMismatch: http.StatusUnauthorized,
	auth.CodeUserDisabled:         http.StatusForbidden,
	auth.CodeForbidden:            http.StatusForbidden,
	auth.CodeNotFound:             http.StatusNotFound,
	auth.CodeEmailTaken:           http.StatusConflict,
	auth.CodeAccountExists:        http.StatusConflict,
	auth.CodeUnknownProvider:      http.StatusNotFound,
	auth.CodeProviderError:        http.StatusFailedDependency,
	auth.CodeRateLimited:          http.StatusTooManyRequests,
	auth.CodeUnavailable:          http.StatusFailedDependency,
	auth.CodeInternal:             http.StatusFailedDependency,
}

// unavailableRetryAfter is what an UNAVAILABLE action answer tells the
// client to wait before it tries again (the database may be back by then).
const unavailableRetryAfter = 1

// actionError is the body of a failed action, in the shape Hasura expects.
type actionError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code auth.Code `json:"code"`
		// RetryAfter is the seconds a RATE_LIMITED client should wait.
		RetryAfter int `json:"retryAfter,omitempty"`
		// Reason says why a bearer token was refused (UNAUTHENTICATED), or
		// what INVALID_MFA_CODE refused (ticket, code).
		Reason string `json:"reason,omitempty"`
		// Ticket and Methods finish an MFA_REQUIRED sign-in (completeMfa).
		Ticket  string   `json:"ticket,omitempty"`
		Methods []string `json:"methods,omitempty"`
	} `json:"extensions"`
}

// writeActionError answers with err's code and safe message; anything that
// is not an auth.Error is logged and shown as INTERNAL.
func writeActionError(w http.ResponseWriter, r *http.Request, err error) {
	code := auth.CodeOf(err)
	body := actionError{Message: "internal error"}
	body.Extensions.Code = code
	if ae, ok := err.(*auth.Error); ok {
		body.Message = ae.Message
	}
	if ae := (*auth.Error)(nil); errors.As(err, &ae) && ae.RetryAfterSeconds() > 0 {
		body.Extensions.RetryAfter = ae.RetryAfterSeconds()
	}
	if code == auth.CodeUnavailable {
		body.Extensions.RetryAfter = max(body.Extensions.RetryAfter, unavailableRetryAfter)
	}
	if body.Extensions.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(body.Extensions.RetryAfter))
	}
	if ae := (*auth.Error)(nil); errors.As(err, &ae) {
		body.Extensions.Reason = ae.Reason
		body.Extensions.Ticket, body.Extensions.Methods = ae.Ticket, ae.Methods
	}
	if code == auth.CodeInternal || code == auth.CodeUnavailable {
		logctx.From(r.Context()).Error("action failed", "code", code, "error", err)
	}
	logctx.SetOutcome(r.Context(), logctx.Outcome{Code: string(code)})
	status, ok := actionStatus[code]
	if !ok { // a code without its own status is still the caller's to act on
		status = http.StatusBadRequest
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeEarlyError answers a failure that happens before a door's handler runs
// (oversized body, panic) in that door's shape: Hasura's {message,
// extensions} on /actions, a GraphQL errors list elsewhere.
func writeEarlyError(w http.ResponseWriter, r *http.Request, status int, code auth.Code, message string) {
	logctx.SetOutcome(r.Context(), logctx.Outcome{Code: string(code)})
	if r.URL.Path == "/actions" {
		body := actionError{Message: message}
		body.Extensions.Code = code
		if s, ok := actionStatus[code]; ok && status >= 500 { // Hasura would hide a 5xx: see actionStatus
			status = s
		}
		writeJSON(w, status, body)
		return
	}
	graphQLError(w, status, code, message)
}

// graphQLError writes a GraphQL-shaped error for failures that happen before
// the GraphQL server runs.
func graphQLError(w http.ResponseWriter, status int, code auth.Code, message string) {
	writeJSON(w, status, map[string]any{
		"errors": []any{map[string]any{"message": message, "extensions": map[string]any{"code": code}}},
	})
}
