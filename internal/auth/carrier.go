package auth

import (
	"context"
	"time"
)

// TokenCarrier hands a client a token outside the response body, e.g. in an
// HttpOnly cookie that page scripts cannot read.
type TokenCarrier interface {
	// Deliver hands the client its new token, which lives for lifetime
	// (by the service's clock).
	Deliver(token string, lifetime time.Duration)
	// Clear tells the client to forget its token.
	Clear()
}

// RefreshTokenCarrier carries the refresh token outside the response body.
// A transport puts one in the request context; the service uses it when
// present, and the body then carries no refresh token.
type RefreshTokenCarrier interface {
	TokenCarrier
	// Incoming returns the refresh token the client sent this way, or "".
	Incoming() string
}

type carrierKey struct{}

type accessCarrierKey struct{}

// WithAccessTokenCarrier returns ctx carrying c, which the service hands
// every access token it issues and clears on sign-out (the cookie the JWT
// config tells Hasura to read the token from).
func WithAccessTokenCarrier(ctx context.Context, c TokenCarrier) context.Context {
	return context.WithValue(ctx, accessCarrierKey{}, c)
}

// clearAccessToken tells the client to forget its access token, when the
// request carries an access-token carrier: it signed out.
func clearAccessToken(ctx context.Context) {
	if c, _ := ctx.Value(accessCarrierKey{}).(TokenCarrier); c != nil {
		c.Clear()
	}
}

// deliverAccessToken hands the client its new access token, when the
// request carries an access-token carrier.
func deliverAccessToken(ctx context.Context, token string, lifetime time.Duration) {
	if c, _ := ctx.Value(accessCarrierKey{}).(TokenCarrier); c != nil {
		c.Deliver(token, lifetime)
	}
}

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
