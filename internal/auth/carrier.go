package auth

import (
	"context"
	"time"
)

// RefreshTokenCarrier carries the refresh token outside the response body,
// e.g. in an HttpOnly cookie that page scripts cannot read. A transport puts
// one in the request context; the service uses it when present.
type RefreshTokenCarrier interface {
	// Incoming returns the refresh token the client sent this way, or "".
	Incoming() string
	// Deliver hands the client its new refresh token.
	Deliver(token string, expiresAt time.Time)
	// Clear tells the client to forget its refresh token.
	Clear()
}

type carrierKey struct{}

// WithRefreshTokenCarrier returns ctx carrying c.
func WithRefreshTokenCarrier(ctx context.Context, c RefreshTokenCarrier) context.Context {
	return context.WithValue(ctx, carrierKey{}, c)
}

func carrierFrom(ctx context.Context) RefreshTokenCarrier {
	c, _ := ctx.Value(carrierKey{}).(RefreshTokenCarrier)
	return c
}

// incomingRefreshToken is the token argument, or, when it is empty, the one
// the carrier brought.
func incomingRefreshToken(ctx context.Context, arg string) string {
	if arg == "" {
		if c := carrierFrom(ctx); c != nil {
			return c.Incoming()
		}
	}
	return arg
}
