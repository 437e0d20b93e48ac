package httpapi

import (
	"net/http"
	"strings"
	"time"

	"authgate/internal/auth"
)

// CookieConfig describes the optional refresh-token cookie.
type CookieConfig struct {
	Enabled bool
	Name    string
	// Path scopes the cookie to the refresh endpoint, so the browser sends
	// it nowhere else (through Hasura: Hasura's GraphQL path).
	Path string
}

// AccessTokenConfig says where clients carry the access token, as the JWT
// config's "header" says (the Authorization header when neither Cookie nor
// Header is set), and whether authgate sets the access-token cookie.
type AccessTokenConfig struct {
	// Cookie, when set, is the cookie holding the token
	// ({"type":"Cookie","name":…}).
	Cookie string
	// Header, when set, is the header holding the token itself, without
	// "Bearer " ({"type":"CustomHeader","name":…}).
	Header string
	// SetCookie makes sign-in, sign-up, refresh and a password change set
	// Cookie, and sign-out clear it (AUTHGATE_ACCESS_COOKIE).
	SetCookie bool
}

// find returns the access token a request carries where c says, read
// through values (a header's values by name); presented reports whether
// the request carried anything there at all: an empty or malformed one is
// "" and true, which no check accepts. As in Hasura, a cookie or custom
// header holds the token itself, the Authorization header "Bearer <token>".
func (c AccessTokenConfig) find(values func(name string) []string) (token string, presented bool) {
	switch {
	case c.Cookie != "":
		cookies := values("Cookie")
		if len(cookies) == 0 {
			return "", false
		}
		ck, err := (&http.Request{Header: http.Header{"Cookie": cookies}}).Cookie(c.Cookie)
		if err != nil {
			return "", false
		}
		return ck.Value, true
	case c.Header != "":
		v := values(c.Header)
		if len(v) == 0 {
			return "", false
		}
		return strings.TrimSpace(v[0]), true
	}
	v := values("Authorization")
	if len(v) == 0 {
		return "", false
	}
	tok, _ := bearerFrom(v[0])
	return tok, true
}

// tokenCookie carries a token in an HttpOnly; Secure; SameSite=Strict
// cookie. Scripts cannot read it (XSS cannot steal it), and browsers never
// attach it to a request another site starts, not even a top-level
// navigation (no CSRF, although /graphql answers GET queries).
type tokenCookie struct {
	name, path string
	w          http.ResponseWriter
}

var _ auth.TokenCarrier = (*tokenCookie)(nil)

func (c *tokenCookie) Deliver(token string, lifetime time.Duration) {
	c.set(token, time.Now().Add(lifetime), int(lifetime.Seconds()))
}

func (c *tokenCookie) Clear() { c.set("", time.Unix(0, 0), -1) }

func (c *tokenCookie) set(value string, expires time.Time, maxAge int) {
	http.SetCookie(c.w, &http.Cookie{
		Name:     c.name,
		Value:    value,
		Path:     c.path,
		Expires:  expires,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteStrictMode,
	})
}

// refreshCookie is the refresh-token cookie, which the client also sends
// back to refresh.
type refreshCookie struct {
	tokenCookie
	r *http.Request
}

var _ auth.RefreshTokenCarrier = (*refreshCookie)(nil)

func (c *refreshCookie) Incoming() string {
	if ck, err := c.r.Cookie(c.name); err == nil {
		return ck.Value
	}
	return ""
}

// withCookies lets the service read and set the token cookies that are
// switched on for this request: the refresh token's
// (AUTHGATE_REFRESH_COOKIE) and the access token's (AUTHGATE_ACCESS_COOKIE,
// at path / so that it reaches Hasura and every door of authgate).
func (a *api) withCookies(next http.Handler) http.Handler {
	refresh, access := a.cfg.RefreshCookie, a.cfg.AccessToken
	if !refresh.Enabled && !(access.SetCookie && access.Cookie != "") {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if refresh.Enabled {
			ctx = auth.WithRefreshTokenCarrier(ctx, &refreshCookie{tokenCookie{refresh.Name, refresh.Path, w}, r})
		}
		if access.SetCookie && access.Cookie != "" {
			ctx = auth.WithAccessTokenCarrier(ctx, &tokenCookie{access.Cookie, "/", w})
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
