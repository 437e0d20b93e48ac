package auth

import (
	"context"
	"errors"
	"time"

	"authgate/internal/password"
)

// User is an account, as clients see it. JSON names match the GraphQL type,
// so /actions and /graphql answer with the same shape.
type User struct {
	ID           string    `json:"id" db:"id"`
	Email        string    `json:"email" db:"email"`
	DefaultRole  string    `json:"defaultRole" db:"default_role"`
	AllowedRoles []string  `json:"allowedRoles" db:"-"`
	CreatedAt    time.Time `json:"createdAt" db:"created_at"`
	// Claims are the user's custom x-hasura-* claims, copied into every
	// access token.
	Claims   Claims `json:"claims" db:"-"`
	Disabled bool   `json:"-" db:"disabled"`
	// BannedUntil, when after now, keeps the user from signing in;
	// BanReason says why (administrators see it).
	BannedUntil *time.Time `json:"-" db:"banned_until"`
	BanReason   *string    `json:"-" db:"ban_reason"`
	// EmailVerified says the user proved they read mail at Email (an
	// emailed link or code, a password reset, or an administrator).
	EmailVerified bool `json:"emailVerified" db:"-"`
}

// Session is one signed-in device, as its owner sees it.
type Session struct {
	ID             string    `json:"id"`
	Description    *string   `json:"description"`
	UserAgent      *string   `json:"userAgent"`
	IP             *string   `json:"ip"`
	CreatedAt      time.Time `json:"createdAt"`
	LastActivityAt time.Time `json:"lastActivityAt"`
	ExpiresAt      time.Time `json:"expiresAt"`
	Current        bool      `json:"current"`
}

// AuthPayload is what a sign-in, sign-up, refresh or password change returns.
type AuthPayload struct {
	AccessToken          string    `json:"accessToken"`
	AccessTokenExpiresAt time.Time `json:"accessTokenExpiresAt"`
	// RefreshToken is empty when a RefreshTokenCarrier (the HttpOnly
	// cookie) took it: the body never carries it then, and clients see
	// null (RefreshTokenInBody).
	RefreshToken          string    `json:"refreshToken"`
	RefreshTokenExpiresAt time.Time `json:"refreshTokenExpiresAt"`
	SessionID             string    `json:"sessionId"`
	User                  *User     `json:"user"`
}

// RefreshTokenInBody is the refresh token as clients see it in the answer:
// nil (null) when a carrier took it.
func (p *AuthPayload) RefreshTokenInBody() *string {
	if p.RefreshToken == "" {
		return nil
	}
	return &p.RefreshToken
}

// Client describes where a request came from; it is recorded on sessions.
type Client struct {
	IP        string
	UserAgent string
}

// Principal is the signed-in caller of a request: from a verified bearer
// access token, or from Hasura's session variables on /actions.
type Principal struct {
	UserID string
	// SessionID is the caller's session, when known; it marks Session.Current.
	SessionID string
	// TokenID and TokenExpiresAt identify the caller's access token, when
	// the caller presented one (revokeAccessToken denylists it).
	TokenID        string
	TokenExpiresAt time.Time
}

type principalKey struct{}

// WithPrincipal returns ctx carrying the authenticated caller.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

type bearerFailureKey struct{}

// WithBearerFailure returns ctx remembering why the request's bearer token
// was refused (Authenticate's error), so that an operation that needs a
// caller answers with that reason rather than a bare UNAUTHENTICATED, or
// with UNAVAILABLE when the token could not be checked (revocations could
// not be consulted): UNAUTHENTICATED would tell the client to sign in again.
func WithBearerFailure(ctx context.Context, err error) context.Context {
	return context.WithValue(ctx, bearerFailureKey{}, err)
}

// PrincipalFrom returns the caller stored by WithPrincipal. Without one it
// returns the error WithBearerFailure stored when a bearer token was sent
// and refused (UNAUTHENTICATED with its reason, or UNAVAILABLE), else
// ErrUnauthenticated.
func PrincipalFrom(ctx context.Context) (Principal, error) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	if !ok || p.UserID == "" {
		var failure *Error
		if err, _ := ctx.Value(bearerFailureKey{}).(error); errors.As(err, &failure) &&
			(failure.Code == CodeUnauthenticated || failure.Code == CodeUnavailable) {
			return Principal{}, failure
		}
		return Principal{}, ErrUnauthenticated
	}
	return p, nil
}

type clientKey struct{}

// WithClient returns ctx carrying where the request came from. The user
// agent comes from clients and proxies as it is: it is made storable here,
// once, for every session and audit row that records it. The client's
// address, as the throttle counts it (IPv6 by its /64), also names the
// client whose password hashes share the hasher's slots fairly with
// others', so one address cannot keep every slot busy.
func WithClient(ctx context.Context, c Client) context.Context {
	c.UserAgent = cleanText(c.UserAgent, maxUserAgentLength)
	ctx = password.WithClient(ctx, throttleAddress(c.IP))
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the Client stored by WithClient (zero when none).
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}
