package auth_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// registerPasskey makes a passkey for p's user with a new authenticator.
func registerPasskey(t *testing.T, env *authtest.Env, p *auth.AuthPayload) *authtest.Authenticator {
	t.Helper()
	a := authtest.NewAuthenticator(authtest.PasskeyOrigin)
	options, err := env.Service.BeginPasskeyRegistration(authtest.As(p))
	if err != nil {
		t.Fatal(err)
	}
	cred, err := a.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Service.FinishPasskeyRegistration(authtest.As(p), cred, nil); err != nil {
		t.Fatal(err)
	}
	return a
}

func passkeySignIn(env *authtest.Env, a *authtest.Authenticator, email *string) (*auth.AuthPayload, error) {
	options, err := env.Service.BeginPasskeySignIn(bg, email)
	if err != nil {
		return nil, err
	}
	cred, err := a.Get(options)
	if err != nil {
		return nil, err
	}
	return env.Service.FinishPasskeySignIn(bg, cred, nil)
}

func TestPasskeySignsInAloneAtLevelTwo(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	a := registerPasskey(t, env, p)
	_, passkeys, _ := env.Service.UserFactors(bg, p.User.ID)
	if len(passkeys) != 1 || passkeys[0].Name != "Passkey" || passkeys[0].LastUsedAt != nil {
		t.Fatalf("passkeys %+v", passkeys)
	}
	done, err := passkeySignIn(env, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := env.Issuer.Verify(done.AccessToken)
	if done.User.ID != p.User.ID || !slices.Equal(v.AMR, []string{"hwk"}) || v.AuthLevel != 2 {
		t.Fatalf("user %s amr %v level %d", done.User.ID, v.AMR, v.AuthLevel)
	}
	// With the email, only that account's passkeys are offered; an unknown
	// email gets the discoverable ceremony, like no email.
	email := "a@example.com"
	if _, err := passkeySignIn(env, a, &email); err != nil {
		t.Fatal(err)
	}
	unknown := "nobody@example.com"
	if _, err := passkeySignIn(env, a, &unknown); err != nil {
		t.Fatal(err)
	}
	_, passkeys, _ = env.Service.UserFactors(bg, p.User.ID)
	if passkeys[0].LastUsedAt == nil {
		t.Fatal("lastUsedAt not recorded")
	}
	// A TOTP user signs in with a passkey with no second step.
	enableTOTP(t, env, done)
	if _, err := passkeySignIn(env, a, nil); err != nil {
		t.Fatalf("passkey sign-in of a TOTP user: %v", err)
	}
}

func TestPasskeyAttacks(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	q := env.Signup(t, "b@example.com", "battery staple")
	a := registerPasskey(t, env, p)
	b := registerPasskey(t, env, q)

	for _, c := range []struct {
		name  string
		stage func() *authtest.Authenticator
	}{
		{"another origin", func() *authtest.Authenticator { x := a.Clone(); x.Origin = "https://evil.example"; return x }},
		{"another RP ID", func() *authtest.Authenticator { x := a.Clone(); x.RPID = "evil.example"; return x }},
		{"no user verification", func() *authtest.Authenticator { x := a.Clone(); x.NoUserVerification = true; return x }},
		{"a passkey presented as another user's", func() *authtest.Authenticator { x := a.Clone(); x.UseHandleOf(b); return x }},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := passkeySignIn(env, c.stage(), nil)
			wantCode(t, err, auth.CodeInvalidPasskey)
		})
	}
	t.Run("a signature counter that goes back (a cloned authenticator)", func(t *testing.T) {
		clone := a.Clone()
		if _, err := passkeySignIn(env, a, nil); err != nil {
			t.Fatal(err)
		}
		_, err := passkeySignIn(env, clone, nil) // signs with the counter the original just used
		wantCode(t, err, auth.CodeInvalidPasskey)
		clone.SignCount = 0
		_, err = passkeySignIn(env, clone, nil)
		wantCode(t, err, auth.CodeInvalidPasskey)
		if _, err := passkeySignIn(env, a, nil); err != nil {
			t.Fatalf("the original after the clone: %v", err)
		}
	})
	t.Run("a ceremony works once and expires", func(t *testing.T) {
		options, err := env.Service.BeginPasskeySignIn(bg, nil)
		if err != nil {
			t.Fatal(err)
		}
		cred, _ := a.Get(options)
		if _, err := env.Service.FinishPasskeySignIn(bg, cred, nil); err != nil {
			t.Fatal(err)
		}
		_, err = env.Service.FinishPasskeySignIn(bg, cred, nil)
		wantCode(t, err, auth.CodeInvalidPasskey)
		options, _ = env.Service.BeginPasskeySignIn(bg, nil)
		env.Clock.Advance(auth.CeremonyTTL + time.Second)
		cred, _ = a.Get(options)
		_, err = env.Service.FinishPasskeySignIn(bg, cred, nil)
		wantCode(t, err, auth.CodeInvalidPasskey)
	})
	t.Run("a registration ceremony of another user", func(t *testing.T) {
		strong, err := passkeySignIn(env, a, nil)
		if err != nil {
			t.Fatal(err)
		}
		options, err := env.Service.BeginPasskeyRegistration(authtest.As(strong))
		if err != nil {
			t.Fatal(err)
		}
		cred, _ := authtest.NewAuthenticator(authtest.PasskeyOrigin).Create(options)
		_, err = env.Service.FinishPasskeyRegistration(authtest.As(q), cred, nil)
		wantCode(t, err, auth.CodeInvalidPasskey)
	})
	t.Run("a sign-in assertion is no registration", func(t *testing.T) {
		options, _ := env.Service.BeginPasskeySignIn(bg, nil)
		cred, _ := a.Get(options)
		_, err := env.Service.FinishPasskeyRegistration(authtest.As(p), cred, nil)
		wantCode(t, err, auth.CodeInvalidPasskey)
	})
}

func TestOnePasskeyAssertionRacingWinsOnce(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	a := registerPasskey(t, env, p)
	options, err := env.Service.BeginPasskeySignIn(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := a.Get(options)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := env.Service.FinishPasskeySignIn(bg, cred, nil)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won++
			} else if auth.CodeOf(err) != auth.CodeInvalidPasskey {
				t.Errorf("a losing finish answered %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d finishes of one ceremony won", won)
	}
}

func TestSecondFactorChangesNeedALevelTwoSession(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	a := registerPasskey(t, env, p) // the first factor needs no level 2
	other := mustLogin(t, env, "a@example.com", "correct horse")
	// A password session (a stolen password) cannot add a factor or remove one.
	_, err := env.Service.BeginPasskeyRegistration(authtest.As(other))
	wantCode(t, err, auth.CodeForbidden)
	_, err = env.Service.EnrollTOTP(authtest.As(other))
	wantCode(t, err, auth.CodeForbidden)
	_, passkeys, _ := env.Service.UserFactors(bg, p.User.ID)
	_, err = env.Service.RemovePasskey(authtest.As(other), passkeys[0].ID)
	wantCode(t, err, auth.CodeForbidden)
	// A passkey session can; removing a passkey ends the other sessions.
	strong, err := passkeySignIn(env, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Service.EnrollTOTP(authtest.As(strong)); err != nil {
		t.Fatal(err)
	}
	_, err = env.Service.RemovePasskey(authtest.As(strong), "00000000-0000-0000-0000-000000000000")
	wantCode(t, err, auth.CodeNotFound)
	if ok, err := env.Service.RemovePasskey(authtest.As(strong), passkeys[0].ID); err != nil || !ok {
		t.Fatalf("remove: %v %v", ok, err)
	}
	wantCode(t, refreshErr(env, other.RefreshToken), auth.CodeInvalidRefreshToken)
	mustRefresh(t, env, strong.RefreshToken)
	if !slices.Contains(auditKinds(t, env, "a@example.com"), string(auth.EventPasskeyRemoved)) {
		t.Fatal("removal not audited")
	}
	_, err = passkeySignIn(env, a, nil)
	wantCode(t, err, auth.CodeInvalidPasskey)
}

func TestThePurgeDeletesExpiredCeremonies(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	if _, err := env.Service.BeginPasskeySignIn(bg, nil); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(auth.CeremonyTTL + time.Second)
	live, err := env.Service.BeginPasskeySignIn(bg, nil)
	if err != nil || len(live) == 0 {
		t.Fatal(err)
	}
	res, err := env.Service.Purge(bg)
	if err != nil {
		t.Fatal(err)
	}
	if res.WebAuthnCeremonies != 1 {
		t.Errorf("purged %d ceremonies, want 1", res.WebAuthnCeremonies)
	}
}
