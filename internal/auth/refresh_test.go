package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

var bg = context.Background()

func wantCode(t *testing.T, err error, code auth.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := auth.CodeOf(err); got != code {
		t.Fatalf("got %s (%v), want %s", got, err, code)
	}
}

func mustRefresh(t *testing.T, env *authtest.Env, refresh string) *auth.AuthPayload {
	t.Helper()
	return mustRefreshFrom(t, bg, env, refresh)
}

// mustRefreshFrom refreshes from ctx's client and fails the test on error.
func mustRefreshFrom(t *testing.T, ctx context.Context, env *authtest.Env, refresh string) *auth.AuthPayload {
	t.Helper()
	p, err := env.Service.Refresh(ctx, refresh)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	return p
}

// Clients for the replay rule: one browser (its tabs share user agent and
// address), and a thief elsewhere with the same user agent.
var (
	browser = auth.WithClient(bg, auth.Client{IP: "198.51.100.7", UserAgent: "Mozilla/5.0 (X11) Firefox/140.0"})
	thief   = auth.WithClient(bg, auth.Client{IP: "203.0.113.66", UserAgent: "Mozilla/5.0 (X11) Firefox/140.0"})
)

func TestRefreshRotatesToANewTokenAndRetiresTheOld(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	env.Clock.Advance(time.Minute)
	next := mustRefresh(t, env, p.RefreshToken)
	if next.RefreshToken == p.RefreshToken {
		t.Fatal("refresh returned the same refresh token")
	}
	if next.SessionID != p.SessionID || next.User.ID != p.User.ID {
		t.Fatalf("refresh moved to another session or user: %+v", next)
	}
	if next.AccessToken == p.AccessToken {
		t.Fatal("refresh returned the same access token")
	}
	// The successor keeps working, and rotates again.
	env.Clock.Advance(time.Minute)
	third := mustRefresh(t, env, next.RefreshToken)
	if third.RefreshToken == next.RefreshToken || third.RefreshToken == p.RefreshToken {
		t.Fatal("second rotation did not produce a new token")
	}
}

func TestReplayWithinGraceReturnsTheSameSuccessor(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	first := mustRefresh(t, env, p.RefreshToken)
	env.Clock.Advance(10*time.Second - time.Microsecond)
	again := mustRefresh(t, env, p.RefreshToken)
	if again.RefreshToken != first.RefreshToken {
		t.Fatalf("replay within grace gave a different successor")
	}
	if !again.RefreshTokenExpiresAt.Equal(first.RefreshTokenExpiresAt) {
		t.Fatalf("replay moved the expiry: %v vs %v", again.RefreshTokenExpiresAt, first.RefreshTokenExpiresAt)
	}
	// The successor is still the live token.
	mustRefresh(t, env, first.RefreshToken)
}

func TestReuseAfterGraceRevokesTheWholeSessionOnly(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	other, err := env.Service.Login(bg, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	next := mustRefresh(t, env, p.RefreshToken)
	env.Clock.Advance(10 * time.Second) // the grace window is over at exactly 10s
	_, err = env.Service.Refresh(bg, p.RefreshToken)
	wantCode(t, err, auth.CodeRefreshTokenReused)
	// The newest token of that session is dead too.
	_, err = env.Service.Refresh(bg, next.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
	// The user's other session lives on.
	mustRefresh(t, env, other.RefreshToken)
}

func TestReuseOfAnOlderAncestorIsDetected(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	t1 := mustRefresh(t, env, p.RefreshToken)
	t2 := mustRefresh(t, env, t1.RefreshToken)
	// p is two generations back: even within its grace window it is not the
	// just-retired token, so presenting it is theft.
	_, err := env.Service.Refresh(bg, p.RefreshToken)
	wantCode(t, err, auth.CodeRefreshTokenReused)
	_, err = env.Service.Refresh(bg, t2.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
}

func TestSlidingInactivityLimit(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	if want := authtest.Start.Add(30 * 24 * time.Hour); !p.RefreshTokenExpiresAt.Equal(want) {
		t.Fatalf("refreshTokenExpiresAt = %v, want %v", p.RefreshTokenExpiresAt, want)
	}
	// Refreshing just before the limit slides it forward.
	env.Clock.Advance(30*24*time.Hour - time.Second)
	next := mustRefresh(t, env, p.RefreshToken)
	if want := env.Clock.Now().Add(30 * 24 * time.Hour); !next.RefreshTokenExpiresAt.Equal(want) {
		t.Fatalf("slid expiry = %v, want %v", next.RefreshTokenExpiresAt, want)
	}
	// Idle for exactly the limit: dead.
	env.Clock.Advance(30 * 24 * time.Hour)
	_, err := env.Service.Refresh(bg, next.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
}

func TestNoChainOfRefreshesOutlivesTheSessionMaxAge(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	limit := authtest.Start.Add(90 * 24 * time.Hour)
	tok := p.RefreshToken
	for i := 0; i < 4; i++ {
		env.Clock.Advance(20 * 24 * time.Hour)
		next := mustRefresh(t, env, tok)
		if next.RefreshTokenExpiresAt.After(limit) {
			t.Fatalf("refresh %d: expiry %v passes the absolute limit %v", i, next.RefreshTokenExpiresAt, limit)
		}
		tok = next.RefreshToken
	}
	// Day 80: the sliding expiry is capped at day 90.
	if got := mustRefresh(t, env, tok); !got.RefreshTokenExpiresAt.Equal(limit) {
		t.Fatalf("expiry = %v, want the cap %v", got.RefreshTokenExpiresAt, limit)
	} else {
		tok = got.RefreshToken
	}
	env.Clock.Set(limit)
	_, err := env.Service.Refresh(bg, tok)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
}

func TestRefreshRereadsTheUser(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	if err := env.Service.SetUserRoles(bg, "a@example.com", "editor", []string{"user"}); err != nil {
		t.Fatal(err)
	}
	next := mustRefresh(t, env, p.RefreshToken)
	v, err := env.Issuer.Verify(next.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if v.DefaultRole != "editor" || len(v.AllowedRoles) != 2 || v.AllowedRoles[0] != "editor" || v.AllowedRoles[1] != "user" {
		t.Fatalf("claims after re-role: default %q allowed %v", v.DefaultRole, v.AllowedRoles)
	}
	if next.User.DefaultRole != "editor" {
		t.Fatalf("payload user not re-read: %+v", next.User)
	}

	if err := env.Service.SetUserDisabled(bg, "a@example.com", true); err != nil {
		t.Fatal(err)
	}
	// Disabled wins over everything else that is true of the token (here:
	// its session was also ended by the disable).
	_, err = env.Service.Refresh(bg, next.RefreshToken)
	wantCode(t, err, auth.CodeUserDisabled)
}

func TestRefreshRefusesWhatIsNotALiveRefreshToken(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	for name, tok := range map[string]string{
		"empty":                    "",
		"an access token":          p.AccessToken,
		"unknown token":            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"wrong length":             p.RefreshToken[:40],
		"not base64url":            p.RefreshToken[:42] + "!",
		"sql in the token":         "' OR 1=1 --AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"the token with a newline": p.RefreshToken + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := env.Service.Refresh(bg, tok)
			wantCode(t, err, auth.CodeInvalidRefreshToken)
		})
	}
	// None of it harmed the real session.
	mustRefresh(t, env, p.RefreshToken)
}

// Simultaneous refreshes of one token from one client (a browser's tabs,
// up to the replay limit plus the one that rotates): exactly one rotates,
// the others replay, and every one gets the same successor.
func TestConcurrentRefreshesOfOneTokenAllGetOneSuccessor(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	n := env.Config.RefreshReplayLimit + 1
	results, errs := refreshAtOnce(env, browser, p.RefreshToken, n)
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("refresh %d failed: %v", i, errs[i])
		}
		if results[i].RefreshToken != results[0].RefreshToken {
			t.Fatalf("refresh %d forked the session", i)
		}
	}
	// The session moved exactly one generation, to the one successor.
	if results[0].RefreshToken != env.Successor(t, p.RefreshToken) || !env.Current(t, results[0].RefreshToken) {
		t.Fatal("the session does not hold the successor every refresh got")
	}
	mustRefreshFrom(t, browser, env, results[0].RefreshToken)
}

// refreshAtOnce refreshes tok n times at once from ctx's client, on real
// goroutines released together.
func refreshAtOnce(env *authtest.Env, ctx context.Context, tok string, n int) ([]*auth.AuthPayload, []error) {
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([]*auth.AuthPayload, n)
		errs    = make([]error, n)
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			results[i], errs[i] = env.Service.Refresh(ctx, tok)
		}(i)
	}
	close(start)
	wg.Wait()
	return results, errs
}

func TestTheDatabaseHoldsNoTokenNorItsMAC(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	next := mustRefresh(t, env, p.RefreshToken)
	var dump string
	if err := env.Store.DB().Get(&dump, `
		SELECT (SELECT string_agg(s::text, '|') FROM auth.sessions s) || (SELECT string_agg(u::text, '|') FROM auth.users u)
		       || (SELECT string_agg(a::text, '|') FROM auth.audit_events a)`); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{p.RefreshToken, next.RefreshToken} {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			t.Fatal(err)
		}
		// The token, and its MAC (the part only the server key makes).
		for _, secret := range []string{tok, hex.EncodeToString(raw[len(raw)-16:]), "correct horse"} {
			if strings.Contains(dump, secret) {
				t.Fatalf("the database holds a token or its MAC")
			}
		}
	}
}

// A refresh that started before the session moved on must see where the
// session is now, not where its snapshot says: otherwise it would rotate
// the session back to an already-retired token.
func TestRefreshRacingAnotherRotationSeesTheLatestSession(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	db := env.Store.DB()

	tx, err := db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT 1 FROM auth.sessions WHERE id = $1 FOR UPDATE`, p.SessionID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := env.Service.Refresh(bg, p.RefreshToken)
		done <- err
	}()
	// Wait until the refresh is blocked on the row lock (its snapshot taken).
	env.WaitForALockWait(t)
	// Meanwhile the session moves on by two rotations.
	if _, err := tx.Exec(`UPDATE auth.sessions SET generation = generation + 2, rotated_at = $2 WHERE id = $1`,
		p.SessionID, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, <-done, auth.CodeRefreshTokenReused)
}
