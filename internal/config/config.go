// Package config reads authgate's settings from the environment, once, at
// start-up. A bad setting is an error that names it, in one line.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"authgate/internal/auth"
	"authgate/internal/password"
	"authgate/internal/token"
)

// DefaultDatabaseURL is used when DATABASE_URL is not set.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Config is every authgate setting, parsed and validated.
type Config struct {
	DatabaseURL string
	// JWT is nil when HASURA_GRAPHQL_JWT_SECRET (and AUTHGATE_JWT_PRIVATE_KEYS)
	// are unset: commands that issue no tokens still run; serve refuses.
	JWT *token.Config
	// RefreshTokenSecret keys refresh-token hashing. Empty means: derived from
	// the HS* JWT key.
	RefreshTokenSecret string
	Addr               string
	PublicURL          string

	AccessTokenTTL    time.Duration
	RefreshTokenTTL   time.Duration
	SessionMaxAge     time.Duration
	RefreshReuseGrace time.Duration
	RequestTimeout    time.Duration
	ShutdownTimeout   time.Duration
	JWKSMaxAge        time.Duration
	WebhookCache      time.Duration
	PurgeInterval     time.Duration
	// PprofAddr, when set, serves net/http/pprof on its own listener.
	PprofAddr string
	// MetricsAddr, when set, serves /metrics on its own listener instead of
	// the public one.
	MetricsAddr string
	// ListenDatabaseURL is a direct (not transaction-pooled) connection for
	// LISTEN; it defaults to DatabaseURL.
	ListenDatabaseURL string

	ActionSecret   string
	SignupEnabled  bool
	SignupRole     string
	TrustedProxies []netip.Prefix
	Introspection  bool

	RefreshCookie     bool
	RefreshCookieName string
	RefreshCookiePath string

	// CORSOrigins are the exact origins whose pages may call /graphql from a
	// browser (AUTHGATE_CORS_ORIGINS); empty: none.
	CORSOrigins []string
	// HSTS says authgate is reached over HTTPS only (AUTHGATE_HSTS): answers
	// carry Strict-Transport-Security.
	HSTS bool

	DBMaxConns      int
	DBPrepare       bool
	Argon2          password.Params
	HashConcurrency int
	LogLevel        string

	// LoginThrottle holds back repeated failed logins (AUTHGATE_LOGIN_*).
	LoginThrottle auth.ThrottleConfig
	// AuditRetention is how long audit events are kept.
	AuditRetention time.Duration

	// Mail is mail delivery (AUTHGATE_SMTP_URL, AUTHGATE_MAIL_FROM, …).
	Mail MailSettings
}

// Load reads every setting through getenv (os.Getenv in production). It
// returns the first problem as an error naming the setting.
func Load(getenv func(string) string) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{
		DatabaseURL:        r.str("DATABASE_URL", DefaultDatabaseURL),
		RefreshTokenSecret: getenv("AUTHGATE_REFRESH_TOKEN_SECRET"),
		PublicURL:          strings.TrimRight(r.str("AUTHGATE_PUBLIC_URL", ""), "/"),
		AccessTokenTTL:     r.duration("AUTHGATE_ACCESS_TOKEN_TTL", 15*time.Minute),
		RefreshTokenTTL:    r.duration("AUTHGATE_REFRESH_TOKEN_TTL", 30*24*time.Hour),
		SessionMaxAge:      r.duration("AUTHGATE_SESSION_MAX_AGE", 90*24*time.Hour),
		RefreshReuseGrace:  r.durationMin("AUTHGATE_REFRESH_REUSE_GRACE", 10*time.Second, 0),
		RequestTimeout:     r.duration("AUTHGATE_REQUEST_TIMEOUT", 10*time.Second),
		ShutdownTimeout:    r.duration("AUTHGATE_SHUTDOWN_TIMEOUT", 20*time.Second),
		JWKSMaxAge:         r.duration("AUTHGATE_JWKS_MAX_AGE", 5*time.Minute),
		WebhookCache:       r.durationMin("AUTHGATE_WEBHOOK_CACHE", 5*time.Second, 0),
		PurgeInterval:      r.duration("AUTHGATE_PURGE_INTERVAL", 10*time.Minute),
		ActionSecret:       getenv("AUTHGATE_ACTION_SECRET"),
		SignupEnabled:      r.boolean("AUTHGATE_SIGNUP_ENABLED", true),
		SignupRole:         r.str("AUTHGATE_SIGNUP_ROLE", "user"),
		TrustedProxies:     r.prefixes("AUTHGATE_TRUSTED_PROXIES"),
		Introspection:      r.boolean("AUTHGATE_INTROSPECTION", false),
		RefreshCookie:      r.boolean("AUTHGATE_REFRESH_COOKIE", false),
		RefreshCookieName:  r.str("AUTHGATE_REFRESH_COOKIE_NAME", "authgate_refresh"),
		RefreshCookiePath:  r.str("AUTHGATE_REFRESH_COOKIE_PATH", "/graphql"),
		CORSOrigins:        r.origins("AUTHGATE_CORS_ORIGINS"),
		HSTS:               r.boolean("AUTHGATE_HSTS", false),
		DBMaxConns:         r.integer("AUTHGATE_DB_MAX_CONNS", 16, 1, 1000),
		DBPrepare:          r.boolean("AUTHGATE_DB_PREPARE", true),
		Argon2: password.Params{
			MemoryKiB:   uint32(r.integer("AUTHGATE_ARGON2_MEMORY_KIB", int(password.DefaultParams().MemoryKiB), 1024, 4<<20)),
			Iterations:  uint32(r.integer("AUTHGATE_ARGON2_ITERATIONS", int(password.DefaultParams().Iterations), 1, 100)),
			Parallelism: uint8(r.integer("AUTHGATE_ARGON2_PARALLELISM", int(password.DefaultParams().Parallelism), 1, 64)),
			SaltLength:  password.DefaultParams().SaltLength,
			KeyLength:   password.DefaultParams().KeyLength,
		},
		HashConcurrency: r.integer("AUTHGATE_HASH_CONCURRENCY", runtime.NumCPU(), 1, 1024),
		LogLevel:        r.oneOf("AUTHGATE_LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		LoginThrottle:   r.loginThrottle(),
		AuditRetention:  r.durationMin("AUTHGATE_AUDIT_RETENTION", auth.DefaultAuditRetention, time.Hour),
	}
	c.Mail = r.mail()
	c.ListenDatabaseURL = r.str("AUTHGATE_LISTEN_DATABASE_URL", c.DatabaseURL)
	c.PprofAddr = r.str("AUTHGATE_PPROF_ADDR", "")
	c.MetricsAddr = r.str("AUTHGATE_METRICS_ADDR", "")
	c.Addr = r.str("AUTHGATE_ADDR", "")
	if c.Addr == "" {
		c.Addr = ":8080"
		if port := strings.TrimSpace(getenv("PORT")); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				r.fail("PORT", "%q is not a port number from 1 to 65535", port)
			}
			c.Addr = ":" + port
		}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil && r.err == nil {
		r.err = fmt.Errorf("AUTHGATE_ADDR: %q is not host:port", c.Addr)
	}
	if r.err != nil {
		return nil, r.err
	}
	if c.SessionMaxAge < c.RefreshTokenTTL {
		return nil, fmt.Errorf("AUTHGATE_SESSION_MAX_AGE (%s) must not be shorter than AUTHGATE_REFRESH_TOKEN_TTL (%s)", c.SessionMaxAge, c.RefreshTokenTTL)
	}
	if c.RefreshReuseGrace >= c.RefreshTokenTTL {
		return nil, fmt.Errorf("AUTHGATE_REFRESH_REUSE_GRACE (%s) must be shorter than AUTHGATE_REFRESH_TOKEN_TTL (%s)", c.RefreshReuseGrace, c.RefreshTokenTTL)
	}
	if t := c.LoginThrottle; t.BackoffMax < t.BackoffBase {
		return nil, fmt.Errorf("AUTHGATE_LOGIN_BACKOFF_MAX (%s) must not be shorter than AUTHGATE_LOGIN_BACKOFF_BASE (%s)", t.BackoffMax, t.BackoffBase)
	}
	if t := c.LoginThrottle; t.BackoffMax > t.Window {
		return nil, fmt.Errorf("AUTHGATE_LOGIN_BACKOFF_MAX (%s) must not be longer than AUTHGATE_LOGIN_WINDOW (%s)", t.BackoffMax, t.Window)
	}
	if c.RefreshTokenSecret != "" && len(c.RefreshTokenSecret) < 32 {
		return nil, fmt.Errorf("AUTHGATE_REFRESH_TOKEN_SECRET: must be at least 32 bytes")
	}
	secret, keys := getenv("HASURA_GRAPHQL_JWT_SECRET"), getenv("AUTHGATE_JWT_PRIVATE_KEYS")
	if secret != "" || keys != "" {
		jwt, err := token.ParseConfig(secret, keys)
		if err != nil {
			return nil, err
		}
		c.JWT = jwt
		if !jwt.Symmetric() && c.RefreshTokenSecret == "" {
			return nil, fmt.Errorf("AUTHGATE_REFRESH_TOKEN_SECRET: must be set when the JWT key is asymmetric")
		}
	}
	return c, nil
}

// loginThrottle reads the AUTHGATE_LOGIN_* settings.
func (r *reader) loginThrottle() auth.ThrottleConfig {
	d := auth.DefaultThrottle()
	return auth.ThrottleConfig{
		FreeFailures:   r.integer("AUTHGATE_LOGIN_FREE_FAILURES", d.FreeFailures, 0, 1000),
		MaxFailures:    r.integer("AUTHGATE_LOGIN_MAX_FAILURES", d.MaxFailures, 1, 1000000),
		IPFreeFailures: r.integer("AUTHGATE_LOGIN_IP_FREE_FAILURES", d.IPFreeFailures, 0, 1000000),
		IPMaxFailures:  r.integer("AUTHGATE_LOGIN_IP_MAX_FAILURES", d.IPMaxFailures, 1, 100000000),
		BackoffBase:    r.duration("AUTHGATE_LOGIN_BACKOFF_BASE", d.BackoffBase),
		BackoffMax:     r.duration("AUTHGATE_LOGIN_BACKOFF_MAX", d.BackoffMax),
		Window:         r.durationMin("AUTHGATE_LOGIN_WINDOW", d.Window, time.Minute),
	}
}

// reader parses settings and keeps the first error.
type reader struct {
	getenv func(string) string
	err    error
}

func (r *reader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	return r.durationMin(name, def, time.Second)
}

func (r *reader) durationMin(name string, def, min time.Duration) time.Duration {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.fail(name, "%q is not a duration (Go syntax, e.g. 15m, 720h)", v)
		return def
	}
	if d < min {
		r.fail(name, "%s is below the minimum %s", d, min)
		return def
	}
	return d
}

func (r *reader) boolean(name string, def bool) bool {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "%q is not true or false", v)
		return def
	}
	return b
}

func (r *reader) integer(name string, def, min, max int) int {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.fail(name, "%q is not a whole number from %d to %d", v, min, max)
		return def
	}
	return n
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := r.str(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

// origins reads a comma-separated list of web origins, each scheme://host
// with an optional port and nothing after it (a lone trailing slash is
// dropped), and returns them as browsers send them in Origin: lower case,
// without the scheme's default port.
func (r *reader) origins(name string) []string {
	var out []string
	for _, part := range strings.Split(r.getenv(name), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := url.Parse(strings.TrimSuffix(part, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" ||
			u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.Contains(u.Host, "*") {
			r.fail(name, "%q is not an origin: write scheme://host[:port], e.g. https://app.example.com", part)
			return nil
		}
		host := strings.ToLower(u.Host)
		if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
			host = strings.ToLower(u.Hostname())
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
		}
		out = append(out, u.Scheme+"://"+host)
	}
	return out
}

// prefixes reads a comma-separated list of IP addresses and CIDR ranges.
func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, part := range strings.Split(r.getenv(name), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			r.fail(name, "%q is neither an IP address nor a CIDR range", part)
			return nil
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out
}
