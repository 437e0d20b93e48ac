package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

func TestUserSetClaimsReachesTokensAndRefusesReservedNames(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	s := baseSettings(env)
	out := mustRun(t, s, "", "user", "set-claims", "--email", "a@example.com", "x-hasura-org-id=7", "X-Hasura-Team=blue")
	if !strings.Contains(out, "2 claim(s)") {
		t.Fatalf("stdout %q", out)
	}
	claims := hasuraClaims(t, login(t, env, "a@example.com", "correct horse").AccessToken)
	if claims["x-hasura-org-id"] != "7" || claims["x-hasura-team"] != "blue" {
		t.Fatalf("claims in the token: %v", claims)
	}
	for _, reserved := range []string{"x-hasura-user-id=1", "x-hasura-default-role=admin", "x-hasura-allowed-roles=admin",
		"x-hasura-session-id=1", "x-hasura-role=admin", "org-id=7"} {
		r := run(t, s, "", "user", "set-claims", "--email", "a@example.com", reserved)
		if r.code == 0 || !strings.Contains(r.stderr, "BAD_USER_INPUT") {
			t.Errorf("%s: exit %d, stderr %q", reserved, r.code, r.stderr)
		}
	}
	if r := run(t, s, "", "user", "set-claims", "--email", "a@example.com", "no-equals-sign"); r.code != 2 {
		t.Errorf("malformed pair: exit %d", r.code)
	}
	// Refusals changed nothing; no pairs clears.
	claims = hasuraClaims(t, login(t, env, "a@example.com", "correct horse").AccessToken)
	if claims["x-hasura-org-id"] != "7" {
		t.Fatalf("claims after refusals: %v", claims)
	}
	mustRun(t, s, "", "user", "set-claims", "--email", "a@example.com")
	if claims := hasuraClaims(t, login(t, env, "a@example.com", "correct horse").AccessToken); claims["x-hasura-org-id"] != nil {
		t.Fatalf("claims not cleared: %v", claims)
	}
}

func TestUserBanAndUnban(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	s := baseSettings(env)
	out := mustRun(t, s, "", "user", "ban", "--email", "a@example.com", "--until", "2100-01-02T03:04:05.678Z", "--reason", "spam")
	if !strings.Contains(out, "until 2100-01-02T03:04:05.678Z") || !strings.Contains(out, "1 session(s) ended") {
		t.Fatalf("stdout %q", out)
	}
	_, err := env.Service.Login(context.Background(), "a@example.com", "correct horse", nil)
	wantCode(t, err, auth.CodeUserDisabled)
	_, err = env.Service.Refresh(context.Background(), p.RefreshToken)
	wantCode(t, err, auth.CodeUserDisabled)

	mustRun(t, s, "", "user", "unban", "--email", "a@example.com")
	login(t, env, "a@example.com", "correct horse")
	_, err = env.Service.Refresh(context.Background(), p.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken) // tokens from before the ban stay dead

	for _, args := range [][]string{
		{"user", "ban", "--email", "a@example.com", "--until", "tomorrow"},
		{"user", "ban", "--email", "a@example.com"},
	} {
		if r := run(t, s, "", args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
	}
	if r := run(t, s, "", "user", "ban", "--email", "a@example.com", "--until", "2001-01-01T00:00:00Z"); r.code != 1 {
		t.Errorf("a ban ending in the past: exit %d, want 1", r.code)
	}
	if r := run(t, s, "", "user", "ban", "--email", "nobody@example.com", "--until", "2100-01-01T00:00:00Z"); r.code != 1 || !strings.Contains(r.stderr, "NOT_FOUND") {
		t.Errorf("unknown user: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestTokenRevokeReachesRunningInstances(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.StartFeed(t)
	p := env.Signup(t, "a@example.com", "correct horse")
	sibling, err := env.Service.Refresh(context.Background(), p.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	v, err := env.Service.Authenticate(context.Background(), p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, baseSettings(env), "", "token", "revoke", "--jti", v.ID, "--expires-at", v.ExpiresAt.Format(time.RFC3339))
	deadline := time.After(time.Second)
	for {
		changed := env.Revocations.Changed()
		if _, err := env.Service.Authenticate(context.Background(), p.AccessToken); err != nil {
			break
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("the running instance still accepts the token after a second")
		}
	}
	if _, err := env.Service.Authenticate(context.Background(), sibling.AccessToken); err != nil {
		t.Fatalf("the sibling token was refused: %v", err)
	}
	if r := run(t, baseSettings(env), "", "token", "revoke", "--jti", v.ID, "--expires-at", "soon"); r.code != 2 {
		t.Errorf("bad --expires-at: exit %d", r.code)
	}
}

func TestPurgeRunsOnce(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	db := env.Store.DB()
	// The CLI runs on the real clock: one denylist row long expired, one
	// still live.
	if _, err := db.Exec(`INSERT INTO auth.revoked_access_tokens (jti, expires_at, revoked_at)
		VALUES ('gone', now() - interval '1 hour', now() - interval '2 hours'),
		       ('kept', now() + interval '1 hour', now())`); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, baseSettings(env), "", "purge")
	if !strings.HasPrefix(out, "purged ") || !strings.Contains(out, " 1 denylisted access token(s)") {
		t.Fatalf("stdout %q", out)
	}
	var left []string
	if err := db.Select(&left, `SELECT jti FROM auth.revoked_access_tokens`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != "kept" {
		t.Fatalf("denylist after purge = %v, want only the live row", left)
	}
}

func TestKeysGenerateAndHasuraConfig(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env)
	for _, typ := range []string{"Ed25519", "RS256", "ES256"} {
		pem := mustRun(t, s, "", "keys", "generate", "--type", typ)
		if !strings.HasPrefix(pem, "-----BEGIN PRIVATE KEY-----") {
			t.Fatalf("%s: not a PKCS#8 PEM: %q", typ, pem)
		}
	}
	pem := mustRun(t, s, "", "keys", "generate", "--type", "Ed25519")
	keysOnly := s.with("HASURA_GRAPHQL_JWT_SECRET", "",
		"AUTHGATE_JWT_PRIVATE_KEYS", pem, "AUTHGATE_REFRESH_TOKEN_SECRET", strings.Repeat("r", 32))
	if r := run(t, keysOnly, "", "hasura-config"); r.code != 1 || !strings.Contains(r.stderr, "AUTHGATE_PUBLIC_URL") {
		t.Fatalf("without a public URL or jwk_url: exit %d, stderr %q", r.code, r.stderr)
	}
	var got map[string]any
	out := mustRun(t, keysOnly.with("AUTHGATE_PUBLIC_URL", "https://auth.example.com/"), "", "hasura-config")
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("hasura-config printed %q: %v", out, err)
	}
	if got["jwk_url"] != "https://auth.example.com/.well-known/jwks.json" {
		t.Fatalf("hasura-config = %v", got)
	}
	// A jwk_url in the config is what Hasura is told already: printed back,
	// with no AUTHGATE_PUBLIC_URL needed.
	withJWKURL := keysOnly.with("HASURA_GRAPHQL_JWT_SECRET",
		`{"jwk_url":"https://keys.example.com/jwks.json","issuer":"https://auth.example.com","audience":["app"]}`)
	out = mustRun(t, withJWKURL, "", "hasura-config")
	got = nil
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("hasura-config printed %q: %v", out, err)
	}
	if got["jwk_url"] != "https://keys.example.com/jwks.json" || got["issuer"] != "https://auth.example.com" {
		t.Fatalf("hasura-config with a jwk_url = %v", got)
	}
	out = mustRun(t, s, "", "hasura-config")
	if err := json.Unmarshal([]byte(out), &got); err != nil || got["type"] != "HS256" || got["key"] == nil {
		t.Fatalf("HS hasura-config = %q, %v", out, err)
	}
	if r := run(t, s, "", "keys", "generate"); r.code != 2 {
		t.Errorf("missing --type: exit %d", r.code)
	}
	if r := run(t, s, "", "keys", "generate", "--type", "DSA"); r.code != 1 {
		t.Errorf("unknown type: exit %d", r.code)
	}
}
