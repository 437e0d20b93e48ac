// Package logctx carries a request's logger (with its request id) through a
// context, so every log line of a request can be tied to it.
package logctx

import (
	"context"
	"log/slog"
)

type key struct{}

// request is what a context carries: the base logger and the request id.
// The logger with the id attached is only built when something logs, so a
// request that logs nothing allocates nothing for it.
type request struct {
	base *slog.Logger
	id   string
}

// WithRequest returns ctx carrying base and the request id id.
func WithRequest(ctx context.Context, base *slog.Logger, id string) context.Context {
	return context.WithValue(ctx, key{}, request{base: base, id: id})
}

// From returns the request's logger (with request_id when there is one), or
// slog.Default() when ctx carries none.
func From(ctx context.Context) *slog.Logger {
	r, ok := ctx.Value(key{}).(request)
	if !ok {
		return slog.Default()
	}
	return r.base.With("request_id", r.id)
}

// Outcome is what a request did, for its access log line: the operation
// (the GraphQL root fields, or the action's name), the client's name for a
// GraphQL operation, and the outcome code ("OK" or an error code). The one
// handler that serves the request sets it; the middleware reads it after.
type Outcome struct {
	Operation     string
	OperationName string
	Code          string
}

type outcomeKey struct{}

// WithOutcome returns ctx carrying an empty Outcome for the request's
// handler to fill in, and that Outcome.
func WithOutcome(ctx context.Context) (context.Context, *Outcome) {
	o := &Outcome{}
	return context.WithValue(ctx, outcomeKey{}, o), o
}

// SetOutcome records what the request did, when ctx carries an Outcome;
// empty fields of o leave what was recorded before.
func SetOutcome(ctx context.Context, o Outcome) {
	p, ok := ctx.Value(outcomeKey{}).(*Outcome)
	if !ok {
		return
	}
	if o.Operation != "" {
		p.Operation = o.Operation
	}
	if o.OperationName != "" {
		p.OperationName = o.OperationName
	}
	if o.Code != "" {
		p.Code = o.Code
	}
}
