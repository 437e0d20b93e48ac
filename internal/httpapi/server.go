// Package httpapi is authgate's HTTP surface: routes, middleware (request
// id, body limit, timeouts, client address, bearer token), the Hasura action
// handler, health checks, and mapping errors to HTTP.
package httpapi

import (
	"context"
	"log/slog"
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
	// RequestTimeout bounds every request, database waits included.
	RequestTimeout time.Duration
	// JWKS is the published key set; JWKSMaxAge how long clients may cache
	// it (Hasura refreshes a JWKS only when it carries a max-age).
	JWKS       []byte
	JWKSMaxAge time.Duration
	// RefreshCookie optionally carries refresh tokens in a cookie.
	RefreshCookie CookieConfig
	// WebhookCache bounds how long Hasura may cache a webhook answer, and so
	// how late a revocation reaches it.
	WebhookCache time.Duration
	// Metrics, when set, records /actions and webhook outcomes and is
	// served on /metrics, unless MetricsOnOwnAddress says another listener
	// serves it.
	Metrics             *metrics.Metrics
	MetricsOnOwnAddress bool
	// DevMail, set in development mode when mails are kept in memory, is
	// listed at GET /dev/mail; nil: there is no such route (404).
	DevMail DevMailbox
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
}

// New returns the whole HTTP handler: GraphQL on /graphql, the playground
// on /, Hasura actions on /actions, and /healthz, /readyz.
func New(cfg Config, svc *auth.Service, graphQL http.Handler, db Pinger, logger *slog.Logger) http.Handler {
	a := &api{cfg: cfg, auth: svc, db: db, logger: logger}
	mux := http.NewServeMux()
	mux.Handle("POST /graphql", a.withRefreshCookie(a.withBearer(graphQL)))
	mux.Handle("GET /graphql", a.withBearer(graphQL))
	pg := playground.New("authgate", "/graphql")
	mux.HandleFunc("GET /{$}", pg.ServePage)
	mux.HandleFunc("GET "+playground.AssetPath, pg.ServeAsset)
	mux.HandleFunc("GET /favicon.ico", playground.ServeFavicon)
	mux.Handle("POST /actions", a.withRefreshCookie(http.HandlerFunc(a.handleAction)))
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
	if cfg.DevMail != nil {
		mux.HandleFunc("GET /dev/mail", a.handleDevMail)
	}
	return a.middleware(mux)
}

// handleReady answers 200 when the database answers within a short time.
func (a *api) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.db.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database does not answer"})
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

// withBearer puts the caller of a valid bearer access token in the request
// context. A missing or invalid token is not refused here: operations that
// need a caller answer UNAUTHENTICATED, and the rest (login, refresh) work
// even when a client sends a stale token along.
func (a *api) withBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if raw, ok := bearerToken(r); ok {
			if v, err := a.auth.Authenticate(raw); err == nil {
				r = r.WithContext(auth.WithPrincipal(r.Context(), auth.PrincipalOf(v)))
			}
		}
		next.ServeHTTP(w, r)
	})
}

func bearerToken(r *http.Request) (string, bool) {
	return bearerFrom(r.Header.Get("Authorization"))
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
