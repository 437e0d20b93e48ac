package auth_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/revocation"
)

func wantAuthenticated(t *testing.T, env *authtest.Env, accessToken string) {
	t.Helper()
	if _, err := env.Service.Authenticate(bg, accessToken); err != nil {
		t.Fatalf("token refused: %v", err)
	}
}

func wantRefused(t *testing.T, env *authtest.Env, accessToken string) {
	t.Helper()
	_, err := env.Service.Authenticate(bg, accessToken)
	wantCode(t, err, auth.CodeUnauthenticated)
}

func TestCutOffAtExactlyItsInstant(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Clock.Set(authtest.Start.Add(500 * time.Millisecond)) // mid-second: the hard case
	earlier := env.Signup(t, "a@example.com", "correct horse")
	env.Clock.Advance(time.Second)
	justBefore, err := env.Service.Login(bg, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Microsecond)
	cut := env.Clock.Now()
	n, err := env.Service.RevokeAllSessions(authtest.As(earlier))
	if err != nil || n != 2 {
		t.Fatalf("revokeAllSessions = %d, %v", n, err)
	}
	// A session opened at exactly the cut-off instant lives.
	atCut, err := env.Service.Login(bg, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*auth.AuthPayload{earlier, justBefore} {
		wantRefused(t, env, p.AccessToken)
		_, err := env.Service.Refresh(bg, p.RefreshToken)
		wantCode(t, err, auth.CodeInvalidRefreshToken)
	}
	wantAuthenticated(t, env, atCut.AccessToken)
	if !env.Clock.Now().Equal(cut) {
		t.Fatal("the clock moved")
	}
	mustRefresh(t, env, atCut.RefreshToken)

	// A fresh instance that only loaded the database state agrees: the
	// earlier token is dead by the cut-off alone, the same-second one by its
	// ended session.
	other := env.Instance(t)
	wantRefused(t, other, earlier.AccessToken)
	wantRefused(t, other, justBefore.AccessToken)
	wantAuthenticated(t, other, atCut.AccessToken)
}

func TestBanBeforeDuringAndAfter(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	before := env.Signup(t, "a@example.com", "correct horse")
	wantAuthenticated(t, env, before.AccessToken)

	env.Clock.Advance(time.Minute)
	until := env.Clock.Now().Add(time.Hour + 250*time.Millisecond)
	if _, err := env.Service.BanUser(bg, "a@example.com", until, "spam"); err != nil {
		t.Fatal(err)
	}
	// During: no sign-in (only a correct password learns why), no refresh
	// (USER_DISABLED even though the session is also ended), no old token.
	_, err := env.Service.Login(bg, "a@example.com", "correct horse", nil)
	wantCode(t, err, auth.CodeUserDisabled)
	_, err = env.Service.Login(bg, "a@example.com", "wrong horse", nil)
	wantCode(t, err, auth.CodeInvalidCredentials)
	_, err = env.Service.Refresh(bg, before.RefreshToken)
	wantCode(t, err, auth.CodeUserDisabled)
	wantRefused(t, env, before.AccessToken)

	env.Clock.Set(until.Add(-time.Microsecond))
	_, err = env.Service.Login(bg, "a@example.com", "correct horse", nil)
	wantCode(t, err, auth.CodeUserDisabled)

	// After: a fresh login works; old tokens stay dead.
	env.Clock.Set(until)
	after, err := env.Service.Login(bg, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatalf("login after the ban: %v", err)
	}
	wantAuthenticated(t, env, after.AccessToken)
	_, err = env.Service.Refresh(bg, before.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
	mustRefresh(t, env, after.RefreshToken)

	_, err = env.Service.BanUser(bg, "a@example.com", env.Clock.Now(), "")
	wantCode(t, err, auth.CodeBadUserInput)
}

func TestUnbanLetsTheUserBackInButOldTokensStayDead(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	if _, err := env.Service.BanUser(bg, "a@example.com", env.Clock.Now().Add(24*time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Second)
	if err := env.Service.UnbanUser(bg, "a@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Service.Login(bg, "a@example.com", "correct horse", nil); err != nil {
		t.Fatalf("login after unban: %v", err)
	}
	wantRefused(t, env, p.AccessToken)
	_, err := env.Service.Refresh(bg, p.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
}

func TestDisabledUsersRefreshSaysDisabledWhateverElseIsTrue(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	if ok, err := env.Service.Revoke(bg, p.RefreshToken); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := env.Service.SetUserDisabled(bg, "a@example.com", true); err != nil {
		t.Fatal(err)
	}
	_, err := env.Service.Refresh(bg, p.RefreshToken)
	wantCode(t, err, auth.CodeUserDisabled)
	wantRefused(t, env, p.AccessToken)
}

func TestDenylistedTokenRefusedWhileItsSiblingWorks(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	env.Clock.Advance(time.Second)
	sibling := mustRefresh(t, env, p.RefreshToken)

	leaked, err := env.Service.Authenticate(bg, p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := env.Service.RevokeAccessToken(auth.WithPrincipal(bg, auth.PrincipalOf(leaked))); !ok || err != nil {
		t.Fatalf("revokeAccessToken = %v, %v", ok, err)
	}
	wantRefused(t, env, p.AccessToken)
	wantAuthenticated(t, env, sibling.AccessToken)
	mustRefresh(t, env, sibling.RefreshToken) // the session lives on

	// Without the token itself (e.g. a Hasura action with no forwarded
	// header) there is nothing to revoke.
	_, err = env.Service.RevokeAccessToken(authtest.As(sibling))
	wantCode(t, err, auth.CodeUnauthenticated)
}

func TestDenylistHoldsOnlyTokensThatWouldStillBeValid(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	now := env.Clock.Now()
	if err := env.Service.DenyAccessToken(bg, "expired-jti", now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := env.Service.DenyAccessToken(bg, "live-jti", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var jtis []string
	if err := env.Store.DB().Select(&jtis, `SELECT jti FROM auth.revoked_access_tokens`); err != nil {
		t.Fatal(err)
	}
	if len(jtis) != 1 || jtis[0] != "live-jti" {
		t.Fatalf("denylist = %v, want only the live token", jtis)
	}
	wantCode(t, env.Service.DenyAccessToken(bg, "", now.Add(time.Minute)), auth.CodeBadUserInput)
}

func TestPurgeLeavesLiveRowsAlone(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	live := env.Signup(t, "live@example.com", "correct horse")
	rotated := mustRefresh(t, env, live.RefreshToken)
	idle := env.Signup(t, "idle@example.com", "correct horse")
	ended := env.Signup(t, "ended@example.com", "correct horse")
	if ok, err := env.Service.Revoke(bg, ended.RefreshToken); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := env.Service.DenyAccessToken(bg, "soon", env.Clock.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := env.Service.DenyAccessToken(bg, "later", env.Clock.Now().Add(40*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Nothing is due yet: a revoked session is kept for an access-token lifetime.
	res, err := env.Service.Purge(bg)
	if err != nil || res != (auth.PurgeResult{}) {
		t.Fatalf("early purge = %+v, %v", res, err)
	}

	// 30 days on: "idle" expired; "ended" is long revoked; "soon" expired.
	// "live" refreshes just in time and stays.
	env.Clock.Advance(30*24*time.Hour - time.Minute)
	rotated = mustRefresh(t, env, rotated.RefreshToken)
	env.Clock.Advance(time.Minute)
	res, err = env.Service.Purge(bg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sessions != 2 || res.DeniedTokens != 1 || res.RetiredTokens != 0 {
		t.Fatalf("purge = %+v, want 2 sessions, 1 denied token, 0 retired tokens", res)
	}
	mustRefresh(t, env, rotated.RefreshToken)
	_, err = env.Service.Refresh(bg, idle.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
	var left []string
	if err := env.Store.DB().Select(&left, `SELECT jti FROM auth.revoked_access_tokens`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != "later" {
		t.Fatalf("denylist after purge = %v", left)
	}

	// The live session goes at its absolute limit; format-2 rotations
	// leave no retired tokens behind.
	env.Clock.Advance(90 * 24 * time.Hour)
	res, err = env.Service.Purge(bg)
	if err != nil || res.Sessions != 1 || res.RetiredTokens != 0 {
		t.Fatalf("late purge = %+v, %v; want the live session", res, err)
	}
}

func TestPurgeRunsOnOneInstanceAtATime(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	tx, err := env.Store.DB().Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT pg_advisory_xact_lock($1)`, int64(0x61757468_70757267)); err != nil {
		t.Fatal(err)
	}
	res, err := env.Service.Purge(bg)
	if err != nil || !res.Skipped {
		t.Fatalf("purge while another holds the lock = %+v, %v; want skipped", res, err)
	}
}

// waitUntil waits, up to limit, for cond to hold, re-checking whenever
// state changes.
func waitUntil(t *testing.T, state *revocation.State, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(limit)
	for {
		changed := state.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("not converged within %s", limit)
		}
	}
}

func TestTwoInstancesConvergeWithinASecond(t *testing.T) {
	a := authtest.New(t, auth.Config{})
	b := a.Instance(t)
	p := a.Signup(t, "a@example.com", "correct horse")
	q, err := a.Service.Login(bg, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Service.Login(bg, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{p.AccessToken, q.AccessToken, r.AccessToken} {
		wantAuthenticated(t, b, tok)
	}
	refused := func(tok string) func() bool {
		return func() bool { _, err := b.Service.Authenticate(bg, tok); return err != nil }
	}

	// A denylisted token, through instance a.
	v, _ := a.Service.Authenticate(bg, p.AccessToken)
	if _, err := a.Service.RevokeAccessToken(auth.WithPrincipal(bg, auth.PrincipalOf(v))); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, b.Revocations, time.Second, refused(p.AccessToken))
	wantAuthenticated(t, b, q.AccessToken)

	// One ended session.
	if _, err := a.Service.RevokeSession(authtest.As(q), q.SessionID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, b.Revocations, time.Second, refused(q.AccessToken))
	wantAuthenticated(t, b, r.AccessToken)

	// An administrator's cut-off, made by a third party (the CLI is just
	// another process writing the same statements).
	c := a.Instance(t)
	if _, err := c.Service.RevokeUserSessions(bg, "a@example.com"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, b.Revocations, time.Second, refused(r.AccessToken))
}

func TestLostNotifyConnectionIsRecoveredByAFullReload(t *testing.T) {
	a := authtest.New(t, auth.Config{})
	p := a.Signup(t, "a@example.com", "correct horse")
	reloads := make(chan struct{}, 16)
	feed := revocation.NewFeed(a.Revocations, a.Store, a.Clock, a.DatabaseURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	feed.Reloaded = func() { reloads <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = feed.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-reloads // the load after the first connection

	// A revocation whose notification is lost: written without NOTIFY.
	v, _ := a.Service.Authenticate(bg, p.AccessToken)
	if _, err := a.Store.DB().Exec(`INSERT INTO auth.revoked_access_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3)`,
		v.ID, v.ExpiresAt, a.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantAuthenticated(t, a, p.AccessToken) // nothing told this instance yet

	// Cut the listening connection; the feed reconnects and reloads.
	var killed int
	if err := a.Store.DB().Get(&killed, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'listen%'`); err != nil || killed != 1 {
		t.Fatalf("terminating the listener: %d, %v", killed, err)
	}
	select {
	case <-reloads:
	case <-time.After(10 * time.Second):
		t.Fatal("no reload after the connection came back")
	}
	wantRefused(t, a, p.AccessToken)
}

// Sessions that expired from inactivity are found by a sweep in primary-key
// order (no index covers expires_at, which every rotation moves): each purge
// examines IdleScanRows sessions from where the previous one stopped, and
// starts again at the end of the table.
func TestPurgeSweepsForIdleSessionsAcrossPurges(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	var live, idle []*auth.AuthPayload
	for i := range 4 {
		idle = append(idle, env.Signup(t, fmt.Sprintf("idle%d@example.com", i), "correct horse"))
	}
	env.Clock.Advance(20 * 24 * time.Hour)
	for i := range 6 {
		live = append(live, env.Signup(t, fmt.Sprintf("live%d@example.com", i), "correct horse"))
	}
	env.Clock.Advance(11 * 24 * time.Hour) // the first four are idle past 30 days
	// Session ids are random, so where the idle ones fall in primary-key
	// order is read from the table: after each round exactly the idle ones
	// among the sessions examined so far must be gone.
	idleIDs := map[string]bool{}
	for _, p := range idle {
		idleIDs[p.SessionID] = true
	}
	var order []string
	if err := env.Store.DB().Select(&order, `SELECT id::text FROM auth.sessions ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	policy := auth.PurgePolicy{Now: env.Clock.Now(), BatchSize: 1, IdleScanRows: 4, KeepRevokedFor: time.Hour}
	deleted := 0
	for round := range 3 { // 4 + 4 + 2 sessions: once through the table
		res, err := env.Store.Purge(bg, policy)
		if err != nil {
			t.Fatal(err)
		}
		deleted += res.Sessions
		examined := min(4*(round+1), len(order))
		want := 0
		for _, id := range order[:examined] {
			if idleIDs[id] {
				want++
			}
		}
		if deleted != want {
			t.Fatalf("round %d: %d sessions deleted after examining the first %d, want the %d idle ones among them", round, deleted, examined, want)
		}
	}
	if deleted != len(idle) {
		t.Fatalf("deleted %d sessions, want the %d idle ones", deleted, len(idle))
	}
	for _, p := range live {
		mustRefresh(t, env, p.RefreshToken)
	}
}

// The sweep deletes a session only if it is still idle when the delete
// locks it: one refreshed between the sweep's look and its delete stays.
func TestPurgeSweepKeepsASessionRefreshedMeanwhile(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	env.Clock.Advance(31 * 24 * time.Hour)
	db := env.Store.DB()
	tx, err := db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// Another instance, its clock a little behind, refreshes it: holding the
	// row while the sweep looks.
	if _, err := tx.Exec(`UPDATE auth.sessions SET expires_at = $2, last_activity_at = $3 WHERE id = $1`,
		p.SessionID, env.Clock.Now().Add(30*24*time.Hour), env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := env.Store.Purge(bg, auth.PurgePolicy{Now: env.Clock.Now(), BatchSize: 10, IdleScanRows: 100})
		done <- err
	}()
	env.WaitForALockWait(t)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM auth.sessions WHERE id = $1`, p.SessionID); err != nil || n != 1 {
		t.Fatalf("the refreshed session was purged (%d left, %v)", n, err)
	}
}
