package config

import (
	"slices"
	"strings"

	"github.com/agnivade/levenshtein"
)

// settingNames is every environment variable Load reads: the one list of
// authgate's settings. Load refuses to read a name that is not here, so the
// list cannot fall behind the code; the start-up warning about unknown
// AUTHGATE_* variables and the documentation check read it.
var settingNames = []string{
	"DATABASE_URL",
	"HASURA_GRAPHQL_JWT_SECRET",
	"PORT",
	"AUTHGATE_JWT_PRIVATE_KEYS",
	"AUTHGATE_REFRESH_TOKEN_SECRET",
	"AUTHGATE_ADDR",
	"AUTHGATE_PUBLIC_URL",
	"AUTHGATE_ACCESS_TOKEN_TTL",
	"AUTHGATE_REFRESH_TOKEN_TTL",
	"AUTHGATE_SESSION_MAX_AGE",
	"AUTHGATE_REFRESH_REUSE_GRACE",
	"AUTHGATE_REQUEST_TIMEOUT",
	"AUTHGATE_SHUTDOWN_TIMEOUT",
	"AUTHGATE_JWKS_MAX_AGE",
	"AUTHGATE_WEBHOOK_CACHE",
	"AUTHGATE_PURGE_INTERVAL",
	"AUTHGATE_ACTION_SECRET",
	"AUTHGATE_SIGNUP_ENABLED",
	"AUTHGATE_SIGNUP_ROLE",
	"AUTHGATE_TRUSTED_PROXIES",
	"AUTHGATE_INTROSPECTION",
	"AUTHGATE_REFRESH_COOKIE",
	"AUTHGATE_REFRESH_COOKIE_NAME",
	"AUTHGATE_REFRESH_COOKIE_PATH",
	"AUTHGATE_CORS_ORIGINS",
	"AUTHGATE_HSTS",
	"AUTHGATE_DB_MAX_CONNS",
	"AUTHGATE_DB_PREPARE",
	"AUTHGATE_ARGON2_MEMORY_KIB",
	"AUTHGATE_ARGON2_ITERATIONS",
	"AUTHGATE_ARGON2_PARALLELISM",
	"AUTHGATE_HASH_CONCURRENCY",
	"AUTHGATE_LOG_LEVEL",
	"AUTHGATE_AUDIT_RETENTION",
	"AUTHGATE_LISTEN_DATABASE_URL",
	"AUTHGATE_PPROF_ADDR",
	"AUTHGATE_METRICS_ADDR",
	"AUTHGATE_LOGIN_FREE_FAILURES",
	"AUTHGATE_LOGIN_MAX_FAILURES",
	"AUTHGATE_LOGIN_IP_FREE_FAILURES",
	"AUTHGATE_LOGIN_IP_MAX_FAILURES",
	"AUTHGATE_LOGIN_BACKOFF_BASE",
	"AUTHGATE_LOGIN_BACKOFF_MAX",
	"AUTHGATE_LOGIN_WINDOW",
	"AUTHGATE_ACCESS_COOKIE",
	"AUTHGATE_AUDIT_REFRESHES",
	"AUTHGATE_REFRESH_REPLAY_LIMIT",
	"AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS",
	"AUTHGATE_SIGNUP_IP_LIMIT",
	"AUTHGATE_TRUSTED_PROXY_HOPS",
	"AUTHGATE_WEBHOOK_ANONYMOUS_ROLE",
	"AUTHGATE_SMTP_URL",
	"AUTHGATE_MAIL_FROM",
	"AUTHGATE_APP_NAME",
	"AUTHGATE_MAIL_TEMPLATES",
	"AUTHGATE_REDIRECT_URLS",
	"AUTHGATE_APP_URL",
	"AUTHGATE_EMAIL_VERIFICATION",
	"AUTHGATE_EMAIL_TOKEN_TTL",
	"AUTHGATE_EMAIL_SIGNIN_TTL",
	"AUTHGATE_EMAIL_IP_LIMIT",
	"AUTHGATE_MFA_ENCRYPTION_KEY",
	"AUTHGATE_MFA_PREVIOUS_ENCRYPTION_KEYS",
	"AUTHGATE_MFA_REQUIRED_ROLES",
	"AUTHGATE_WEBAUTHN_RP_ID",
	"AUTHGATE_WEBAUTHN_ORIGINS",
	"AUTHGATE_ADMIN_SECRET",
	"AUTHGATE_ADMIN_ROLES",
	"AUTHGATE_ADMIN_CONSOLE",
	"AUTHGATE_ADMIN_CONSOLE_IDLE_TIMEOUT",
	"AUTHGATE_PROVIDERS",
}

// otherVariables are AUTHGATE_* names that mean something, but not to the
// server: Hasura's own (AUTHGATE_URL, where Hasura reaches authgate, often
// kept in the same .env file) and those of the scripts and tests. They are
// never warned about.
var otherVariables = []string{
	"AUTHGATE_URL",
	"AUTHGATE_TEST_DATABASE_URL",
	"AUTHGATE_BENCH_ADMIN_URL",
	"AUTHGATE_DATA_DIR",
	"AUTHGATE_DEV_PG_PORT",
	"AUTHGATE_DEV_LOCAL_PORT",
	"AUTHGATE_DEV_PG_LIBDIR",
}

// SettingNames returns the name of every setting authgate reads from the
// environment.
func SettingNames() []string { return slices.Clone(settingNames) }

// UnknownSetting is an AUTHGATE_* environment variable authgate does not
// read, most likely a typo.
type UnknownSetting struct {
	Name string
	// Nearest is the known setting it most resembles, or "" when none is
	// close.
	Nearest string
}

// UnknownSettings returns the AUTHGATE_* variables in environ (os.Environ's
// NAME=value form) that are not settings, each with the nearest known name.
func UnknownSettings(environ []string) []UnknownSetting {
	var out []UnknownSetting
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "AUTHGATE_") || slices.Contains(settingNames, name) || slices.Contains(otherVariables, name) {
			continue
		}
		out = append(out, UnknownSetting{Name: name, Nearest: nearestSetting(name)})
	}
	return out
}

// nearestSetting is the setting with the smallest edit distance to name,
// when that distance is at most a third of name's length: close enough to
// be a typo rather than another name altogether.
func nearestSetting(name string) string {
	best, bestDistance := "", len(name)/3+1
	for _, known := range settingNames {
		if d := levenshtein.ComputeDistance(name, known); d < bestDistance {
			best, bestDistance = known, d
		}
	}
	return best
}

// checkedGetenv returns getenv that also fails r when a name missing from
// settingNames is read: a setting added to Load but not to the list.
func (r *reader) checkedGetenv(getenv func(string) string) func(string) string {
	lookup := r.checkedLookup(func(name string) (string, bool) {
		v := getenv(name)
		return v, v != ""
	})
	return func(name string) string {
		v, _ := lookup(name)
		return v
	}
}

// checkedLookup is checkedGetenv for a lookup that tells a setting set to ""
// from an absent one.
func (r *reader) checkedLookup(lookup func(string) (string, bool)) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if !slices.Contains(settingNames, name) {
			r.fail(name, "read but missing from config's settingNames (a bug: add it there)")
		}
		return lookup(name)
	}
}
