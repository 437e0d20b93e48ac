package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/clock"
	"authgate/internal/config"
	"authgate/internal/httpapi"
	"authgate/internal/metrics"
	"authgate/internal/revocation"
)

// devSecretFile holds the development JWT secret under the data directory.
const devSecretFile = "dev-jwt-secret.json"

// runServe runs the HTTP server until ctx ends (SIGTERM), then drains
// in-flight requests.
func runServe(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("serve", env)
	dev := fs.Bool("dev", false, "development mode: generate a JWT key under --data-dir if none is set, turn introspection on, keep mails in memory (GET /dev/mail) when AUTHGATE_SMTP_URL is not set")
	dataDir := fs.String("data-dir", ".data", "where --dev keeps its generated key")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	getenv := env.Getenv
	logger := newLogger(env.Stderr, "info")
	if *dev {
		var err error
		if getenv, err = withDevSecret(getenv, *dataDir, logger); err != nil {
			return err
		}
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger = newLogger(env.Stderr, cfg.LogLevel)
	if cfg.JWT == nil {
		return errors.New("HASURA_GRAPHQL_JWT_SECRET is not set: authgate will not sign tokens without a real key (`make run` generates a development key)")
	}
	if *dev {
		cfg.Introspection = true
		cfg.Mail.InMemory = cfg.Mail.SMTP == nil
	}
	leeway := cfg.JWT.AllowedSkew()
	revoked := revocation.NewState(cfg.AccessTokenTTL+leeway, leeway)
	p, err := build(ctx, cfg, revoked, logger)
	if err != nil {
		return err
	}
	defer p.store.Close()

	// Revocation state is loaded before serving, then kept current.
	feed := revocation.NewFeed(revoked, p.store, clock.System{}, cfg.ListenDatabaseURL, logger)
	if err := feed.Load(ctx); err != nil {
		return fmt.Errorf("loading revocations: %w", err)
	}
	background, stopBackground := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stopBackground(); wg.Wait() }()
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := feed.Run(background); err != nil {
			logger.Error("revocation feed stopped", "error", err)
		}
	}()
	go func() {
		defer wg.Done()
		purgeEvery(background, p.auth, cfg.PurgeInterval, logger)
	}()

	m := metrics.New(p.store.DB().DB)
	p.auth.SetObserver(m)
	devMail, err := startMailDelivery(background, &wg, cfg, p, m, logger)
	if err != nil {
		return err
	}
	m.WatchRevocations(revoked.Size)
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.TrackLiveSessions(background, time.Minute, func(ctx context.Context) (int64, error) {
			return p.store.CountLiveSessions(ctx, time.Now())
		})
	}()
	if cfg.PprofAddr != "" {
		stop, err := serveOwnListener("AUTHGATE_PPROF_ADDR", "pprof", cfg.PprofAddr, pprofHandler(), logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	if cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		stop, err := serveOwnListener("AUTHGATE_METRICS_ADDR", "metrics", cfg.MetricsAddr, mux, logger)
		if err != nil {
			return err
		}
		defer stop()
	}

	gql := graph.NewServer(p.auth, graph.Options{Introspection: cfg.Introspection, Metrics: m})
	handler := httpapi.New(httpapi.Config{
		ActionSecret:   cfg.ActionSecret,
		TrustedProxies: cfg.TrustedProxies,
		RequestTimeout: cfg.RequestTimeout,
		JWKS:           cfg.JWT.JWKS(),
		JWKSMaxAge:     cfg.JWKSMaxAge,
		RefreshCookie: httpapi.CookieConfig{
			Enabled: cfg.RefreshCookie, Name: cfg.RefreshCookieName, Path: cfg.RefreshCookiePath,
		},
		WebhookCache:        cfg.WebhookCache,
		Metrics:             m,
		MetricsOnOwnAddress: cfg.MetricsAddr != "",
		DevMail:             devMailbox(devMail),
	}, p.auth, gql, p.store, logger)

	handler = httpapi.WithBrowserPolicy(httpapi.BrowserPolicy{
		CORSOrigins: cfg.CORSOrigins, CORSCredentials: cfg.RefreshCookie, HSTS: cfg.HSTS,
	}, handler)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("AUTHGATE_ADDR: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("authgate listening", "addr", ln.Addr().String(), "jwt_alg", cfg.JWT.Algorithm(),
		"actions", cfg.ActionSecret != "", "signup", cfg.SignupEnabled, "introspection", cfg.Introspection)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// purgeEvery runs the purge every interval until ctx ends; instances take
// turns through the purge's advisory lock.
func purgeEvery(ctx context.Context, svc *auth.Service, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			res, err := svc.Purge(ctx)
			if err != nil {
				logger.Warn("purge failed", "error", err)
				continue
			}
			if !res.Skipped {
				logger.Info("purged", "sessions", res.Sessions, "retired_refresh_tokens", res.RetiredTokens,
					"denied_access_tokens", res.DeniedTokens, "audit_events", res.AuditEvents, "login_throttles", res.LoginThrottles, "mail_outbox", res.MailOutbox)
			}
		}
	}
}

// withDevSecret returns getenv with HASURA_GRAPHQL_JWT_SECRET filled from a
// development key kept under dataDir (made on first use), when neither it
// nor AUTHGATE_JWT_PRIVATE_KEYS is set.
func withDevSecret(getenv func(string) string, dataDir string, logger *slog.Logger) (func(string) string, error) {
	if getenv("HASURA_GRAPHQL_JWT_SECRET") != "" || getenv("AUTHGATE_JWT_PRIVATE_KEYS") != "" {
		return getenv, nil
	}
	path := filepath.Join(dataDir, devSecretFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		raw, _ = json.Marshal(map[string]string{"type": "HS256", "key": hex.EncodeToString(key)})
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", dataDir, err)
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	logger.Warn("!!! DEVELOPMENT MODE: HASURA_GRAPHQL_JWT_SECRET is not set; signing with the generated development key in " +
		path + " — never use this key in production; set HASURA_GRAPHQL_JWT_SECRET (the same value Hasura reads) instead !!!")
	secret := string(raw)
	return func(name string) string {
		if name == "HASURA_GRAPHQL_JWT_SECRET" {
			return secret
		}
		return getenv(name)
	}, nil
}
