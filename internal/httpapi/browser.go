package httpapi

import (
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"authgate/internal/auth"
)

// BrowserPolicy is what authgate tells browsers about calling it: which
// other origins' pages may call /graphql (CORS), and whether to use only
// HTTPS (HSTS).
type BrowserPolicy struct {
	// CORSOrigins are the exact origins ("https://app.example.com", as a
	// browser sends them in Origin) whose pages may call /graphql. Empty
	// means none: no CORS header is ever sent, so browsers refuse every
	// cross-origin call. /actions is for Hasura, server to server: it never
	// answers CORS.
	CORSOrigins []string
	// CORSCredentials lets those pages send cookies (the refresh-token
	// cookie). Set it only when the cookie is on; bearer tokens need no
	// credentials.
	CORSCredentials bool
	// TokenHeader, when set, is the header clients carry the access token
	// in (the JWT config's CustomHeader): preflights allow it too.
	TokenHeader string
	// HSTS makes every answer carry Strict-Transport-Security. Set it only
	// when authgate is reached over HTTPS alone (directly or behind a
	// TLS-terminating proxy): browsers then refuse plain HTTP to its host.
	HSTS bool
	// WarnRefused, when set (development mode), logs at warn, once per
	// origin, each page origin refused on /graphql, with the setting that
	// would allow it: the browser only tells the page's console.
	WarnRefused *slog.Logger
}

// CORS answers.
const (
	corsMethods = "POST, GET"
	corsHeaders = "Content-Type, Authorization, X-Request-Id"
	// corsMaxAge lets a browser reuse a preflight answer for 10 minutes
	// (browsers cap it at 2 hours at most).
	corsMaxAge = 10 * time.Minute
	// hstsValue pins HTTPS for a year; not includeSubDomains, since the
	// rest of the domain is not authgate's to decide.
	hstsValue = "max-age=31536000"
)

// WithBrowserPolicy wraps the handler New returns: it answers CORS
// preflights (OPTIONS with Access-Control-Request-Method) itself, adds the
// CORS headers to /graphql answers for allowed origins, and adds HSTS when
// p says so. A preflight from an origin that is not allowed, or for any
// path but /graphql, gets 403 FORBIDDEN without CORS headers.
func WithBrowserPolicy(p BrowserPolicy, next http.Handler) http.Handler {
	origins := slices.Clone(p.CORSOrigins)
	allowHeaders := corsHeaders
	if p.TokenHeader != "" {
		allowHeaders += ", " + p.TokenHeader
	}
	var warned sync.Map // origins already logged as refused
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if p.HSTS {
			h.Set("Strict-Transport-Security", hstsValue)
		}
		origin := r.Header.Get("Origin")
		allowed := r.URL.Path == "/graphql" && origin != "" && slices.Contains(origins, origin)
		if p.WarnRefused != nil && !allowed && r.URL.Path == "/graphql" && origin != "" && !sameOrigin(origin, r) {
			if _, done := warned.LoadOrStore(origin, true); !done {
				p.WarnRefused.Warn("refused a cross-origin call to /graphql from "+truncate(origin, 100)+
					": add that origin to AUTHGATE_CORS_ORIGINS (comma-separated) to let its pages call authgate", "origin", truncate(origin, 100))
			}
		}
		if r.URL.Path == "/graphql" && len(origins) > 0 {
			// The answer depends on Origin, whatever it is: caches must not
			// hand one origin's answer to another.
			h.Add("Vary", "Origin")
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			if p.CORSCredentials {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
		}
		if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
			if allowed {
				h.Set("Access-Control-Expose-Headers", "X-Request-Id")
			}
			next.ServeHTTP(w, r)
			return
		}

		// A preflight: no body, nothing to run.
		h.Set("X-Request-Id", requestID(r))
		setSecurityHeaders(h, r)
		if !allowed {
			graphQLError(w, http.StatusForbidden, auth.CodeForbidden, "cross-origin requests from this origin are not allowed here")
			return
		}
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", allowHeaders)
		h.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge.Seconds())))
		w.WriteHeader(http.StatusNoContent)
	})
}

// sameOrigin reports whether origin is the request's own host: a page
// authgate served itself (the playground), which needs no CORS.
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}
