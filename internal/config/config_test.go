package config_test

import (
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"authgate/internal/config"
)

// env is a getenv over a map.
func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// TestDefaults checks every default docs/operations.md states, with nothing set.
func TestDefaults(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatalf("Load with nothing set: %v", err)
	}
	cases := []struct {
		setting string
		got     any
		want    any
	}{
		{"DATABASE_URL", c.DatabaseURL, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"},
		{"HASURA_GRAPHQL_JWT_SECRET (unset: no signing key)", c.JWT == nil, true},
		{"AUTHGATE_ADDR", c.Addr, ":8080"},
		{"AUTHGATE_PUBLIC_URL", c.PublicURL, ""},
		{"AUTHGATE_ACCESS_TOKEN_TTL", c.AccessTokenTTL, 15 * time.Minute},
		{"AUTHGATE_REFRESH_TOKEN_TTL", c.RefreshTokenTTL, 720 * time.Hour},
		{"AUTHGATE_SESSION_MAX_AGE", c.SessionMaxAge, 2160 * time.Hour},
		{"AUTHGATE_REFRESH_REUSE_GRACE", c.RefreshReuseGrace, 10 * time.Second},
		{"AUTHGATE_ACTION_SECRET (off)", c.ActionSecret, ""},
		{"AUTHGATE_SIGNUP_ENABLED", c.SignupEnabled, true},
		{"AUTHGATE_SIGNUP_ROLE", c.SignupRole, "user"},
		{"AUTHGATE_SIGNUP_IP_LIMIT", c.SignupIPLimit, 10},
		{"AUTHGATE_TRUSTED_PROXIES", len(c.TrustedProxies), 0},
		{"AUTHGATE_TRUSTED_PROXY_HOPS", c.TrustedProxyHops, 0},
		{"AUTHGATE_INTROSPECTION", c.Introspection, false},
		{"AUTHGATE_REQUEST_TIMEOUT", c.RequestTimeout, 10 * time.Second},
		{"AUTHGATE_SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 20 * time.Second},
		{"AUTHGATE_DB_MAX_CONNS", c.DBMaxConns, 16},
		{"AUTHGATE_ARGON2_MEMORY_KIB", c.Argon2.MemoryKiB, uint32(19456)},
		{"AUTHGATE_ARGON2_ITERATIONS", c.Argon2.Iterations, uint32(2)},
		{"AUTHGATE_ARGON2_PARALLELISM", c.Argon2.Parallelism, uint8(1)},
		{"AUTHGATE_HASH_CONCURRENCY", c.HashConcurrency, runtime.NumCPU()},
		{"AUTHGATE_LOG_LEVEL", c.LogLevel, "info"},
		{"AUTHGATE_JWKS_MAX_AGE", c.JWKSMaxAge, 5 * time.Minute},
		{"AUTHGATE_WEBHOOK_CACHE", c.WebhookCache, 5 * time.Second},
		{"AUTHGATE_WEBHOOK_ANONYMOUS_ROLE", c.WebhookAnonymousRole, "anonymous"},
		{"AUTHGATE_PURGE_INTERVAL", c.PurgeInterval, 10 * time.Minute},
		{"AUTHGATE_LISTEN_DATABASE_URL", c.ListenDatabaseURL, c.DatabaseURL},
		{"AUTHGATE_REFRESH_COOKIE", c.RefreshCookie, false},
		{"AUTHGATE_ACCESS_COOKIE", c.AccessCookie, false},
		{"AUTHGATE_REFRESH_COOKIE_NAME", c.RefreshCookieName, "authgate_refresh"},
		{"AUTHGATE_REFRESH_COOKIE_PATH", c.RefreshCookiePath, "/graphql"},
		{"AUTHGATE_REFRESH_TOKEN_SECRET (unset: serve refuses, --dev generates one)", c.RefreshTokenSecret, ""},
		{"AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS", len(c.RefreshTokenPreviousSecrets), 0},
		{"AUTHGATE_REFRESH_REPLAY_LIMIT", c.RefreshReplayLimit, 3},
		{"AUTHGATE_AUDIT_REFRESHES", c.AuditRefreshes, false},
	}
	for _, tc := range cases {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s defaults to %v, want %v", tc.setting, tc.got, tc.want)
		}
	}
}

// TestSettingsAreRead checks that a value set for each setting arrives.
func TestSettingsAreRead(t *testing.T) {
	cases := []struct {
		name string
		vars map[string]string
		got  func(*config.Config) any
		want any
	}{
		{"PORT is honoured", map[string]string{"PORT": "9000"}, func(c *config.Config) any { return c.Addr }, ":9000"},
		{"AUTHGATE_ADDR wins over PORT", map[string]string{"PORT": "9000", "AUTHGATE_ADDR": "127.0.0.1:7000"}, func(c *config.Config) any { return c.Addr }, "127.0.0.1:7000"},
		{"AUTHGATE_ACCESS_TOKEN_TTL", map[string]string{"AUTHGATE_ACCESS_TOKEN_TTL": "5m"}, func(c *config.Config) any { return c.AccessTokenTTL }, 5 * time.Minute},
		{"AUTHGATE_REFRESH_TOKEN_TTL", map[string]string{"AUTHGATE_REFRESH_TOKEN_TTL": "24h"}, func(c *config.Config) any { return c.RefreshTokenTTL }, 24 * time.Hour},
		{"AUTHGATE_SESSION_MAX_AGE", map[string]string{"AUTHGATE_SESSION_MAX_AGE": "1000h"}, func(c *config.Config) any { return c.SessionMaxAge }, 1000 * time.Hour},
		{"AUTHGATE_REFRESH_REUSE_GRACE may be zero", map[string]string{"AUTHGATE_REFRESH_REUSE_GRACE": "0s"}, func(c *config.Config) any { return c.RefreshReuseGrace }, time.Duration(0)},
		{"AUTHGATE_SIGNUP_ENABLED", map[string]string{"AUTHGATE_SIGNUP_ENABLED": "false"}, func(c *config.Config) any { return c.SignupEnabled }, false},
		{"AUTHGATE_SIGNUP_IP_LIMIT", map[string]string{"AUTHGATE_SIGNUP_IP_LIMIT": "50"}, func(c *config.Config) any { return c.SignupIPLimit }, 50},
		{"AUTHGATE_SIGNUP_IP_LIMIT 0 is off", map[string]string{"AUTHGATE_SIGNUP_IP_LIMIT": "0"}, func(c *config.Config) any { return c.SignupIPLimit }, 0},
		{"AUTHGATE_ACTION_SECRET of 32 bytes", map[string]string{"AUTHGATE_ACTION_SECRET": "action-secret-0123456789abcdefgh"}, func(c *config.Config) any { return c.ActionSecret }, "action-secret-0123456789abcdefgh"},
		{"AUTHGATE_TRUSTED_PROXIES: addresses and ranges", map[string]string{"AUTHGATE_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7 ,::1"},
			func(c *config.Config) any { return c.TrustedProxies },
			[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("::1/128")}},
		{"AUTHGATE_WEBHOOK_ANONYMOUS_ROLE", map[string]string{"AUTHGATE_WEBHOOK_ANONYMOUS_ROLE": "guest"}, func(c *config.Config) any { return c.WebhookAnonymousRole }, "guest"},
		{"AUTHGATE_TRUSTED_PROXY_HOPS", map[string]string{"AUTHGATE_TRUSTED_PROXY_HOPS": "2"}, func(c *config.Config) any { return c.TrustedProxyHops }, 2},
		{"AUTHGATE_ACCESS_COOKIE with the JWT config's cookie", map[string]string{"AUTHGATE_ACCESS_COOKIE": "true",
			"HASURA_GRAPHQL_JWT_SECRET": `{"type":"HS256","key":"0123456789abcdef0123456789abcdef","header":{"type":"Cookie","name":"at"}}`},
			func(c *config.Config) any { return c.AccessCookie }, true},
		{"DATABASE_URL also feeds the LISTEN connection", map[string]string{"DATABASE_URL": "postgres://u@db:5432/app"},
			func(c *config.Config) any { return c.ListenDatabaseURL }, "postgres://u@db:5432/app"},
		{"HASURA_GRAPHQL_JWT_SECRET", map[string]string{"HASURA_GRAPHQL_JWT_SECRET": `{"type":"HS256","key":"0123456789abcdef0123456789abcdef"}`},
			func(c *config.Config) any { return c.JWT != nil && c.JWT.Algorithm() == "HS256" }, true},
		{"AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS", map[string]string{"AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS": " " + strings.Repeat("a", 32) + ", ," + strings.Repeat("b", 40)},
			func(c *config.Config) any { return c.RefreshTokenPreviousSecrets }, []string{strings.Repeat("a", 32), strings.Repeat("b", 40)}},
		{"AUTHGATE_REFRESH_REPLAY_LIMIT may be zero", map[string]string{"AUTHGATE_REFRESH_REPLAY_LIMIT": "0"}, func(c *config.Config) any { return c.RefreshReplayLimit }, 0},
		{"AUTHGATE_AUDIT_REFRESHES", map[string]string{"AUTHGATE_AUDIT_REFRESHES": "true"}, func(c *config.Config) any { return c.AuditRefreshes }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(env(tc.vars))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tc.got(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWebhookAnonymousRoleSetEmptyIsOff: a setting set to "" (as
// os.LookupEnv tells) switches the anonymous role off; absent, it is
// "anonymous".
func TestWebhookAnonymousRoleSetEmptyIsOff(t *testing.T) {
	for name, tc := range map[string]struct {
		vars map[string]string
		want string
	}{
		"absent":    {map[string]string{}, "anonymous"},
		"set empty": {map[string]string{"AUTHGATE_WEBHOOK_ANONYMOUS_ROLE": ""}, ""},
		"set":       {map[string]string{"AUTHGATE_WEBHOOK_ANONYMOUS_ROLE": " public "}, "public"},
	} {
		c, err := config.LoadFrom(func(k string) (string, bool) { v, ok := tc.vars[k]; return v, ok })
		if err != nil || c.WebhookAnonymousRole != tc.want {
			t.Errorf("%s: role %q (%v), want %q", name, c.WebhookAnonymousRole, err, tc.want)
		}
	}
}

// TestBadSettingIsOneLineNamingIt sets one bad value at a time: Load fails
// with a single line that starts with the setting's name.
func TestBadSettingIsOneLineNamingIt(t *testing.T) {
	cases := []struct {
		setting, value string
		also           map[string]string // other settings, valid on their own
	}{
		{"AUTHGATE_ACCESS_TOKEN_TTL", "abc", nil},
		{"AUTHGATE_ACCESS_TOKEN_TTL", "15", nil},
		{"AUTHGATE_ACCESS_TOKEN_TTL", "0s", nil},
		{"AUTHGATE_ACCESS_TOKEN_TTL", "-5m", nil},
		{"AUTHGATE_REFRESH_TOKEN_TTL", "abc", nil},
		{"AUTHGATE_SESSION_MAX_AGE", "abc", nil},
		{"AUTHGATE_SESSION_MAX_AGE", "1h", nil}, // shorter than the refresh-token TTL
		{"AUTHGATE_REFRESH_REUSE_GRACE", "abc", nil},
		{"AUTHGATE_REFRESH_REUSE_GRACE", "-1s", nil},
		{"AUTHGATE_REFRESH_REUSE_GRACE", "720h", nil}, // not shorter than the refresh-token TTL
		{"AUTHGATE_REQUEST_TIMEOUT", "soon", nil},
		{"AUTHGATE_SHUTDOWN_TIMEOUT", "soon", nil},
		{"AUTHGATE_JWKS_MAX_AGE", "soon", nil},
		{"AUTHGATE_WEBHOOK_CACHE", "soon", nil},
		{"AUTHGATE_PURGE_INTERVAL", "soon", nil},
		{"AUTHGATE_SIGNUP_ENABLED", "maybe", nil},
		{"AUTHGATE_SIGNUP_IP_LIMIT", "-1", nil},
		{"AUTHGATE_SIGNUP_IP_LIMIT", "lots", nil},
		{"AUTHGATE_INTROSPECTION", "maybe", nil},
		{"AUTHGATE_REFRESH_COOKIE", "maybe", nil},
		{"AUTHGATE_ACCESS_COOKIE", "maybe", nil},
		// The cookie must be the one the JWT config tells Hasura to read.
		{"AUTHGATE_ACCESS_COOKIE", "true", map[string]string{"HASURA_GRAPHQL_JWT_SECRET": `{"type":"HS256","key":"0123456789abcdef0123456789abcdef"}`}},
		{"AUTHGATE_ACCESS_COOKIE", "true", map[string]string{"HASURA_GRAPHQL_JWT_SECRET": `{"type":"HS256","key":"0123456789abcdef0123456789abcdef","header":{"type":"CustomHeader","name":"X-Token"}}`}},
		{"AUTHGATE_TRUSTED_PROXIES", "10.0.0.0/33", nil},
		{"AUTHGATE_TRUSTED_PROXIES", "10.0.0.1, proxy.internal", nil},
		{"AUTHGATE_DB_MAX_CONNS", "0", nil},
		{"AUTHGATE_TRUSTED_PROXY_HOPS", "-1", nil},
		{"AUTHGATE_TRUSTED_PROXY_HOPS", "11", nil},
		{"AUTHGATE_TRUSTED_PROXY_HOPS", "one", nil},
		{"AUTHGATE_DB_MAX_CONNS", "many", nil},
		{"AUTHGATE_ARGON2_MEMORY_KIB", "64", nil},
		{"AUTHGATE_ARGON2_ITERATIONS", "0", nil},
		{"AUTHGATE_ARGON2_PARALLELISM", "0", nil},
		{"AUTHGATE_HASH_CONCURRENCY", "0", nil},
		{"AUTHGATE_LOG_LEVEL", "loud", nil},
		{"AUTHGATE_ADDR", "8080", nil},
		{"AUTHGATE_ADDR", "localhost", nil},
		{"PORT", "http-ish", nil},
		{"AUTHGATE_REFRESH_TOKEN_SECRET", "too short", nil},
		{"AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS", "too short", nil},
		{"AUTHGATE_REFRESH_REPLAY_LIMIT", "-1", nil},
		{"AUTHGATE_REFRESH_REPLAY_LIMIT", "many", nil},
		{"AUTHGATE_AUDIT_REFRESHES", "sometimes", nil},
		// Issue 11.14: the action secret is all that proves a request to
		// /actions comes from Hasura.
		{"AUTHGATE_ACTION_SECRET", "x", nil},
		{"AUTHGATE_ACTION_SECRET", "action-secret-0123456789abcdefg", nil}, // 31 bytes
		{"HASURA_GRAPHQL_JWT_SECRET", `{"type":"HS256","key":"too short"}`, nil},
		{"HASURA_GRAPHQL_JWT_SECRET", `{"type":"HS256",`, nil},
		{"HASURA_GRAPHQL_JWT_SECRET", "{\n\"type\": \"HS256\",\n\"key\": 7\n}", nil},
		{"HASURA_GRAPHQL_JWT_SECRET", `{"type":"none","key":"0123456789abcdef0123456789abcdef"}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.setting+"="+tc.value, func(t *testing.T) {
			vars := map[string]string{tc.setting: tc.value}
			for k, v := range tc.also {
				vars[k] = v
			}
			c, err := config.Load(env(vars))
			if err == nil {
				t.Fatalf("Load accepted %s=%q (addr %q)", tc.setting, tc.value, c.Addr)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.setting+":") && !strings.HasPrefix(msg, tc.setting+" ") {
				t.Errorf("error %q does not start with %s", msg, tc.setting)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}

// TestSecretsStayOutOfErrors checks that a rejected key is not quoted back
// into the logs.
func TestSecretsStayOutOfErrors(t *testing.T) {
	const key = "short-secret-value"
	for name, vars := range map[string]map[string]string{
		"HASURA_GRAPHQL_JWT_SECRET":               {"HASURA_GRAPHQL_JWT_SECRET": `{"type":"HS256","key":"` + key + `"}`},
		"AUTHGATE_REFRESH_TOKEN_SECRET":           {"AUTHGATE_REFRESH_TOKEN_SECRET": key},
		"AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS": {"AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS": key},
		"AUTHGATE_ACTION_SECRET":                  {"AUTHGATE_ACTION_SECRET": key},
	} {
		_, err := config.Load(env(vars))
		if err == nil || strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v, want one that does not show the key", name, err)
		}
	}
}

// The refresh keys: the current secret mints, previous ones verify, and
// format-1 tokens are recognised under each of those and the HS JWT key.
func TestRefreshTokenKeys(t *testing.T) {
	if c, err := config.Load(env(nil)); err != nil {
		t.Fatal(err)
	} else if k, err := c.RefreshTokenKeys(); k != nil || err != nil {
		t.Fatalf("no secret: keys %v, %v; want none", k, err)
	}
	c, err := config.Load(env(map[string]string{
		"HASURA_GRAPHQL_JWT_SECRET":               `{"type":"HS256","key":"0123456789abcdef0123456789abcdef"}`,
		"AUTHGATE_REFRESH_TOKEN_SECRET":           strings.Repeat("n", 32),
		"AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS": strings.Repeat("o", 32),
	}))
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.RefreshTokenKeys()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(k.LegacyHashes(strings.Repeat("A", 43))); n != 3 {
		t.Fatalf("format-1 tokens are looked up under %d keys, want 3 (current, previous, HS JWT key)", n)
	}
}
