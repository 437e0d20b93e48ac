package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

func TestSignupAndLogin(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "  Ann@Example.COM ", "correct horse")
	if p.User.Email != "ann@example.com" || p.User.DefaultRole != "user" || len(p.User.AllowedRoles) != 1 {
		t.Fatalf("signup user = %+v", p.User)
	}
	v, err := env.Issuer.Verify(p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if v.UserID != p.User.ID || v.SessionID != p.SessionID || !v.AuthTime.Equal(authtest.Start.Truncate(time.Second)) {
		t.Fatalf("access token claims = %+v", v)
	}
	if !p.AccessTokenExpiresAt.Equal(v.ExpiresAt) || v.ExpiresAt.Sub(v.IssuedAt) != 15*time.Minute {
		t.Fatalf("access token lifetime: iat %v exp %v payload %v", v.IssuedAt, v.ExpiresAt, p.AccessTokenExpiresAt)
	}
	for _, identifier := range []string{"ann@example.com", "ANN@EXAMPLE.COM", " ann@example.com\t"} {
		l, err := env.Service.Login(bg, identifier, "correct horse", nil)
		if err != nil {
			t.Fatalf("login as %q: %v", identifier, err)
		}
		if l.User.ID != p.User.ID || l.SessionID == p.SessionID {
			t.Fatalf("login as %q: user %s session %s", identifier, l.User.ID, l.SessionID)
		}
	}
}

func TestSignupRefusals(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "taken@example.com", "correct horse")
	for _, tc := range []struct {
		name, email, pw string
		code            auth.Code
	}{
		{"taken email, other case", "TAKEN@example.com", "correct horse", auth.CodeEmailTaken},
		{"seven characters", "new@example.com", "1234567", auth.CodeWeakPassword},
		{"over the maximum", "new@example.com", strings.Repeat("x", auth.MaxPasswordLength+1), auth.CodeWeakPassword},
		{"a megabyte", "new@example.com", strings.Repeat("x", 1<<20), auth.CodeWeakPassword},
		{"not an email", "nobody", "correct horse", auth.CodeBadUserInput},
		{"display-name form", "Ann <ann@example.com>", "correct horse", auth.CodeBadUserInput},
		{"empty email", "", "correct horse", auth.CodeBadUserInput},
		{"invalid UTF-8 password", "new@example.com", "abcdefgh\xff", auth.CodeWeakPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Service.Signup(bg, tc.email, tc.pw, nil)
			wantCode(t, err, tc.code)
		})
	}
	var users int
	if err := env.Store.DB().Get(&users, `SELECT count(*) FROM auth.users`); err != nil {
		t.Fatal(err)
	}
	if users != 1 {
		t.Fatalf("refused sign-ups wrote rows: %d users", users)
	}
}

func TestSignupCanBeSwitchedOff(t *testing.T) {
	cfg := authtest.DefaultConfig()
	cfg.SignupEnabled = false
	env := authtest.New(t, cfg)
	_, err := env.Service.Signup(bg, "a@example.com", "correct horse", nil)
	wantCode(t, err, auth.CodeForbidden)
	if _, err := env.Service.AddUser(bg, "a@example.com", "correct horse", "", nil); err != nil {
		t.Fatalf("an administrator can still add users: %v", err)
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	if err := env.Service.SetUserDisabled(bg, "b@example.com", true); auth.CodeOf(err) != auth.CodeNotFound {
		t.Fatalf("disabling an unknown user: %v", err)
	}
	if _, err := env.Service.AddUser(bg, "off@example.com", "correct horse", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := env.Service.SetUserDisabled(bg, "off@example.com", true); err != nil {
		t.Fatal(err)
	}
	var messages []string
	for _, tc := range []struct{ name, id, pw string }{
		{"unknown email", "nobody@example.com", "correct horse"},
		{"wrong password", "a@example.com", "wrong horse"},
		{"not an email at all", "nobody", "correct horse"},
		{"disabled user, wrong password", "off@example.com", "wrong horse"},
		{"a megabyte password", "a@example.com", strings.Repeat("x", 1<<20)},
	} {
		_, err := env.Service.Login(bg, tc.id, tc.pw, nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
		messages = append(messages, err.(*auth.Error).Message)
	}
	for _, m := range messages {
		if m != messages[0] {
			t.Fatalf("login failures read differently: %q", messages)
		}
	}
	// Only the right password reveals that the account is disabled.
	_, err := env.Service.Login(bg, "off@example.com", "correct horse", nil)
	wantCode(t, err, auth.CodeUserDisabled)
}

func TestSessionsListAndRevoke(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	desc := "Ann's phone"
	ctx := auth.WithClient(bg, auth.Client{IP: "203.0.113.7", UserAgent: "Phone/1.0"})
	first, err := env.Service.Signup(ctx, "a@example.com", "correct horse", &desc)
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Minute)
	second, err := env.Service.Login(bg, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	stranger := env.Signup(t, "b@example.com", "correct horse")

	sessions, err := env.Service.MySessions(authtest.As(second))
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 2 || sessions[0].ID != second.SessionID || sessions[1].ID != first.SessionID {
		t.Fatalf("sessions not newest first: %+v", sessions)
	}
	if !sessions[0].Current || sessions[1].Current {
		t.Fatal("current does not mark the caller's session")
	}
	s := sessions[1]
	if s.Description == nil || *s.Description != desc || s.IP == nil || *s.IP != "203.0.113.7" || s.UserAgent == nil || *s.UserAgent != "Phone/1.0" {
		t.Fatalf("session details not recorded: %+v", s)
	}
	if !s.CreatedAt.Equal(authtest.Start) || !s.LastActivityAt.Equal(authtest.Start) {
		t.Fatalf("session times: %+v", s)
	}

	// Another user's session is indistinguishable from a missing one.
	for _, id := range []string{stranger.SessionID, "00000000-0000-0000-0000-000000000000", "not-a-uuid"} {
		_, err = env.Service.RevokeSession(authtest.As(second), id)
		wantCode(t, err, auth.CodeNotFound)
	}
	mustRefresh(t, env, stranger.RefreshToken)

	if ok, err := env.Service.RevokeSession(authtest.As(second), first.SessionID); err != nil || !ok {
		t.Fatalf("revoking own session: %v %v", ok, err)
	}
	_, err = env.Service.Refresh(bg, first.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
	_, err = env.Service.RevokeSession(authtest.As(second), first.SessionID)
	wantCode(t, err, auth.CodeNotFound)

	// Activity shows on refresh.
	env.Clock.Advance(time.Hour)
	mustRefresh(t, env, second.RefreshToken)
	sessions, _ = env.Service.MySessions(authtest.As(second))
	if len(sessions) != 1 || !sessions[0].LastActivityAt.Equal(env.Clock.Now()) {
		t.Fatalf("last activity not updated: %+v", sessions)
	}
}

func TestRevokeAllSessionsCountsAndEndsThem(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	a := env.Signup(t, "a@example.com", "correct horse")
	for i := 0; i < 2; i++ {
		if _, err := env.Service.Login(bg, "a@example.com", "correct horse", nil); err != nil {
			t.Fatal(err)
		}
	}
	b := env.Signup(t, "b@example.com", "correct horse")
	n, err := env.Service.RevokeAllSessions(authtest.As(a))
	if err != nil || n != 3 {
		t.Fatalf("revokeAllSessions = %d, %v; want 3", n, err)
	}
	_, err = env.Service.Refresh(bg, a.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
	mustRefresh(t, env, b.RefreshToken)
	if n, _ := env.Service.RevokeAllSessions(authtest.As(a)); n != 0 {
		t.Fatalf("second revokeAllSessions = %d, want 0", n)
	}
}

func TestRevokeIsLogoutAndAlwaysTrue(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	for _, tok := range []string{"", "garbage", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", p.AccessToken} {
		if ok, err := env.Service.Revoke(bg, tok); err != nil || !ok {
			t.Fatalf("revoke(%q) = %v, %v", tok, ok, err)
		}
	}
	mustRefresh(t, env, p.RefreshToken) // untouched by the junk above
	next, err := env.Service.Login(bg, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustRefresh(t, env, next.RefreshToken)
	// Logging out with the just-retired token (a lost response) still logs out.
	if ok, err := env.Service.Revoke(bg, next.RefreshToken); err != nil || !ok {
		t.Fatal(ok, err)
	}
	_, err = env.Service.Refresh(bg, rotated.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
}

func TestChangePassword(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	other, err := env.Service.Login(bg, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Service.ChangePassword(authtest.As(p), "wrong horse", "battery staple")
	wantCode(t, err, auth.CodeInvalidCredentials)
	_, err = env.Service.ChangePassword(authtest.As(p), "correct horse", "short")
	wantCode(t, err, auth.CodeWeakPassword)
	_, err = env.Service.ChangePassword(context.Background(), "correct horse", "battery staple")
	wantCode(t, err, auth.CodeUnauthenticated)
	mustRefresh(t, env, other.RefreshToken) // failed attempts changed nothing

	fresh, err := env.Service.ChangePassword(authtest.As(p), "correct horse", "battery staple")
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{p.RefreshToken, other.RefreshToken} {
		_, err = env.Service.Refresh(bg, old)
		wantCode(t, err, auth.CodeInvalidRefreshToken)
	}
	mustRefresh(t, env, fresh.RefreshToken)
	_, err = env.Service.Login(bg, "a@example.com", "correct horse", nil)
	wantCode(t, err, auth.CodeInvalidCredentials)
	if _, err := env.Service.Login(bg, "a@example.com", "battery staple", nil); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticate(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	got, err := env.Service.Authenticate(bg, p.AccessToken)
	if err != nil || got.UserID != p.User.ID || got.SessionID != p.SessionID {
		t.Fatalf("authenticate = %+v, %v", got, err)
	}
	for name, tok := range map[string]string{
		"a refresh token":  p.RefreshToken,
		"garbage":          "a.b.c",
		"edited signature": p.AccessToken[:len(p.AccessToken)-2] + "AA",
	} {
		_, err := env.Service.Authenticate(bg, tok)
		if auth.CodeOf(err) != auth.CodeUnauthenticated {
			t.Errorf("%s: %v", name, err)
		}
	}
	env.Clock.Advance(15 * time.Minute)
	_, err = env.Service.Authenticate(bg, p.AccessToken)
	wantCode(t, err, auth.CodeUnauthenticated)
}

func TestMeNeedsALiveEnabledUser(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	u, err := env.Service.Me(authtest.As(p))
	if err != nil || u.Email != "a@example.com" {
		t.Fatalf("me = %+v, %v", u, err)
	}
	_, err = env.Service.Me(bg)
	wantCode(t, err, auth.CodeUnauthenticated)
	if err := env.Service.SetUserDisabled(bg, "a@example.com", true); err != nil {
		t.Fatal(err)
	}
	_, err = env.Service.Me(authtest.As(p))
	wantCode(t, err, auth.CodeUnauthenticated)
}

func TestHostileUserAgentIsCleanedNotRefused(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	ctx := auth.WithClient(bg, auth.Client{IP: "203.0.113.9", UserAgent: "Bad\xff\xfeAgent\x00/1.0" + strings.Repeat("x", 1000)})
	p, err := env.Service.Signup(ctx, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatalf("signup with a hostile user agent: %v", err)
	}
	if _, err := env.Service.Login(ctx, "a@example.com", "correct horse", nil); err != nil {
		t.Fatalf("login with a hostile user agent: %v", err)
	}
	sessions, err := env.Service.MySessions(authtest.As(p))
	if err != nil {
		t.Fatal(err)
	}
	ua := *sessions[0].UserAgent
	if !strings.HasPrefix(ua, "Bad\uFFFDAgent/1.0") || len(ua) > 512 || strings.ContainsRune(ua, 0) {
		t.Fatalf("stored user agent %q", ua[:min(len(ua), 40)])
	}
}
