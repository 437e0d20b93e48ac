package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"authgate/internal/admin"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/mfa"
)

// enableTOTP turns TOTP on for p's user and returns its secret; the clock
// ends on a fresh step.
func enableTOTP(t *testing.T, env *authtest.Env, p *auth.AuthPayload) string {
	t.Helper()
	e, err := env.Service.EnrollTOTP(authtest.As(p))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Service.ConfirmTOTP(authtest.As(p), totp(t, env, e.Secret)); err != nil {
		t.Fatal(err)
	}
	now := env.Clock.Now()
	env.Clock.Set(time.Unix((mfa.TOTPStep(now)+1)*mfa.TOTPPeriod, 0).UTC())
	return e.Secret
}

func totp(t *testing.T, env *authtest.Env, secret string) string {
	t.Helper()
	code, err := mfa.TOTPCode(secret, mfa.TOTPStep(env.Clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// An administrator with TOTP signs in to the console in two steps; a
// wrong code lets it try again. The API shows a user's second factors.
func TestConsoleSignInWithASecondFactor(t *testing.T) {
	b := newBrowser(t)
	root := b.addUser(t, "root@example.com", "admin")
	secret := enableTOTP(t, b.env, root)

	step := b.signIn(t, "root@example.com")
	if step.Status != http.StatusOK || !strings.Contains(step.Body, `action="/admin/signin/mfa"`) {
		t.Fatalf("first step: %d %s", step.Status, step.Body)
	}
	ticket := regexpValue(t, step.Body, "ticket")
	csrf := csrfOf(t, step)
	wrong := b.post(t, "/admin/signin/mfa", url.Values{"csrf": {csrf}, "ticket": {ticket}, "code": {"000000"}})
	if wrong.Status != http.StatusUnauthorized || !strings.Contains(wrong.Body, "not right") {
		t.Fatalf("a wrong code: %d", wrong.Status)
	}
	for _, c := range b.client.Jar.Cookies(&url.URL{Scheme: "https", Host: strings.TrimPrefix(b.base, "https://"), Path: "/admin"}) {
		if c.Name == "authgate_admin" {
			t.Fatal("the first step alone signed in")
		}
	}
	done := b.post(t, "/admin/signin/mfa", url.Values{"csrf": {csrf}, "ticket": {ticket}, "code": {totp(t, b.env, secret)}})
	if done.URL != "/admin?" || !strings.Contains(done.Body, "Dashboard") {
		t.Fatalf("second step: %d %s", done.Status, done.URL)
	}
	var level int
	if err := b.env.Store.DB().Get(&level, `SELECT auth_level FROM auth.sessions WHERE user_id = $1 AND description = 'admin console' AND revoked_at IS NULL`, root.User.ID); err != nil || level != 2 {
		t.Fatalf("the console's session is level %d (%v), want 2", level, err)
	}

	s := serve(t, b.env, admin.Access{Secret: adminSecret})
	var u struct {
		User struct {
			TotpEnabled bool
			Passkeys    []struct{ ID string }
		}
	}
	s.call(t, asSecret, `{ user(email: "root@example.com") { totpEnabled passkeys { id } } }`, nil).decode(t, &u)
	if !u.User.TotpEnabled || len(u.User.Passkeys) != 0 {
		t.Fatalf("factors: %+v", u.User)
	}
}

func regexpValue(t *testing.T, body, name string) string {
	t.Helper()
	i := strings.Index(body, `name="`+name+`" value="`)
	if i < 0 {
		t.Fatalf("no %s field", name)
	}
	rest := body[i+len(`name="`+name+`" value="`):]
	return rest[:strings.Index(rest, `"`)]
}
