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
	"authgate/internal/redirect"
	"authgate/internal/refreshtoken"
	"authgate/internal/token"
)

// DefaultDatabaseURL is used when DATABASE_URL is not set.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// DefaultSignupIPLimit is AUTHGATE_SIGNUP_IP_LIMIT's default: ten sign-ups
// per client address and hour leave room for a household or an office
// behind one address, and keep a script from registering (or probing for
// taken addresses) at scale.
const DefaultSignupIPLimit = 10

// DefaultEmailIPLimit is AUTHGATE_EMAIL_IP_LIMIT's default: thirty mail
// requests (verification, reset, sign-in) per client address and hour.
const DefaultEmailIPLimit = 30

// minActionSecretBytes is the shortest AUTHGATE_ACTION_SECRET accepted.
const minActionSecretBytes = 32

// maxTrustedProxyHops bounds AUTHGATE_TRUSTED_PROXY_HOPS; real chains are
// one to three proxies long.
const maxTrustedProxyHops = 10

// Config is every authgate setting, parsed and validated.
type Config struct {
	DatabaseURL string
	// JWT is nil when HASURA_GRAPHQL_JWT_SECRET (and AUTHGATE_JWT_PRIVATE_KEYS)
	// are unset: commands that issue no tokens still run; serve refuses.
	JWT *token.Config
	// RefreshTokenSecret is the current refresh-token key: it makes and
	// checks tokens (serve refuses to start without it, except in
	// development). RefreshTokenPreviousSecrets only check them, so a key
	// rotates without ending sessions.
	RefreshTokenSecret          string
	RefreshTokenPreviousSecrets []string
	Addr                        string
	PublicURL                   string

	AccessTokenTTL    time.Duration
	RefreshTokenTTL   time.Duration
	SessionMaxAge     time.Duration
	RefreshReuseGrace time.Duration
	// RefreshReplayLimit is how many grace replays one rotation allows.
	RefreshReplayLimit int
	RequestTimeout     time.Duration
	ShutdownTimeout    time.Duration
	JWKSMaxAge         time.Duration
	WebhookCache       time.Duration
	// WebhookAnonymousRole is the role the webhook gives a request without a
	// token; empty answers such a request 401.
	WebhookAnonymousRole string
	PurgeInterval        time.Duration
	// PprofAddr, when set, serves net/http/pprof on its own listener.
	PprofAddr string
	// MetricsAddr, when set, serves /metrics on its own listener instead of
	// the public one.
	MetricsAddr string
	// ListenDatabaseURL is a direct (not transaction-pooled) connection for
	// LISTEN; it defaults to DatabaseURL.
	ListenDatabaseURL string

	ActionSecret  string
	SignupEnabled bool
	SignupRole    string
	// SignupIPLimit is how many sign-ups one client address may make per
	// hour (AUTHGATE_SIGNUP_IP_LIMIT); 0: no limit.
	SignupIPLimit  int
	TrustedProxies []netip.Prefix
	// TrustedProxyHops is how many proxies in front (of Hasura, or of
	// authgate) append the client's address to X-Forwarded-For; 0: none.
	TrustedProxyHops int
	Introspection    bool

	RefreshCookie     bool
	RefreshCookieName string
	RefreshCookiePath string
	// AccessCookie sets the access token in the cookie the JWT config's
	// header names (AUTHGATE_ACCESS_COOKIE).
	AccessCookie bool

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
	// AuditRefreshes writes an audit row for every refresh.
	AuditRefreshes bool

	// Mail is mail delivery (AUTHGATE_SMTP_URL, AUTHGATE_MAIL_FROM, …).
	Mail MailSettings

	// EmailVerification is AUTHGATE_EMAIL_VERIFICATION: off, optional or
	// required.
	EmailVerification auth.EmailVerification
	// EmailTokenTTL and EmailSignInTTL are the lifetimes of emailed verify
	// and reset links, and of sign-in links and codes.
	EmailTokenTTL  time.Duration
	EmailSignInTTL time.Duration
	// EmailIPLimit is how many mail requests one client address may make
	// per hour (AUTHGATE_EMAIL_IP_LIMIT); 0: no limit.
	EmailIPLimit int
	// AdminSecret, when set, authorises callers of the admin API that send it
	// as X-Authgate-Admin-Secret (AUTHGATE_ADMIN_SECRET); empty: that way in
	// is off.
	AdminSecret string
	// AdminRoles are the roles that may administer (AUTHGATE_ADMIN_ROLES).
	AdminRoles []string
	// AdminConsole serves the admin console on /admin (AUTHGATE_ADMIN_CONSOLE);
	// AdminConsoleIdleTimeout signs a console out after that long unused.
	AdminConsole            bool
	AdminConsoleIdleTimeout time.Duration

	// Redirects are the pages authgate may send a browser to after an
	// emailed link or a provider sign-in (AUTHGATE_REDIRECT_URLS), with
	// AUTHGATE_APP_URL as the default; never nil.
	Redirects *redirect.AllowList

	// MFA is second factors and passkeys (AUTHGATE_MFA_*, AUTHGATE_WEBAUTHN_*).
	MFA MFASettings

	// Providers are the identity providers users may sign in with
	// (AUTHGATE_PROVIDERS); empty: none.
	Providers []Provider
}

// Load reads every setting through getenv (os.Getenv in production); a
// setting is absent when getenv returns "". It returns the first problem as
// an error naming the setting.
func Load(getenv func(string) string) (*Config, error) {
	return LoadFrom(func(name string) (string, bool) {
		v := getenv(name)
		return v, v != ""
	})
}

// LoadFrom is Load over a lookup that, like os.LookupEnv, tells a setting set
// to "" from an absent one: the settings whose empty value means something
// (AUTHGATE_WEBHOOK_ANONYMOUS_ROLE) need it.
func LoadFrom(lookup func(string) (string, bool)) (*Config, error) {
	r := &reader{}
	r.lookup = r.checkedLookup(lookup)
	r.getenv = func(name string) string {
		v, _ := r.lookup(name)
		return v
	}
	getenv := r.getenv
	c := &Config{
		DatabaseURL:        DatabaseURL(getenv),
		RefreshTokenSecret: getenv("AUTHGATE_REFRESH_TOKEN_SECRET"),
		PublicURL:          strings.TrimRight(r.str("AUTHGATE_PUBLIC_URL", ""), "/"),
		AccessTokenTTL:     r.duration("AUTHGATE_ACCESS_TOKEN_TTL", 15*time.Minute),
		RefreshTokenTTL:    r.duration("AUTHGATE_REFRESH_TOKEN_TTL", 30*24*time.Hour),
		SessionMaxAge:      r.duration("AUTHGATE_SESSION_MAX_AGE", 90*24*time.Hour),
		RefreshReuseGrace:  r.durationMin("AUTHGATE_REFRESH_REUSE_GRACE", 10*time.Second, 0),
		RefreshReplayLimit: r.integer("AUTHGATE_REFRESH_REPLAY_LIMIT", 3, 0, 100),
		RequestTimeout:     r.duration("AUTHGATE_REQUEST_TIMEOUT", 10*time.Second),
		ShutdownTimeout:    r.duration("AUTHGATE_SHUTDOWN_TIMEOUT", 20*time.Second),
		JWKSMaxAge:         r.duration("AUTHGATE_JWKS_MAX_AGE", 5*time.Minute),
		WebhookCache:       r.durationMin("AUTHGATE_WEBHOOK_CACHE", 5*time.Second, 0),
		PurgeInterval:      r.duration("AUTHGATE_PURGE_INTERVAL", 10*time.Minute),
		ActionSecret:       getenv("AUTHGATE_ACTION_SECRET"),
		SignupEnabled:      r.boolean("AUTHGATE_SIGNUP_ENABLED", true),
		SignupRole:         r.str("AUTHGATE_SIGNUP_ROLE", "user"),
		SignupIPLimit:      r.integer("AUTHGATE_SIGNUP_IP_LIMIT", DefaultSignupIPLimit, 0, 1000000),
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
			MemoryKiB:   uint32(r.integer("AUTHGATE_ARGON2_MEMORY_KIB", int(password.DefaultParams().MemoryKiB), 1024, password.MaxMemoryKiB)),
			Iterations:  uint32(r.integer("AUTHGATE_ARGON2_ITERATIONS", int(password.DefaultParams().Iterations), 1, 100)),
			Parallelism: uint8(r.integer("AUTHGATE_ARGON2_PARALLELISM", int(password.DefaultParams().Parallelism), 1, 64)),
			SaltLength:  password.DefaultParams().SaltLength,
			KeyLength:   password.DefaultParams().KeyLength,
		},
		HashConcurrency: r.integer("AUTHGATE_HASH_CONCURRENCY", runtime.NumCPU(), 1, 1024),
		LogLevel:        r.oneOf("AUTHGATE_LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		LoginThrottle:   r.loginThrottle(),
		AuditRetention:  r.durationMin("AUTHGATE_AUDIT_RETENTION", auth.DefaultAuditRetention, time.Hour),
		AuditRefreshes:  r.boolean("AUTHGATE_AUDIT_REFRESHES", false),
	}
	c.RefreshTokenPreviousSecrets = r.secrets("AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS")
	c.Mail = r.mail()
	c.Redirects = r.redirects()
	c.EmailVerification = auth.EmailVerification(r.oneOf("AUTHGATE_EMAIL_VERIFICATION", string(auth.VerificationOptional),
		string(auth.VerificationOff), string(auth.VerificationOptional), string(auth.VerificationRequired)))
	c.EmailTokenTTL = r.durationMin("AUTHGATE_EMAIL_TOKEN_TTL", auth.DefaultEmailTokenTTL, time.Minute)
	c.EmailSignInTTL = r.durationMin("AUTHGATE_EMAIL_SIGNIN_TTL", auth.DefaultEmailSignInTTL, time.Minute)
	c.EmailIPLimit = r.integer("AUTHGATE_EMAIL_IP_LIMIT", DefaultEmailIPLimit, 0, 1000000)
	c.MFA = r.mfaSettings(r.getenv("AUTHGATE_APP_URL"))
	c.ListenDatabaseURL = r.str("AUTHGATE_LISTEN_DATABASE_URL", c.DatabaseURL)
	c.WebhookAnonymousRole = r.strOrEmpty("AUTHGATE_WEBHOOK_ANONYMOUS_ROLE", "anonymous")
	c.TrustedProxyHops = r.integer("AUTHGATE_TRUSTED_PROXY_HOPS", 0, 0, maxTrustedProxyHops)
	c.AccessCookie = r.boolean("AUTHGATE_ACCESS_COOKIE", false)
	c.PprofAddr = r.str("AUTHGATE_PPROF_ADDR", "")
	c.MetricsAddr = r.str("AUTHGATE_METRICS_ADDR", "")
	c.Addr = r.listenAddr()
	c.AdminSecret = getenv("AUTHGATE_ADMIN_SECRET")
	c.AdminRoles = r.roles("AUTHGATE_ADMIN_ROLES", "admin")
	c.AdminConsole = r.boolean("AUTHGATE_ADMIN_CONSOLE", true)
	c.AdminConsoleIdleTimeout = r.durationMin("AUTHGATE_ADMIN_CONSOLE_IDLE_TIMEOUT", 15*time.Minute, time.Minute)
	c.Providers = r.providers(c.PublicURL)
	if r.err != nil {
		return nil, r.err
	}
	// The hasher panics on parameters it refuses; each setting is bounded
	// above, and this catches whatever their combination could still add.
	if err := c.Argon2.Validate(); err != nil {
		return nil, fmt.Errorf("AUTHGATE_ARGON2_MEMORY_KIB, AUTHGATE_ARGON2_ITERATIONS, AUTHGATE_ARGON2_PARALLELISM: %w", err)
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
	// Sign-up mails its verification link to the app's page: there is no
	// redirectTo to take instead.
	if c.EmailVerification == auth.VerificationRequired && c.Redirects.AppURL() == "" {
		return nil, fmt.Errorf("AUTHGATE_EMAIL_VERIFICATION=required needs AUTHGATE_APP_URL: the page sign-up's verification link opens")
	}
	if c.RefreshTokenSecret != "" && len(c.RefreshTokenSecret) < refreshtoken.MinKeySize {
		return nil, fmt.Errorf("AUTHGATE_REFRESH_TOKEN_SECRET: must be at least %d bytes", refreshtoken.MinKeySize)
	}
	// The action secret is all that makes /actions believe Hasura's session
	// variables: it must not be guessable.
	if c.ActionSecret != "" && len(c.ActionSecret) < minActionSecretBytes {
		return nil, fmt.Errorf("AUTHGATE_ACTION_SECRET: must be at least %d bytes (e.g. openssl rand -hex 32)", minActionSecretBytes)
	}
	// The admin secret can do anything to any account.
	if c.AdminSecret != "" && len(c.AdminSecret) < minActionSecretBytes {
		return nil, fmt.Errorf("AUTHGATE_ADMIN_SECRET: must be at least %d bytes (e.g. openssl rand -hex 32)", minActionSecretBytes)
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
		if c.AccessCookie && jwt.TokenLocation().Kind != token.LocationCookie {
			return nil, fmt.Errorf(`AUTHGATE_ACCESS_COOKIE: needs HASURA_GRAPHQL_JWT_SECRET's "header" to be {"type":"Cookie","name":…}, the cookie Hasura reads the token from`)
		}
	}
	if _, err := c.RefreshTokenKeys(); err != nil {
		return nil, err
	}
	return c, nil
}

// RefreshTokenKeys returns the refresh-token keys: the current secret makes
// and checks tokens, the previous ones check them, and format-1 tokens are
// recognised under every secret they may have been hashed with (each of
// those, and the HS JWT key, which keyed them when no refresh secret was
// set). It returns nil when no refresh secret is set (commands that make no
// refresh token), and an error naming the setting when the keys clash.
func (c *Config) RefreshTokenKeys() (*refreshtoken.Keys, error) {
	if c.RefreshTokenSecret == "" {
		return nil, nil
	}
	previous := make([][]byte, len(c.RefreshTokenPreviousSecrets))
	for i, p := range c.RefreshTokenPreviousSecrets {
		previous[i] = []byte(p)
	}
	legacy := append([][]byte{[]byte(c.RefreshTokenSecret)}, previous...)
	if c.JWT != nil {
		legacy = append(legacy, c.JWT.SymmetricKey())
	}
	keys, err := refreshtoken.NewKeys([]byte(c.RefreshTokenSecret), previous, legacy)
	if err != nil {
		return nil, fmt.Errorf("AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS: %w", err)
	}
	return keys, nil
}

// DefaultAddr is where serve listens when neither AUTHGATE_ADDR nor PORT
// is set.
const DefaultAddr = ":8080"

// ListenAddr reads the listen address alone (AUTHGATE_ADDR, else :$PORT,
// else DefaultAddr), for commands that need nothing else, such as
// healthcheck. It returns an error naming the setting when it is bad.
func ListenAddr(getenv func(string) string) (string, error) {
	r := &reader{}
	r.getenv = r.checkedGetenv(getenv)
	addr := r.listenAddr()
	return addr, r.err
}

func (r *reader) listenAddr() string {
	addr := r.str("AUTHGATE_ADDR", "")
	if addr == "" {
		addr = DefaultAddr
		if port := strings.TrimSpace(r.getenv("PORT")); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				r.fail("PORT", "%q is not a port number from 1 to 65535", port)
			}
			addr = ":" + port
		}
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		r.fail("AUTHGATE_ADDR", "%q is not host:port", addr)
	}
	return addr
}

// DatabaseURL reads DATABASE_URL alone (DefaultDatabaseURL when unset), for
// commands that need nothing else, such as migrate.
func DatabaseURL(getenv func(string) string) string {
	if v := strings.TrimSpace(getenv("DATABASE_URL")); v != "" {
		return v
	}
	return DefaultDatabaseURL
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
	lookup func(string) (string, bool)
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

// strOrEmpty is str for a setting whose explicit empty value means "none":
// def applies only when the setting is absent.
func (r *reader) strOrEmpty(name, def string) string {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	return strings.TrimSpace(v)
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
// roles reads a comma-separated list of Hasura roles (def when unset).
func (r *reader) roles(name, def string) []string {
	var out []string
	for _, role := range strings.Split(r.str(name, def), ",") {
		role = strings.TrimSpace(role)
		if role == "" {
			continue
		}
		for _, c := range role {
			if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				r.fail(name, "role %q may hold only letters, digits, '_' and '-'", role)
				return nil
			}
		}
		out = append(out, role)
	}
	if len(out) == 0 {
		r.fail(name, "name at least one role")
	}
	return out
}

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

// redirects reads AUTHGATE_REDIRECT_URLS (comma-separated origins or URL
// prefixes) and AUTHGATE_APP_URL into the redirect allow-list.
func (r *reader) redirects() *redirect.AllowList {
	var entries []string
	for _, part := range strings.Split(r.getenv("AUTHGATE_REDIRECT_URLS"), ",") {
		if part = strings.TrimSpace(part); part != "" {
			entries = append(entries, part)
		}
	}
	if _, err := redirect.New(entries, ""); err != nil {
		r.fail("AUTHGATE_REDIRECT_URLS", "%v: write origins or URL prefixes, e.g. https://app.example.com,https://example.com/app/", err)
		return &redirect.AllowList{}
	}
	allow, err := redirect.New(entries, r.getenv("AUTHGATE_APP_URL"))
	if err != nil {
		r.fail("AUTHGATE_APP_URL", "%v: write the absolute URL of the app's page, e.g. https://app.example.com/auth", err)
		return &redirect.AllowList{}
	}
	return allow
}

// secrets reads a comma-separated list of secrets, each at least
// refreshtoken.MinKeySize bytes; the error never quotes one.
func (r *reader) secrets(name string) []string {
	var out []string
	for i, part := range strings.Split(r.getenv(name), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if len(part) < refreshtoken.MinKeySize {
			r.fail(name, "secret %d is shorter than %d bytes", i+1, refreshtoken.MinKeySize)
			return nil
		}
		out = append(out, part)
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
