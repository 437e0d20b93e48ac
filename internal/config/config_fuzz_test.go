package config_test

import (
	"slices"
	"strings"
	"testing"

	"authgate/internal/config"
)

// FuzzLoad gives config.Load arbitrary values for up to three settings at
// once (any setting Load reads, found by watching it read them, on top of
// a valid JWT secret or none): it must never panic, what it accepts must
// build (the argon2id parameters), and every refusal must be one line
// naming a setting, without the value of a secret setting.
func FuzzLoad(f *testing.F) {
	var names []string
	_, _ = config.Load(func(name string) string {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
		return ""
	})
	if len(names) < 10 {
		f.Fatalf("Load read only %v", names)
	}
	slices.Sort(names)
	secrets := []string{"HASURA_GRAPHQL_JWT_SECRET", "AUTHGATE_JWT_PRIVATE_KEYS", "AUTHGATE_REFRESH_TOKEN_SECRET", "AUTHGATE_ACTION_SECRET"}
	index := func(name string) uint8 {
		i := slices.Index(names, name)
		if i < 0 {
			f.Fatalf("Load does not read %s", name)
		}
		return uint8(i)
	}
	const validSecret = `{"type":"HS256","key":"fuzz-key-0123456789abcdef0123456789abcdef"}`
	seeds := []struct {
		a  string
		va string
		b  string
		vb string
	}{
		{"AUTHGATE_ACCESS_TOKEN_TTL", "15m", "AUTHGATE_REFRESH_TOKEN_TTL", "720h"},
		{"AUTHGATE_SESSION_MAX_AGE", "1h", "AUTHGATE_REFRESH_TOKEN_TTL", "2h"},
		{"AUTHGATE_REFRESH_REUSE_GRACE", "-1s", "AUTHGATE_DB_MAX_CONNS", "0"},
		{"AUTHGATE_TRUSTED_PROXIES", "10.0.0.0/8, ::1, nonsense", "AUTHGATE_ADDR", ":http"},
		{"AUTHGATE_CORS_ORIGINS", "https://a.example, *", "AUTHGATE_HSTS", "maybe"},
		{"HASURA_GRAPHQL_JWT_SECRET", `{"type":"RS256","key":"-----BEGIN PUBLIC KEY-----\nMII\n-----END PUBLIC KEY-----"}`, "AUTHGATE_JWT_PRIVATE_KEYS", "-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----"},
		{"HASURA_GRAPHQL_JWT_SECRET", `{"type":"HS256","key":"short"}`, "AUTHGATE_REFRESH_TOKEN_SECRET", "too short"},
		{"HASURA_GRAPHQL_JWT_SECRET", `{"jwk_url":"https://x.example/jwks","claims_format":"stringified_json","allowed_skew":-5}`, "AUTHGATE_LOG_LEVEL", "verbose"},
		{"AUTHGATE_ARGON2_MEMORY_KIB", "99999999999999999999", "AUTHGATE_HASH_CONCURRENCY", "-3"},
		{"AUTHGATE_ARGON2_MEMORY_KIB", "2097152", "AUTHGATE_ARGON2_PARALLELISM", "64"},
		{"PORT", "8080\nAUTHGATE_X=1", "AUTHGATE_PUBLIC_URL", "https://auth.example.com/"},
	}
	for i, s := range seeds {
		f.Add(index(s.a), s.va, index(s.b), s.vb, uint8(0), "", i%2 == 0)
	}

	f.Fuzz(func(t *testing.T, a uint8, va string, b uint8, vb string, c uint8, vc string, withSecret bool) {
		env := map[string]string{}
		if withSecret {
			env["HASURA_GRAPHQL_JWT_SECRET"] = validSecret
		}
		for _, kv := range []struct {
			i uint8
			v string
		}{{a, va}, {b, vb}, {c, vc}} {
			name := names[int(kv.i)%len(names)]
			if name == "AUTHGATE_JWT_PRIVATE_KEYS" && !strings.Contains(kv.v, "-----BEGIN") {
				// Text without PEM names a file to read: keep the fuzzer
				// away from /dev/zero and friends.
				kv.v = "-----BEGIN PRIVATE KEY-----\n" + kv.v
			}
			env[name] = kv.v
		}
		cfg, err := config.Load(func(name string) string { return env[name] })
		if err == nil {
			if cfg == nil {
				t.Fatal("no error and no config")
			}
			// What Load accepts, the hasher built from it at start-up accepts.
			if err := cfg.Argon2.Validate(); err != nil {
				t.Fatalf("Load accepted argon2id parameters the hasher refuses: %v", err)
			}
			return
		}
		msg := err.Error()
		if strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("the error is not one line: %q", msg)
		}
		if !slices.ContainsFunc(names, func(n string) bool { return strings.Contains(msg, n) }) {
			t.Fatalf("the error names no setting: %q", msg)
		}
		for _, s := range secrets {
			if v := env[s]; len(v) >= 16 && strings.Contains(msg, v) {
				t.Fatalf("the error shows the value of %s: %q", s, msg)
			}
		}
	})
}
