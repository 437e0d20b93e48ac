package cli

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"authgate/graph"
	"authgate/internal/admin"
	"authgate/internal/auth"
	"authgate/internal/config"
	"authgate/internal/httpapi"
	"authgate/internal/metrics"
	"authgate/internal/revocation"
	"authgate/internal/store"
	"authgate/internal/token"
)

// runServe runs the HTTP server until ctx ends (SIGTERM), then drains
// in-flight requests.
func runServe(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("serve", env)
	dev := fs.Bool("dev", false, "development mode: generated secrets under --data-dir for what is not set, listen on "+DevAddr+", introspection on, text logs, mails kept in memory (GET /dev/mail) when AUTHGATE_SMTP_URL is not set")
	dataDir := fs.String("data-dir", ".data", "where --dev keeps its generated secrets")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	getenv := env.Getenv
	var devSettings devEnv
	if *dev {
		var err error
		if devSettings, err = loadDevSecrets(getenv, *dataDir, rand.Reader, true); err != nil {
			return err
		}
		getenv = withDevDefaults(devSettings.getenv)
	}
	cfg, err := config.LoadFrom(env.settings(getenv))
	if err != nil {
		return err
	}
	logger := newLogger(env.Stderr, cfg.LogLevel, *dev)
	if cfg.JWT == nil {
		return errors.New("HASURA_GRAPHQL_JWT_SECRET is not set: authgate will not sign tokens without a real key (`make run` generates a development key)")
	}
	if cfg.RefreshTokenSecret == "" {
		return errors.New("AUTHGATE_REFRESH_TOKEN_SECRET is not set: refresh tokens need their own key of at least 32 random bytes, e.g. `openssl rand -hex 32` (`make run` generates a development key)")
	}
	for _, w := range cfg.JWT.Warnings() {
		logger.Warn(w)
	}
	if env.Environ != nil {
		warnUnknownSettings(logger, env.Environ())
	}
	if *dev {
		warnDevSecrets(logger, devSettings)
		cfg.Introspection = true
		created, err := store.CreateDatabaseIfMissing(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		if created {
			logger.Info("created the development database named in DATABASE_URL")
		}
		cfg.Mail.InMemory = cfg.Mail.SMTP == nil
	}
	leeway := cfg.JWT.AllowedSkew()
	revoked := revocation.NewState(cfg.AccessTokenTTL+leeway, leeway)
	p, err := build(ctx, cfg, revoked, logger)
	if err != nil {
		return err
	}
	// Closing the pool waits for the queries in flight: skipped when
	// background work did not stop in time (the process is exiting).
	poolIdle := true
	defer func() {
		if poolIdle {
			p.store.Close()
		}
	}()

	// Revocation state is loaded before serving, then kept current.
	feed := revocation.NewFeed(revoked, p.store, p.clock, cfg.ListenDatabaseURL, logger)
	if err := feed.Load(ctx); err != nil {
		return fmt.Errorf("loading revocations: %w", err)
	}
	// Every instance learns this one's token lifetime before it issues one.
	if err := p.auth.RecordAccessTokenLifetime(ctx); err != nil {
		return fmt.Errorf("recording the access-token lifetime: %w", err)
	}
	background, stopBackground := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Background work gets until the shutdown deadline to stop (set when
	// shutdown begins; a failed start gets the whole timeout): exiting
	// never waits on a database that does not answer.
	var stopBy time.Time
	defer func() {
		stopBackground()
		if stopBy.IsZero() {
			stopBy = time.Now().Add(cfg.ShutdownTimeout)
		}
		if poolIdle = waitUntil(&wg, stopBy); !poolIdle {
			logger.Warn("background work had not stopped at the shutdown timeout; exiting anyway")
		}
	}()
	wg.Add(4)
	go func() {
		defer wg.Done()
		recordLifetimeEvery(background, p.auth, time.Minute, logger)
	}()
	go func() {
		defer wg.Done()
		alignClockEvery(background, p, time.Minute, logger)
	}()
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
			return p.store.CountLiveSessions(ctx, p.clock.Now())
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

	flows, err := providerFlows(cfg, p)
	if err != nil {
		return err
	}
	gqlOpts := graph.Options{Introspection: cfg.Introspection, Metrics: m}
	if flows != nil {
		gqlOpts.Providers = flows
	}
	gql := graph.NewServer(p.auth, gqlOpts)
	var console http.Handler
	if cfg.AdminConsole {
		if console, err = admin.NewConsole(p.auth, admin.ConsoleConfig{
			Roles: cfg.AdminRoles, IdleTimeout: cfg.AdminConsoleIdleTimeout, Key: consoleKey(cfg.RefreshTokenSecret),
		}); err != nil {
			return err
		}
	}
	handler := httpapi.New(httpapi.Config{
		ActionSecret:     cfg.ActionSecret,
		TrustedProxies:   cfg.TrustedProxies,
		TrustedProxyHops: cfg.TrustedProxyHops,
		RequestTimeout:   cfg.RequestTimeout,
		JWKS:             cfg.JWT.JWKS(),
		JWKSMaxAge:       cfg.JWKSMaxAge,
		RefreshCookie: httpapi.CookieConfig{
			Enabled: cfg.RefreshCookie, Name: cfg.RefreshCookieName, Path: cfg.RefreshCookiePath,
		},
		AccessToken:          accessTokenConfig(cfg),
		WebhookCache:         cfg.WebhookCache,
		WebhookAnonymousRole: cfg.WebhookAnonymousRole,
		Metrics:              m,
		MetricsOnOwnAddress:  cfg.MetricsAddr != "",
		Introspection:        cfg.Introspection,
		DevMail:              devMailbox(devMail),
		Admin:                admin.NewAPI(p.auth, admin.Access{Secret: cfg.AdminSecret, Roles: cfg.AdminRoles}),
		Console:              console,
		Providers:            providerFlowsOrNil(flows),
	}, p.auth, gql, p.store, logger)

	policy := httpapi.BrowserPolicy{
		CORSOrigins: cfg.CORSOrigins, CORSCredentials: cfg.RefreshCookie || cfg.AccessCookie, HSTS: cfg.HSTS,
		TokenHeader: accessTokenConfig(cfg).Header,
	}
	if *dev {
		policy.WarnRefused = logger
	}
	handler = httpapi.WithBrowserPolicy(policy, handler)

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

	if *dev {
		devBanner(env.Stdout, cfg, ln.Addr().String(), devSettings)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests", "timeout", cfg.ShutdownTimeout.String())
	stopBy = time.Now().Add(cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithDeadline(context.Background(), stopBy)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// consoleKey is the key of the admin console's cookies and CSRF tokens:
// derived from the refresh-token secret, for this use alone (rotating the
// secret signs every console out).
func consoleKey(refreshSecret string) []byte {
	m := hmac.New(sha256.New, []byte(refreshSecret))
	m.Write([]byte("authgate admin console v1"))
	return m.Sum(nil)
}

// accessTokenConfig is where the JWT config's "header" says clients carry
// access tokens, and whether authgate sets the cookie.
func accessTokenConfig(cfg *config.Config) httpapi.AccessTokenConfig {
	loc := cfg.JWT.TokenLocation()
	out := httpapi.AccessTokenConfig{SetCookie: cfg.AccessCookie}
	switch loc.Kind {
	case token.LocationCookie:
		out.Cookie = loc.Name
	case token.LocationCustomHeader:
		out.Header = loc.Name
	}
	return out
}

// purgeEvery runs the purge every interval until ctx ends; instances take
// turns through the purge's advisory lock.
func purgeEvery(ctx context.Context, svc *auth.Service, interval time.Duration, logger *slog.Logger) {
	every(ctx, interval, func() {
		res, err := svc.Purge(ctx)
		if err != nil {
			logger.Warn("purge failed", "error", err)
			return
		}
		if !res.Skipped {
			logger.Info("purged", "sessions", res.Sessions, "retired_refresh_tokens", res.RetiredTokens,
				"denied_access_tokens", res.DeniedTokens, "audit_events", res.AuditEvents, "login_throttles", res.LoginThrottles, "mail_outbox", res.MailOutbox, "one_time_tokens", res.OneTimeTokens)
		}
	})
}

// recordLifetimeEvery keeps the database's record of this instance's
// access-token lifetime ahead of the tokens it issues until ctx ends.
func recordLifetimeEvery(ctx context.Context, svc *auth.Service, interval time.Duration, logger *slog.Logger) {
	every(ctx, interval, func() {
		if err := svc.RecordAccessTokenLifetime(ctx); err != nil {
			logger.Warn("recording the access-token lifetime failed; issuing a token will try again", "error", err)
		}
	})
}

// alignClockEvery re-measures the clock's offset from the database's every
// interval until ctx ends, so that drift on either side never adds up.
func alignClockEvery(ctx context.Context, p *parts, interval time.Duration, logger *slog.Logger) {
	every(ctx, interval, func() {
		if err := p.clock.Align(ctx, p.store.DatabaseNow); err != nil {
			logger.Warn("reading the database's clock failed; keeping the last offset", "error", err, "offset", p.clock.Offset().String())
		}
	})
}

// waitUntil waits for wg until deadline and reports whether it finished.
func waitUntil(wg *sync.WaitGroup, deadline time.Time) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(time.Until(deadline)):
		return false
	}
}

// every runs job every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, job func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			job()
		}
	}
}
