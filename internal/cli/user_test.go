package cli_test

import (
	"context"
	"database/sql"
	"regexp"
	"slices"
	"strings"
	"testing"

	_ "github.com/lib/pq"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

var uuidLine = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$`)

const pw = "correct horse battery"

// TestUserAddCreatesAUserWhoCanSignIn adds users from the command line and
// signs them in through the service over the same database.
func TestUserAddCreatesAUserWhoCanSignIn(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env)

	out := mustRun(t, s, pw+"\n", "user", "add", "--email", " Vera@Example.com ", "--password-stdin")
	if !uuidLine.MatchString(out) {
		t.Fatalf("user add printed %q, want the user's id on one line", out)
	}
	p := login(t, env, "vera@example.com", pw)
	if p.User.ID != strings.TrimSpace(out) {
		t.Errorf("signed in as %s, want the printed id %s", p.User.ID, out)
	}
	if p.User.DefaultRole != "user" || !slices.Equal(p.User.AllowedRoles, []string{"user"}) {
		t.Errorf("roles = %s %v, want user [user]", p.User.DefaultRole, p.User.AllowedRoles)
	}

	mustRun(t, s, pw, "user", "add", "--email", "walt@example.com", "--password-stdin", "--default-role", "editor", "--allowed-roles", "user, editor")
	claims := hasuraClaims(t, login(t, env, "walt@example.com", pw).AccessToken)
	if claims["x-hasura-default-role"] != "editor" || !sameRoles(claims["x-hasura-allowed-roles"], "editor", "user") {
		t.Errorf("access token claims %v, want default editor, allowed editor and user", claims)
	}
}

// sameRoles reports whether a decoded JSON list holds exactly these roles.
func sameRoles(v any, want ...string) bool {
	list, _ := v.([]any)
	var got []string
	for _, r := range list {
		s, _ := r.(string)
		got = append(got, s)
	}
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

// TestUserAddRefusals checks the exit code and the one line on stderr of
// each refused user add.
func TestUserAddRefusals(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env)
	env.Signup(t, "xena@example.com", pw)

	cases := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		want     string // in stderr
	}{
		{"duplicate email", pw, []string{"--email", "XENA@example.com", "--password-stdin"}, 1, "EMAIL_TAKEN"},
		{"weak password", "short", []string{"--email", "yuri@example.com", "--password-stdin"}, 1, "WEAK_PASSWORD"},
		{"bad email", pw, []string{"--email", "yuri", "--password-stdin"}, 1, "BAD_USER_INPUT"},
		{"bad role", pw, []string{"--email", "yuri@example.com", "--password-stdin", "--default-role", "ad min"}, 1, "BAD_USER_INPUT"},
		{"no password on stdin", "", []string{"--email", "yuri@example.com", "--password-stdin"}, 1, "password"},
		{"missing --password-stdin", pw, []string{"--email", "yuri@example.com"}, 2, "--password-stdin"},
		{"missing --email", pw, []string{"--password-stdin"}, 2, "--email"},
		{"password as an argument", pw, []string{"--email", "yuri@example.com", "--password", pw}, 2, "usage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, s, tc.stdin, append([]string{"user", "add"}, tc.args...)...)
			if r.code != tc.wantCode || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", r.code, r.stderr, tc.wantCode, tc.want)
			}
			if tc.wantCode == 1 && strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
	if _, err := env.Service.Login(context.Background(), "yuri@example.com", pw, nil); auth.CodeOf(err) != auth.CodeInvalidCredentials {
		t.Errorf("a refused user add created a user (login: %v)", err)
	}
}

// TestUserDisableAndEnable disables a signed-in user: sign-in and its
// refresh tokens stop working; enable lets it sign in again.
func TestUserDisableAndEnable(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env)
	ctx := context.Background()
	before := env.Signup(t, "zoe@example.com", pw)

	if out := mustRun(t, s, "", "user", "disable", "--email", "Zoe@example.com"); !strings.Contains(out, "zoe@example.com") {
		t.Errorf("disable printed %q", out)
	}
	_, err := env.Service.Login(ctx, "zoe@example.com", pw, nil)
	wantCode(t, err, auth.CodeUserDisabled)
	_, err = env.Service.Refresh(ctx, before.RefreshToken)
	if code := auth.CodeOf(err); code != auth.CodeUserDisabled && code != auth.CodeInvalidRefreshToken {
		t.Fatalf("refresh after disable: %v, want USER_DISABLED or INVALID_REFRESH_TOKEN", err)
	}

	mustRun(t, s, "", "user", "enable", "--email", "zoe@example.com")
	after := login(t, env, "zoe@example.com", pw)
	if _, err := env.Service.Refresh(ctx, after.RefreshToken); err != nil {
		t.Errorf("refresh of a session opened after enable: %v", err)
	}
	// Disabling ended the old sessions for good.
	_, err = env.Service.Refresh(ctx, before.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)

	for _, sub := range []string{"disable", "enable", "revoke-sessions"} {
		r := run(t, s, "", "user", sub, "--email", "nobody@example.com")
		if r.code != 1 || !strings.Contains(r.stderr, "NOT_FOUND") {
			t.Errorf("user %s of an unknown email: exit %d, stderr %q; want 1 with NOT_FOUND", sub, r.code, r.stderr)
		}
	}
}

// TestUserSetRolesReachTheNextRefresh changes roles from the command line
// and reads them in the next refreshed access token.
func TestUserSetRolesReachTheNextRefresh(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env)
	p := env.Signup(t, "abe@example.com", pw)
	if claims := hasuraClaims(t, p.AccessToken); claims["x-hasura-default-role"] != "user" {
		t.Fatalf("claims before = %v", claims)
	}

	mustRun(t, s, "", "user", "set-roles", "--email", "abe@example.com", "--default-role", "editor", "--allowed-roles", "user,editor,viewer")
	next, err := env.Service.Refresh(context.Background(), p.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	claims := hasuraClaims(t, next.AccessToken)
	if claims["x-hasura-default-role"] != "editor" || !sameRoles(claims["x-hasura-allowed-roles"], "editor", "user", "viewer") {
		t.Errorf("claims after set-roles = %v, want default editor, allowed editor user viewer", claims)
	}
	if next.User.DefaultRole != "editor" {
		t.Errorf("payload user default role = %s, want editor", next.User.DefaultRole)
	}

	r := run(t, s, "", "user", "set-roles", "--email", "abe@example.com", "--allowed-roles", "user")
	if r.code != 2 || !strings.Contains(r.stderr, "--default-role") {
		t.Errorf("set-roles without --default-role: exit %d, stderr %q; want 2", r.code, r.stderr)
	}
}

// TestUserRevokeSessionsPrintsTheCountAndEndsThem ends every session of a
// user from the command line.
func TestUserRevokeSessionsPrintsTheCountAndEndsThem(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env)
	first := env.Signup(t, "bea@example.com", pw)
	second := login(t, env, "bea@example.com", pw)
	other := env.Signup(t, "cy@example.com", pw)

	if out := mustRun(t, s, "", "user", "revoke-sessions", "--email", "bea@example.com"); out != "2\n" {
		t.Errorf("revoke-sessions printed %q, want 2", out)
	}
	for _, p := range []*auth.AuthPayload{first, second} {
		_, err := env.Service.Refresh(context.Background(), p.RefreshToken)
		wantCode(t, err, auth.CodeInvalidRefreshToken)
	}
	if _, err := env.Service.Refresh(context.Background(), other.RefreshToken); err != nil {
		t.Errorf("another user's session died too: %v", err)
	}
	if out := mustRun(t, s, "", "user", "revoke-sessions", "--email", "bea@example.com"); out != "0\n" {
		t.Errorf("second revoke-sessions printed %q, want 0", out)
	}
}

// TestMigrateTwice migrates an empty database, then again: the second run
// applies nothing and succeeds.
func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	db, err := sql.Open("postgres", env.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DROP SCHEMA auth CASCADE`); err != nil {
		t.Fatal(err)
	}
	s := baseSettings(env)

	first := mustRun(t, s, "", "migrate")
	if first == "applied 0 migration(s)\n" || !strings.HasPrefix(first, "applied ") {
		t.Errorf("first migrate printed %q, want some migrations applied", first)
	}
	if second := mustRun(t, s, "", "migrate"); second != "applied 0 migration(s)\n" {
		t.Errorf("second migrate printed %q, want 0 applied", second)
	}
	mustRun(t, s, pw, "user", "add", "--email", "dee@example.com", "--password-stdin")
}

// TestCommandLineRefusals checks exit codes and messages of commands that
// cannot run.
func TestCommandLineRefusals(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env)

	cases := []struct {
		name     string
		settings settings
		stdin    string
		args     []string
		wantCode int
		wantLine string // the one line on stderr starts with it
	}{
		{"serve without a JWT key", s.with("HASURA_GRAPHQL_JWT_SECRET", ""), "", []string{"serve"}, 1, "authgate: HASURA_GRAPHQL_JWT_SECRET"},
		{"default command without a JWT key", s.with("HASURA_GRAPHQL_JWT_SECRET", ""), "", nil, 1, "authgate: HASURA_GRAPHQL_JWT_SECRET"},
		{"serve with a bad duration", s.with("AUTHGATE_REFRESH_TOKEN_TTL", "abc"), "", []string{"serve"}, 1, "authgate: AUTHGATE_REFRESH_TOKEN_TTL"},
		{"user add with a bad duration", s.with("AUTHGATE_REFRESH_TOKEN_TTL", "abc"), pw, []string{"user", "add", "--email", "e@example.com", "--password-stdin"}, 1, "authgate: AUTHGATE_REFRESH_TOKEN_TTL"},
		{"serve with a short JWT key", s.with("HASURA_GRAPHQL_JWT_SECRET", `{"type":"HS256","key":"short"}`), "", []string{"serve"}, 1, "authgate: HASURA_GRAPHQL_JWT_SECRET"},
		{"serve without a refresh-token key", s.with("AUTHGATE_REFRESH_TOKEN_SECRET", ""), "", []string{"serve"}, 1, "authgate: AUTHGATE_REFRESH_TOKEN_SECRET is not set"},
		{"serve with a short refresh-token key", s.with("AUTHGATE_REFRESH_TOKEN_SECRET", "short"), "", []string{"serve"}, 1, "authgate: AUTHGATE_REFRESH_TOKEN_SECRET"},
		{"serve with a short previous refresh-token key", s.with("AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS", authtest.RefreshSecret+",short"), "", []string{"serve"}, 1, "authgate: AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS"},
		{"serve with a bad address", s.with("AUTHGATE_ADDR", "nowhere"), "", []string{"serve"}, 1, "authgate: AUTHGATE_ADDR"},
		{"serve with a bad boolean", s.with("AUTHGATE_SIGNUP_ENABLED", "perhaps"), "", []string{"serve"}, 1, "authgate: AUTHGATE_SIGNUP_ENABLED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.settings, tc.stdin, tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tc.wantCode, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, tc.wantLine) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting with %q", r.stderr, tc.wantLine)
			}
		})
	}

	// A usage error prints the one line that is wrong and where to look
	// (the command's synopsis when it names one), never the whole help.
	usage := []struct {
		name string
		args []string
		want []string // the two lines of stderr, as regular expressions
	}{
		{"unknown command", []string{"frobnicate"},
			[]string{`authgate: unknown command "frobnicate"`, `run authgate --help for every command`}},
		{"unknown user subcommand", []string{"user", "frobnicate"},
			[]string{`authgate: user: unknown subcommand "frobnicate"`, `run authgate --help for every command`}},
		{"user without subcommand", []string{"user"},
			[]string{`authgate: user: missing subcommand \(add, list, .*\)`, `run authgate --help for every command`}},
		{"unexpected argument", []string{"migrate", "now"},
			[]string{`authgate: migrate: unexpected argument "now"`, `usage: authgate migrate \(authgate --help for every command\)`}},
		{"unknown flag", []string{"user", "disable", "--email", "a@example.com", "--force"},
			[]string{`authgate: user disable: flag provided but not defined: -force`, `usage: authgate user disable --email E \(authgate --help for every command\)`}},
		{"bad --until", []string{"user", "ban", "--email", "a@example.com", "--until", "soon"},
			[]string{`authgate: user ban: --until must be a duration \(24h\), a date \(2030-01-01\) or an RFC 3339 instant .*, got "soon"`,
				`usage: authgate user ban --email E --until T \[--reason R\] \(authgate --help for every command\)`}},
	}
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, s, "", tc.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (usage)", r.code)
			}
			wantLines(t, r.stderr, tc.want)
		})
	}
	if r := run(t, s, "", "user", "ban", "--help"); r.code != 0 || !strings.Contains(r.stdout, "user ban --email E --until T") {
		t.Errorf("user ban --help: exit %d, stdout %q; want 0 and the help", r.code, r.stdout)
	}
	if r := run(t, s, "", "help"); r.code != 0 || !strings.Contains(r.stdout, "user add") {
		t.Errorf("help: exit %d, stdout %q", r.code, r.stdout)
	}
}

// The CLI's user commands find an account by any form of its address (NFC
// or NFD, upper case, a Unicode or punycode domain), and name it in its
// normal form; an address the normal form refuses is one line, before any
// database work.
func TestUserCommandsNormaliseTheAddress(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env)
	const nfd, nfc = "Jo\u0308rg@B\u00fccher.example", "j\u00f6rg@xn--bcher-kva.example"
	mustRun(t, s, pw+"\n", "user", "add", "--email", nfd, "--password-stdin")
	login(t, env, "J\u00d6RG@bu\u0308cher.EXAMPLE", pw)
	if out := mustRun(t, s, "", "user", "disable", "--email", nfc); out != "disabled "+nfc+"\n" {
		t.Fatalf("user disable printed %q", out)
	}
	if out := mustRun(t, s, "", "user", "enable", "--email", "jo\u0308rg@xn--bcher-kva.example"); out != "enabled "+nfc+"\n" {
		t.Fatalf("user enable printed %q", out)
	}
	r := run(t, s, pw+"\n", "user", "add", "--email", nfc, "--password-stdin")
	if r.code != 1 || !strings.Contains(r.stderr, "EMAIL_TAKEN") {
		t.Fatalf("adding the NFC form again: exit %d, %q", r.code, r.stderr)
	}
	r = run(t, s.with("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none?sslmode=disable"), "", "user", "disable", "--email", "p\u0430ypal@example.com")
	if r.code != 1 || !strings.Contains(r.stderr, "BAD_USER_INPUT") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("a mixed-script address: exit %d, %q", r.code, r.stderr)
	}
}

// TestUserDeleteEndsItsSessionsAndKeepsItsTrail deletes a user from the
// command line, as the admin API's deleteUser does: its sessions end, its
// audit trail stays (by the email it had), and a second delete is
// NOT_FOUND.
func TestUserDeleteEndsItsSessionsAndKeepsItsTrail(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env)
	first := env.Signup(t, "dee@example.com", pw)
	login(t, env, "dee@example.com", pw)

	if out := mustRun(t, s, "", "user", "delete", "--email", "Dee@example.com"); out != "deleted dee@example.com; 2 session(s) ended\n" {
		t.Errorf("delete printed %q", out)
	}
	_, err := env.Service.Refresh(context.Background(), first.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
	trail := mustRun(t, s, "", "audit", "--email", "dee@example.com")
	if !strings.Contains(trail, "signup") || !strings.Contains(trail, "user_deleted") {
		t.Errorf("the deleted user's trail:\n%s", trail)
	}
	var actor string
	if err := env.Store.DB().Get(&actor, `SELECT actor FROM auth.audit_events WHERE event = 'user_deleted'`); err != nil || actor != "cli" {
		t.Errorf("user_deleted actor %q (%v), want cli", actor, err)
	}
	if r := run(t, s, "", "user", "delete", "--email", "dee@example.com"); r.code != 1 || !strings.Contains(r.stderr, "NOT_FOUND") {
		t.Errorf("second delete: exit %d, stderr %q", r.code, r.stderr)
	}
}
