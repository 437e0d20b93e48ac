package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/cli"
	"authgate/internal/password"
)

// runCommand runs the authgate command line against env's database.
func runCommand(t *testing.T, env *authtest.Env, stdin io.Reader, settings map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(name string) string {
		if v, ok := settings[name]; ok {
			return v
		}
		if name == "DATABASE_URL" {
			return env.DatabaseURL
		}
		return ""
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code = cli.Run(context.Background(), args, cli.Env{Getenv: getenv, Stdin: stdin, Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

func bcryptOf(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestUserImportReportsEachLineAndGoesOnPastBadOnes(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	bc := bcryptOf(t, "correct horse")
	argon, err := password.New(authtest.CheapParams, 1, rand.Reader).Hash(context.Background(), "battery staple")
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{
		/* 1 */ fmt.Sprintf(`{"email":"Ann@Example.com","password_hash":%q,"default_role":"editor","allowed_roles":["user","editor"],"enabled":true}`, bc),
		/* 2 */ `{"email": "broken@example.com", "password_hash": "$2a$`,
		/* 3 */ fmt.Sprintf(`{"email":"not an email","password_hash":%q}`, bc),
		/* 4 */ `{"email":"md5@example.com","password_hash":"$1$abcdefgh$0123456789abcdefghijkl"}`,
		/* 5 */ fmt.Sprintf(`{"email":"roles@example.com","password_hash":%q,"default_role":"ad min"}`, bc),
		/* 6 */ fmt.Sprintf(`{"email":"ann@example.com","password_hash":%q}`, bc),
		/* 7 */ ``,
		/* 8 */ fmt.Sprintf(`{"email":"off@example.com","password_hash":%q,"enabled":false}`, argon),
		/* 9 */ `{"email":"plain@example.com","password":"correct horse"}`,
		/* 10 */ `{"email":"nohash@example.com"}`,
		/* 11 */ `{"email":"huge@example.com","password_hash":"` + strings.Repeat("x", 70<<10) + `"}`,
		/* 12 */ fmt.Sprintf(`{"email":"last@example.com","password_hash":%q}`, bc), // no newline after it
	}
	code, stdout, stderr := runCommand(t, env, strings.NewReader(strings.Join(lines, "\n")), nil, "user", "import")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (lines were rejected); stderr %s", code, stderr)
	}
	want := []string{
		`line 1: imported ann@example.com \(id [0-9a-f-]{36}\)`,
		`line 2: rejected: malformed JSON: .*`,
		`line 3: rejected: email must be .*\(BAD_USER_INPUT\)`,
		`line 4: rejected: password_hash: unknown hash format .*\(BAD_USER_INPUT\)`,
		`line 5: rejected: role "ad min" .*\(BAD_USER_INPUT\)`,
		`line 6: rejected: an account with this email already exists \(EMAIL_TAKEN\)`,
		`line 8: imported off@example.com \(id [0-9a-f-]{36}\)`,
		`line 9: rejected: malformed JSON: json: unknown field "password"`,
		`line 10: rejected: password_hash is required`,
		`line 11: rejected: longer than 65536 bytes`,
		`line 12: imported last@example.com \(id [0-9a-f-]{36}\)`,
		`imported 3 user\(s\), rejected 8 line\(s\)`,
	}
	wantLines(t, stdout, want)
	if strings.TrimSpace(stderr) != "authgate: user import: 8 line(s) rejected" {
		t.Errorf("stderr %q", stderr)
	}
	if strings.Contains(stdout, "correct horse") || strings.Contains(stdout, bc) {
		t.Error("the report repeats a password or a hash")
	}

	// The imported users sign in with their old passwords.
	p, err := env.Service.Login(context.Background(), "ann@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.User.DefaultRole != "editor" || strings.Join(p.User.AllowedRoles, ",") != "editor,user" {
		t.Fatalf("imported roles %s %v", p.User.DefaultRole, p.User.AllowedRoles)
	}
	_, err = env.Service.Login(context.Background(), "off@example.com", "battery staple", nil)
	if auth.CodeOf(err) != auth.CodeUserDisabled {
		t.Fatalf("disabled import: %v", err)
	}

	code, stdout, _ = runCommand(t, env, strings.NewReader(fmt.Sprintf(`{"email":"more@example.com","password_hash":%q}`+"\n", bc)), nil, "user", "import")
	if code != 0 || !strings.HasSuffix(stdout, "imported 1 user(s), rejected 0 line(s)\n") {
		t.Fatalf("a clean import: exit %d, %s", code, stdout)
	}
}
