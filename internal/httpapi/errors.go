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
// passes a 4xx answer's message and extensions through to its client.
var actionStatus = map[auth.Code]int{
	auth.CodeBadUserInput:         http.StatusBadRequest,
	auth.CodeWeakPassword:         http.StatusBadRequest,
	auth.CodeInvalidCredentials:   http.StatusUnauthorized,
	auth.CodeInvalidRefreshToken:  http.StatusUnauthorized,
	auth.CodeRefreshTokenReused:   http.StatusUnauthorized,
	auth.CodeUnauthenticated:      http.StatusUnauthorized,
	auth.CodeActionSecretMismatch: http.StatusUnauthorized,
	auth.CodeUserDisabled:         http.StatusForbidden,
	auth.CodeForbidden:            http.StatusForbidden,
	auth.CodeNotFound:             http.StatusNotFound,
	auth.CodeEmailTaken:           http.StatusConflict,
	auth.CodeRateLimited:          http.StatusTooManyRequests,
	auth.CodeUnavailable:          http.StatusServiceUnavailable,
	auth.CodeInternal:             http.StatusInternalServerError,
}

// actionError is the body of a failed action, in the shape Hasura expects.
type actionError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code auth.Code `json:"code"`
		// RetryAfter is the seconds a RATE_LIMITED client should wait.
		RetryAfter int `json:"retryAfter,omitempty"`
		// Reason says why a bearer token was refused (UNAUTHENTICATED).
		Reason string `json:"reason,omitempty"`
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
		w.Header().Set("Retry-After", strconv.Itoa(body.Extensions.RetryAfter))
	}
	if ae := (*auth.Error)(nil); errors.As(err, &ae) {
		body.Extensions.Reason = ae.Reason
	}
	if code == auth.CodeInternal || code == auth.CodeUnavailable {
		logctx.From(r.Context()).Error("action failed", "code", code, "error", err)
	}
	logctx.SetOutcome(r.Context(), logctx.Outcome{Code: string(code)})
	writeJSON(w, actionStatus[code], body)
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
