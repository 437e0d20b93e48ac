package auth_test

import (
	"strings"
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/password"
)

// tableRows counts the rows of an auth table.
func tableRows(t *testing.T, env *authtest.Env, table string) int {
	t.Helper()
	var n int
	if err := env.Store.DB().Get(&n, `SELECT count(*) FROM auth.`+table); err != nil {
		t.Fatal(err)
	}
	return n
}

// The silent oracle: an input the database cannot store (a NUL byte in the
// description) used to pass the checks, be hashed, and fail only when the
// session was written, so a correct password answered BAD_USER_INPUT (with
// no audit row and no throttle reset) and a wrong one INVALID_CREDENTIALS.
// Every input is now checked before any hashing or throttle work: both
// answer BAD_USER_INPUT, having done nothing.
func TestUnstorableInputIsRefusedBeforeThePasswordCheck(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	nul := "laptop\x00"
	ctx := from("192.0.2.10")
	hashes := env.Hasher.Hashes()
	audit, throttle, sessions := tableRows(t, env, "audit_events"), tableRows(t, env, "login_throttle"), tableRows(t, env, "sessions")
	for _, tc := range []struct {
		name, identifier, password string
		description                *string
	}{
		{"NUL in the description, correct password", "a@example.com", "correct horse", &nul},
		{"NUL in the description, wrong password", "a@example.com", "wrong horse", &nul},
		{"NUL in the description, unknown account", "b@example.com", "wrong horse", &nul},
		{"NUL in the identifier", "a@example.com\x00", "correct horse", nil},
		{"NUL inside the identifier", "a\x00@example.com", "correct horse", nil},
		{"identifier that is not UTF-8", "a\xff@example.com", "correct horse", nil},
		{"description that is not UTF-8", "a@example.com", "correct horse", ptr("laptop\xff")},
		{"description too long", "a@example.com", "correct horse", ptr(strings.Repeat("d", 201))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Service.Login(ctx, tc.identifier, tc.password, tc.description)
			wantCode(t, err, auth.CodeBadUserInput)
		})
	}
	if got := env.Hasher.Hashes(); got != hashes {
		t.Errorf("%d hashes computed for refused inputs, want none", got-hashes)
	}
	if a, th, s := tableRows(t, env, "audit_events"), tableRows(t, env, "login_throttle"), tableRows(t, env, "sessions"); a != audit || th != throttle || s != sessions {
		t.Errorf("refused inputs wrote rows: audit %d→%d, throttle %d→%d, sessions %d→%d", audit, a, throttle, th, sessions, s)
	}
	// The same refusal for sign-up, before hashing.
	_, err := env.Service.Signup(ctx, "new@example.com", "correct horse", &nul)
	wantCode(t, err, auth.CodeBadUserInput)
	if got := env.Hasher.Hashes(); got != hashes {
		t.Errorf("sign-up hashed a password before refusing its description")
	}
}

// Whatever passes the checks can be stored: a correct password with an
// odd but valid description, identifier or user agent signs in.
func TestACorrectPasswordIsNeverTurnedIntoBadInputAfterwards(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	for _, d := range []string{
		"", " ", "\t\n", "é", "e\u0301", "\u202etxt.exe", "\uffff\ufffe", "🔑" + strings.Repeat("x", 196), strings.Repeat("d", 200),
		`'); DROP TABLE auth.users; --`, `{"json": true}`, "\\u0000", "\x01\x7f",
	} {
		d := d
		ctx := auth.WithClient(bg, auth.Client{IP: "192.0.2.11", UserAgent: "agent\x00/\xff" + d})
		if _, err := env.Service.Login(ctx, " A@EXAMPLE.com ", "correct horse", &d); err != nil {
			t.Errorf("description %q: %v", d, err)
		}
	}
}

func ptr(s string) *string { return &s }

// Every request's password hashes are attributed to its client address, as
// the throttle counts it, so the hasher can share its slots fairly.
func TestHashesAreAttributedToTheClientAddress(t *testing.T) {
	for ip, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::ffff":   "2001:db8:1:2::/64",
		"":                     "",
	} {
		if got := password.ClientOf(auth.WithClient(bg, auth.Client{IP: ip})); got != want {
			t.Errorf("%q hashes as client %q, want %q", ip, got, want)
		}
	}
}
