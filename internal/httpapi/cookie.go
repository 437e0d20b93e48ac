package httpapi

import (
	"net/http"
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

// refreshCookie carries the refresh token in an HttpOnly; Secure;
// SameSite=Strict cookie. Scripts cannot read it (XSS cannot steal it), and
// browsers never attach it to a cross-site request (no CSRF).
type refreshCookie struct {
	cfg CookieConfig
	w   http.ResponseWriter
	r   *http.Request
}

var _ auth.RefreshTokenCarrier = (*refreshCookie)(nil)

func (c *refreshCookie) Incoming() string {
	if ck, err := c.r.Cookie(c.cfg.Name); err == nil {
		return ck.Value
	}
	return ""
}

func (c *refreshCookie) Deliver(token string, expiresAt time.Time) {
	c.set(token, expiresAt, int(time.Until(expiresAt).Seconds()))
}

func (c *refreshCookie) Clear() { c.set("", time.Unix(0, 0), -1) }

func (c *refreshCookie) set(value string, expires time.Time, maxAge int) {
	http.SetCookie(c.w, &http.Cookie{
		Name:     c.cfg.Name,
		Value:    value,
		Path:     c.cfg.Path,
		Expires:  expires,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteStrictMode,
	})
}

// withRefreshCookie lets the service read and set the refresh-token cookie
// on this request, when the cookie is switched on.
func (a *api) withRefreshCookie(next http.Handler) http.Handler {
	if !a.cfg.RefreshCookie.Enabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &refreshCookie{cfg: a.cfg.RefreshCookie, w: w, r: r}
		next.ServeHTTP(w, r.WithContext(auth.WithRefreshTokenCarrier(r.Context(), c)))
	})
}
