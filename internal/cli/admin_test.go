package cli_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/config"
)

// TestUserBanUntilTakesADurationOrADate checks the forms --until takes
// besides RFC 3339: a duration from now and a date (its first instant, UTC).
func TestUserBanUntilTakesADurationOrADate(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "bo@example.com", pw)
	s := baseSettings(env)
	until := regexp.MustCompile(`until (\S+);`)

	before := time.Now()
	out := mustRun(t, s, "", "user", "ban", "--email", "bo@example.com", "--until", "24h")
	m := until.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("stdout %q names no end", out)
	}
	end, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil || end.Before(before.Add(24*time.Hour)) || end.After(time.Now().Add(24*time.Hour)) {
		t.Errorf("--until 24h banned until %s (%v), want 24 hours from now", m[1], err)
	}

	out = mustRun(t, s, "", "user", "ban", "--email", "bo@example.com", "--until", "2100-01-02")
	if !strings.Contains(out, "until 2100-01-02T00:00:00Z;") {
		t.Errorf("--until 2100-01-02: stdout %q, want the start of that day in UTC", out)
	}
	for _, bad := range []string{"-1h", "0s", "2100-13-01", "next week"} {
		if r := run(t, s, "", "user", "ban", "--email", "bo@example.com", "--until", bad); r.code != 2 {
			t.Errorf("--until %q: exit %d, want 2 (usage): %s", bad, r.code, r.stderr)
		}
	}
}

// TestNotFoundNamesTheMissingUser checks that every command that looks a
// user up by email says which user it did not find.
func TestNotFoundNamesTheMissingUser(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env)
	for _, args := range [][]string{
		{"user", "disable", "--email", "Nobody@Example.com"},
		{"user", "enable", "--email", "nobody@example.com"},
		{"user", "set-roles", "--email", "nobody@example.com", "--default-role", "user"},
		{"user", "set-claims", "--email", "nobody@example.com", "x-hasura-org-id=1"},
		{"user", "ban", "--email", "nobody@example.com", "--until", "24h"},
		{"user", "unban", "--email", "nobody@example.com"},
		{"user", "revoke-sessions", "--email", "nobody@example.com"},
		{"user", "set-password", "--email", "nobody@example.com", "--password-stdin"},
	} {
		r := run(t, s, "a new password\n", args...)
		if want := "authgate: no user with the email nobody@example.com (NOT_FOUND)\n"; r.code != 1 || r.stderr != want {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", args, r.code, r.stderr, want)
		}
	}
}

// TestKeysGenerateHSPrintsHasurasJSON checks that an HS* secret is printed
// as the whole HASURA_GRAPHQL_JWT_SECRET value, long enough for its
// algorithm, fresh each time, and accepted as it is.
func TestKeysGenerateHSPrintsHasurasJSON(t *testing.T) {
	t.Parallel()
	for typ, minKey := range map[string]int{"HS256": 32, "HS384": 48, "HS512": 64} {
		out := mustRun(t, settings{}, "", "keys", "generate", "--type", typ)
		if !strings.HasSuffix(out, "}\n") || strings.Count(out, "\n") != 1 {
			t.Errorf("%s: output %q, want one line of JSON", typ, out)
		}
		var secret struct{ Type, Key string }
		if err := json.Unmarshal([]byte(out), &secret); err != nil || secret.Type != typ || len(secret.Key) < minKey {
			t.Errorf("%s: %q (%v), want {\"type\":%q,\"key\":<at least %d bytes>}", typ, out, err, typ, minKey)
		}
		cfg, err := config.Load(settings{"HASURA_GRAPHQL_JWT_SECRET": strings.TrimSpace(out)}.getenv)
		if err != nil || cfg.JWT == nil || cfg.JWT.Algorithm() != typ {
			t.Errorf("%s: the printed secret is not accepted as HASURA_GRAPHQL_JWT_SECRET: %v", typ, err)
		}
		if again := mustRun(t, settings{}, "", "keys", "generate", "--type", typ); again == out {
			t.Errorf("%s: two runs printed the same secret", typ)
		}
	}
}

// TestUserListShowsUsersBySearch checks user list: a header, one line per
// user by email with roles and status, and --search matching a part of the
// email literally (LIKE's wildcards are plain characters).
func TestUserListShowsUsersBySearch(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env)
	for _, email := range []string{"carla@example.com", "bob_1@example.org", "bobby@example.com", "dan@example.com"} {
		env.Signup(t, email, pw)
	}
	mustRun(t, s, "", "user", "disable", "--email", "dan@example.com")
	mustRun(t, s, "", "user", "ban", "--email", "carla@example.com", "--until", "2100-01-01")

	id := `[0-9a-f-]{36}`
	created := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`
	wantLines(t, mustRun(t, s, "", "user", "list"), []string{
		`ID +EMAIL +ROLES +STATUS +CREATED`,
		id + ` +bob_1@example\.org +user +active +` + created,
		id + ` +bobby@example\.com +user +active +` + created,
		id + ` +carla@example\.com +user +banned until 2100-01-01T00:00:00Z +` + created,
		id + ` +dan@example\.com +user +disabled +` + created,
	})
	wantLines(t, mustRun(t, s, "", "user", "list", "--search", "BOB"), []string{
		`ID +EMAIL +ROLES +STATUS +CREATED`,
		id + ` +bob_1@example\.org .*`,
		id + ` +bobby@example\.com .*`,
	})
	wantLines(t, mustRun(t, s, "", "user", "list", "--search", "b_"), []string{
		`ID +EMAIL +ROLES +STATUS +CREATED`,
		id + ` +bob_1@example\.org .*`,
	})
	r := run(t, s, "", "user", "list", "--search", "%")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stderr, `no user's email contains "%"`) {
		t.Errorf("--search %%: exit %d, stdout %q, stderr %q; want the header alone and a note", r.code, r.stdout, r.stderr)
	}
}

// TestUserSetPasswordReplacesItAndEndsSessions checks that an
// administrator's new password works, the old one does not, every session
// (and so every refresh token) ends, and the audit trail says who did it.
func TestUserSetPasswordReplacesItAndEndsSessions(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env)
	p := env.Signup(t, "fay@example.com", pw)
	const newPW = "a brand new password"

	out := mustRun(t, s, newPW+"\n", "user", "set-password", "--email", "FAY@example.com", "--password-stdin")
	if out != "password set for fay@example.com; 1 session(s) ended\n" {
		t.Errorf("stdout %q", out)
	}
	ctx := context.Background()
	_, err := env.Service.Login(ctx, "fay@example.com", pw, nil)
	wantCode(t, err, auth.CodeInvalidCredentials)
	login(t, env, "fay@example.com", newPW)
	_, err = env.Service.Refresh(ctx, p.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
	trail := mustRun(t, s, "", "audit", "--email", "fay@example.com")
	if !regexp.MustCompile(`password_changed .*"by":"administrator"`).MatchString(trail) {
		t.Errorf("audit trail has no administrator's password_changed:\n%s", trail)
	}

	if r := run(t, s, "short\n", "user", "set-password", "--email", "fay@example.com", "--password-stdin"); r.code != 1 || !strings.Contains(r.stderr, "WEAK_PASSWORD") {
		t.Errorf("weak password: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run(t, s, newPW, "user", "set-password", "--email", "fay@example.com"); r.code != 2 || !strings.Contains(r.stderr, "--password-stdin") {
		t.Errorf("without --password-stdin: exit %d, stderr %q", r.code, r.stderr)
	}
	login(t, env, "fay@example.com", newPW) // the refusals changed nothing
}

// TestMigrateNeedsOnlyDatabaseURL checks that migrate runs with nothing but
// DATABASE_URL, whatever else is set or broken: a deployment migrates
// before the rest of its settings exist.
func TestMigrateNeedsOnlyDatabaseURL(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := settings{
		"DATABASE_URL":               env.DatabaseURL,
		"HASURA_GRAPHQL_JWT_SECRET":  `{"type":"HS256","key":"short"}`,
		"AUTHGATE_REFRESH_TOKEN_TTL": "abc",
	}
	if out := mustRun(t, s, "", "migrate"); out != "applied 0 migration(s)\n" {
		t.Errorf("migrate printed %q", out)
	}
}
