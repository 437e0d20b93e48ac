package auth_test

import (
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// wantSessionRefusedToHasura checks that an action Hasura forwards for the
// session (Hasura verified the JWT itself) is refused.
func wantSessionRefusedToHasura(t *testing.T, env *authtest.Env, p *auth.AuthPayload) {
	t.Helper()
	_, err := env.Service.PrincipalFromHasura(bg, auth.HasuraCaller{UserID: p.User.ID, SessionID: p.SessionID})
	wantCode(t, err, auth.CodeUnauthenticated)
}

// Issue 11 item 3, first scenario: instances at 1 h and 5 s share a
// database. A logged-out 1 h token must stay dead on the 5 s instance after
// its own window (5 s) has passed and it has pruned, and after it has
// purged, on an instance that reloads.
func TestRevokedLongLivedTokenStaysDeadOnAShortLivedInstance(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	long := env.InstanceWith(t, authtest.InstanceOptions{AccessTokenTTL: time.Hour})
	short := env.InstanceWith(t, authtest.InstanceOptions{AccessTokenTTL: 5 * time.Second})
	p := long.Signup(t, "a@example.com", "correct horse")
	wantAuthenticated(t, long, p.AccessToken)
	wantRefused(t, short, p.AccessToken) // it lives longer than the 5 s instance issues

	if ok, err := long.Service.Revoke(bg, p.RefreshToken); !ok || err != nil {
		t.Fatalf("logout = %v, %v", ok, err)
	}
	waitUntil(t, short.Revocations, time.Second, func() bool { return short.Revocations.SessionRevoked(p.SessionID) })

	env.Clock.Advance(14 * time.Second)
	if err := short.Feed.Prune(bg); err != nil { // what its feed does every 15 s
		t.Fatal(err)
	}
	wantRefused(t, short, p.AccessToken)
	wantSessionRefusedToHasura(t, short, p)

	res, err := short.Service.Purge(bg)
	if err != nil || res.Sessions != 0 {
		t.Fatalf("purge by the 5 s instance = %+v, %v; want the revoked session kept", res, err)
	}
	restarted := env.InstanceWith(t, authtest.InstanceOptions{AccessTokenTTL: time.Hour})
	wantRefused(t, restarted, p.AccessToken)
	wantSessionRefusedToHasura(t, restarted, p)
	wantRefused(t, long, p.AccessToken)
}

// Issue 11 item 3, second scenario: lowering AUTHGATE_ACCESS_TOKEN_TTL and
// restarting must not bring a revoked token back; the old lifetime stops
// counting once the tokens issued under it have all expired.
func TestLoweringTheTTLDoesNotReviveRevokedTokens(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	before := env.InstanceWith(t, authtest.InstanceOptions{AccessTokenTTL: time.Hour})
	issuedAt := env.Clock.Now()
	p := before.Signup(t, "a@example.com", "correct horse")
	if _, err := before.Service.RevokeAllSessions(authtest.As(p)); err != nil {
		t.Fatal(err)
	}

	env.Clock.Advance(14 * time.Second)
	after := env.InstanceWith(t, authtest.InstanceOptions{AccessTokenTTL: 5 * time.Second}) // the restart
	if w := after.Revocations.Window(); w != time.Hour {
		t.Errorf("window after the restart = %s, want the 1h tokens' lifetime", w)
	}
	wantRefused(t, after, p.AccessToken)
	wantSessionRefusedToHasura(t, after, p)
	res, err := after.Service.Purge(bg)
	if err != nil || res.Sessions != 0 {
		t.Fatalf("purge after the restart = %+v, %v; want the revoked session kept", res, err)
	}
	// Rolled back to the old setting, an instance still knows.
	back := env.InstanceWith(t, authtest.InstanceOptions{AccessTokenTTL: time.Hour})
	wantRefused(t, back, p.AccessToken)
	wantSessionRefusedToHasura(t, back, p)

	// The 1h instance recorded that it might issue for 10 more minutes: once
	// the last such token has expired, the 5 s setting alone sizes things.
	env.Clock.Set(issuedAt.Add(10*time.Minute + time.Hour - time.Second))
	if err := after.Feed.Prune(bg); err != nil {
		t.Fatal(err)
	}
	if w := after.Revocations.Window(); w != time.Hour {
		t.Errorf("window while a 1h token may still live = %s", w)
	}
	env.Clock.Advance(2 * time.Second)
	if err := after.Feed.Prune(bg); err != nil {
		t.Fatal(err)
	}
	if w := after.Revocations.Window(); w != 5*time.Second {
		t.Errorf("window once every 1h token has expired = %s, want 5s", w)
	}
	if res, err := after.Service.Purge(bg); err != nil || res.Sessions != 1 {
		t.Fatalf("late purge = %+v, %v; want the revoked session gone", res, err)
	}
}

// A session revoked just before it expires is kept by the purge for an
// access-token lifetime after its revocation, not dropped at its expiry:
// its last access token outlives the expiry, and instances that reload
// must still see that it was revoked.
func TestPurgeKeepsARevokedSessionPastItsExpiry(t *testing.T) {
	cfg := authtest.DefaultConfig()
	cfg.RefreshTokenTTL = time.Minute
	env := authtest.New(t, cfg)
	p := env.Signup(t, "a@example.com", "correct horse")
	env.Clock.Advance(50 * time.Second)
	if ok, err := env.Service.Revoke(bg, p.RefreshToken); !ok || err != nil {
		t.Fatalf("logout = %v, %v", ok, err)
	}
	env.Clock.Advance(20 * time.Second) // the session has expired; its access token has not
	if res, err := env.Service.Purge(bg); err != nil || res.Sessions != 0 {
		t.Fatalf("purge = %+v, %v; want the revoked session kept", res, err)
	}
	wantRefused(t, env.Instance(t), p.AccessToken)

	env.Clock.Advance(15 * time.Minute)
	if res, err := env.Service.Purge(bg); err != nil || res.Sessions != 1 {
		t.Fatalf("purge once its tokens expired = %+v, %v; want it gone", res, err)
	}
}
