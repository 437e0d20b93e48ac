// Package httpapi is authgate's HTTP surface: routes, middleware (request
// id, body limit, timeouts, client address, bearer token), the Hasura action
// handler, health checks, and mapping errors to HTTP.
package httpapi

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"authgate/internal/auth"
	"authgate/internal/metrics"
	"authgate/internal/playground"
)

// MaxBodyBytes is the largest request body accepted; larger ones get 413.
const MaxBodyBytes = 1 << 20

// Config is what the HTTP layer needs to know.
type Config struct {
	// ActionSecret must arrive as X-Action-Secret on /actions; empty turns
	// /actions off.
	ActionSecret string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// TrustedProxyHops, when above 0, is how many proxies in front append
	// to X-Forwarded-For: the client's address is that many entries from
	// the right (see clientIP).
	TrustedProxyHops int
	// RequestTimeout bounds every request, database waits included.
	RequestTimeout time.Duration
	// JWKS is the published key set; JWKSMaxAge how long clients may cache
	// it (Hasura refreshes a JWKS only when it carries a max-age).
	JWKS       []byte
	JWKSMaxAge time.Duration
	// RefreshCookie optionally carries refresh tokens in a cookie.
	RefreshCookie CookieConfig
	// AccessToken says where clients carry access tokens, and whether
	// authgate sets the access-token cookie.
	AccessToken AccessTokenConfig
	// WebhookCache bounds how long Hasura may cache a webhook answer, and so
	// how late a revocation reaches it.
	WebhookCache time.Duration
	// WebhookAnonymousRole is the role the webhook grants a request that
	// carries no token at all; empty answers it 401.
	WebhookAnonymousRole string
	// Metrics, when set, records /actions and webhook outcomes and is
	// served on /metrics, unless MetricsOnOwnAddress says another listener
	// serves it.
	Metrics             *metrics.Metrics
	MetricsOnOwnAddress bool
	// Introspection says whether GraphQL introspection is on: without it
	// the playground asks for no schema and says how to turn it on.
	Introspection bool
	// Admin, when set, is the admin API, served on POST /admin/graphql; it
	// authorises its callers itself. Console, when set, is the admin
	// console, served on /admin and below.
	Admin   http.Handler
	Console http.Handler
	// DevMail, set in development mode when mails are kept in memory, is
	// listed at GET /dev/mail; nil: there is no such route (404).
	DevMail DevMailbox
	// Providers, when set, runs provider sign-ins on GET /auth/{id}/start
	// and /auth/{id}/callback; nil answers those UNKNOWN_PROVIDER.
	Providers ProviderFlows
}

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

type api struct {
	cfg    Config
	auth   *auth.Service
	db     Pinger
	logger *slog.Logger
	// actions is the action table with this server's signInWithIdToken,
	// the one action that needs more than the auth service.
	actions map[string]action
}

// New returns the whole HTTP handler: GraphQL on /graphql, the playground
// on /, Hasura actions on /actions, and /healthz, /readyz.
func New(cfg Config, svc *auth.Service, graphQL http.Handler, db Pinger, logger *slog.Logger) http.Handler {
	a := &api{cfg: cfg, auth: svc, db: db, logger: logger, actions: maps.Clone(actions)}
	a.actions["signInWithIdToken"] = signInWithIDToken(cfg.Providers)
	mux := http.NewServeMux()
	mux.Handle("POST /graphql", a.withCookies(a.withBearer(graphQL)))
	mux.Handle("GET /graphql", a.withBearer(graphQL))
	pg := playground.New("authgate", "/graphql", cfg.Introspection)
	mux.HandleFunc("GET /{$}", pg.ServePage)
	mux.HandleFunc("GET "+playground.AssetPath, pg.ServeAsset)
	mux.HandleFunc("GET /favicon.ico", playground.ServeFavicon)
	mux.Handle("POST /actions", a.withCookies(http.HandlerFunc(a.handleAction)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.handleReady)
	if cfg.Metrics != nil && !cfg.MetricsOnOwnAddress {
		mux.Handle("GET /metrics", cfg.Metrics.Handler())
	}
	mux.HandleFunc("GET /.well-known/jwks.json", a.handleJWKS)
	mux.HandleFunc("GET /hasura/auth", a.handleAuthHook)
	mux.HandleFunc("POST /hasura/auth", a.handleAuthHook)
	mux.HandleFunc("GET /auth/{id}/start", a.handleProviderStart)
	mux.HandleFunc("GET /auth/{id}/callback", a.handleProviderCallback)
	if cfg.DevMail != nil {
		mux.HandleFunc("GET /dev/mail", a.handleDevMail)
	}
	if cfg.Admin != nil {
		mux.Handle("POST /admin/graphql", cfg.Admin)
	}
	if cfg.Console != nil {
		mux.Handle("/admin", cfg.Console)
		mux.Handle("/admin/", cfg.Console)
	}
	return a.middleware(withJSONFallbacks(mux))
}

// withJSONFallbacks answers what the mux itself would answer in plain text
// (no such route: 404; a route that takes other methods: 405 with Allow) as
// JSON with extensions.code, like every other error.
func withJSONFallbacks(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(&fallbackWriter{ResponseWriter: w, r: r}, r)
	})
}

// fallbackWriter replaces the mux's plain-text 404 and 405 answers.
type fallbackWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (f *fallbackWriter) WriteHeader(status int) {
	switch status {
	case http.StatusNotFound:
		f.replaced = true
		writeEarlyError(f.ResponseWriter, f.r, status, auth.CodeNotFound,
			"no such endpoint: "+f.r.Method+" "+truncate(f.r.URL.Path, 100)+" (authgate serves /graphql, /actions, /healthz, /readyz, /.well-known/jwks.json, /hasura/auth)")
	case http.StatusMethodNotAllowed:
		f.replaced = true
		writeEarlyError(f.ResponseWriter, f.r, status, auth.CodeBadUserInput,
			truncate(f.r.URL.Path, 100)+" does not answer "+truncate(f.r.Method, 20)+"; it answers "+f.Header().Get("Allow"))
	default:
		f.ResponseWriter.WriteHeader(status)
	}
}

func (f *fallbackWriter) Write(b []byte) (int, error) {
	if f.replaced {
		return len(b), nil
	}
	return f.ResponseWriter.Write(b)
}

// truncate cuts s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// handleReady answers 200 when the database answers within a short time
// and the revocation feed is connected and loaded (while it is not, bearer
// tokens are checked against the database: correct, but not what an
// instance should be routed traffic for).
func (a *api) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.db.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database does not answer"})
		return
	}
	if !a.auth.RevocationsCurrent() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "revocation feed is not connected"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleJWKS publishes the public keys that verify access tokens.
func (a *api) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(a.cfg.JWKSMaxAge.Seconds())))
	_, _ = w.Write(a.cfg.JWKS)
}

// withBearer puts the caller of a valid access token (where the JWT config
// says clients carry it) in the request context. A missing or invalid token
// is not refused here: operations that need a caller answer UNAUTHENTICATED
// (with the refused token's reason; UNAVAILABLE when the token could not be
// checked), and the rest (login, refresh) work even when a client sends a
// stale token along.
func (a *api) withBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if raw, _ := a.cfg.AccessToken.find(r.Header.Values); raw != "" {
			v, err := a.auth.Authenticate(r.Context(), raw)
			switch {
			case err == nil:
				r = r.WithContext(auth.WithPrincipal(r.Context(), auth.PrincipalOf(v)))
			default:
				r = r.WithContext(auth.WithBearerFailure(r.Context(), err))
			}
		}
		next.ServeHTTP(w, r)
	})
}

func bearerFrom(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !equalFoldASCII(h[:len(prefix)], prefix) {
		return "", false
	}
	return h[len(prefix):], true
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
