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
