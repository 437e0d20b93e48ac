package auth_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// pausingStore stops a sign-in between its password check and the
// statement that opens its session, until the test lets it go on.
type pausingStore struct {
	auth.Store
	reached, release chan struct{}
}

func (p *pausingStore) OpenSession(ctx context.Context, s auth.NewSession, v auth.VerifiedSignIn) (auth.SessionRecord, auth.SignInOutcome, error) {
	close(p.reached)
	<-p.release
	return p.Store.OpenSession(ctx, s, v)
}

// liveSessions lists the ids of userID's sessions that can still be
// refreshed, as the database holds them.
func liveSessions(t *testing.T, env *authtest.Env, userID string) []string {
	t.Helper()
	var ids []string
	if err := env.Store.DB().Select(&ids, `SELECT s.id::text FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id
		WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
		AND (u.valid_after IS NULL OR s.created_at >= u.valid_after) ORDER BY s.id`, userID, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	return ids
}

// wantDeadEverywhere fails unless the session of p is refused by refresh,
// by the Hasura webhook and by mySessions.
func wantDeadEverywhere(t *testing.T, env *authtest.Env, p *auth.AuthPayload) {
	t.Helper()
	if _, err := env.Service.Refresh(bg, p.RefreshToken); err == nil {
		t.Error("the racing sign-in's refresh token still refreshes")
	}
	if _, err := env.Service.HasuraWebhookSession(bg, auth.WebhookRequest{AccessToken: p.AccessToken, TokenPresented: true}, auth.WebhookPolicy{MaxCache: time.Minute}); err == nil {
		t.Error("the Hasura webhook still accepts the racing sign-in's access token")
	}
	if listed, err := env.Service.MySessions(authtest.As(p)); err == nil && slices.ContainsFunc(listed, func(s *auth.Session) bool { return s.ID == p.SessionID }) {
		t.Error("mySessions still lists the racing sign-in's session")
	}
}

// A sign-in that checked the password before one of the four revoking
// events, and opens its session after it, must not survive it. Each case
// blocks an attacker's login (with the old password) after its check, runs
// the event, then lets the login go on: it fails, and no session of it is
// alive anywhere (the database, refresh, the Hasura webhook, mySessions).
func TestASignInRacingARevocationLeavesNoLiveSession(t *testing.T) {
	// What the overtaken sign-in answers: as if it came after the event.
	codes := map[string]auth.Code{
		"password change":   auth.CodeInvalidCredentials, // the password it proved is no longer the account's
		"revokeAllSessions": auth.CodeInvalidCredentials, // the client signs in again
		"user disable":      auth.CodeUserDisabled,
		"user ban":          auth.CodeUserDisabled,
		"user delete":       auth.CodeInvalidCredentials, // no such account any more
	}
	for _, tc := range revokingEvents {
		t.Run(tc.name, func(t *testing.T) {
			env := authtest.New(t, auth.Config{})
			victim := env.Signup(t, "victim@example.com", "correct horse")
			paused := &pausingStore{Store: env.Store, reached: make(chan struct{}), release: make(chan struct{})}
			attacker := auth.New(paused, env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, env.Config)
			type outcome struct {
				p   *auth.AuthPayload
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				p, err := attacker.Login(from("203.0.113.66"), "victim@example.com", "correct horse", nil)
				done <- outcome{p, err}
			}()
			<-paused.reached
			kept := tc.event(t, env, victim)
			close(paused.release)
			got := <-done

			wantCode(t, got.err, codes[tc.name])
			var recorded int
			if err := env.Store.DB().Get(&recorded, `SELECT count(*) FROM auth.audit_events
				WHERE event = 'login_failed' AND detail->>'reason' LIKE '% during sign-in'`); err != nil || recorded != 1 {
				t.Errorf("%d overtaken sign-ins in the audit trail (%v), want 1", recorded, err)
			}
			if got.p != nil {
				wantDeadEverywhere(t, env, got.p)
			}
			if live := liveSessions(t, env, victim.User.ID); !slices.Equal(live, kept) {
				t.Fatalf("live sessions %v, want only %v", live, kept)
			}
			for _, id := range kept {
				if listed, err := env.Service.MySessions(authtest.As(&auth.AuthPayload{User: victim.User, SessionID: id})); err != nil || len(listed) != 1 {
					t.Fatalf("mySessions of the kept session lists %d (%v), want 1", len(listed), err)
				}
			}
		})
	}
}

// revokingEvents are the four events that must end a sign-in's session:
// each returns the sessions it leaves alive.
var revokingEvents = []struct {
	name  string
	event func(t *testing.T, env *authtest.Env, victim *auth.AuthPayload) []string
}{
	{"password change", func(t *testing.T, env *authtest.Env, victim *auth.AuthPayload) []string {
		p, err := env.Service.ChangePassword(authtest.As(victim), "correct horse", "battery staple")
		if err != nil {
			t.Error(err)
			return nil
		}
		return []string{p.SessionID}
	}},
	{"revokeAllSessions", func(t *testing.T, env *authtest.Env, victim *auth.AuthPayload) []string {
		if _, err := env.Service.RevokeAllSessions(authtest.As(victim)); err != nil {
			t.Error(err)
		}
		return nil
	}},
	{"user disable", func(t *testing.T, env *authtest.Env, victim *auth.AuthPayload) []string {
		if err := env.Service.SetUserDisabled(bg, victim.User.Email, true); err != nil {
			t.Error(err)
		}
		return nil
	}},
	{"user ban", func(t *testing.T, env *authtest.Env, victim *auth.AuthPayload) []string {
		if _, err := env.Service.BanUser(bg, victim.User.Email, env.Clock.Now().Add(time.Hour), "stolen"); err != nil {
			t.Error(err)
		}
		return nil
	}},
	{"user delete", func(t *testing.T, env *authtest.Env, victim *auth.AuthPayload) []string {
		if _, err := env.Service.DeleteUser(auth.WithActor(bg, auth.ActorAdminSecret), victim.User.ID); err != nil {
			t.Error(err)
		}
		return nil
	}},
}

// lockWaiters counts the statements of env's database waiting for a lock.
func lockWaiters(t *testing.T, env *authtest.Env) int {
	t.Helper()
	var n int
	if err := env.Store.DB().Get(&n, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitForLockWaiters returns once n statements wait for a lock.
func waitForLockWaiters(t *testing.T, env *authtest.Env, n int, what string) {
	t.Helper()
	for i := 0; lockWaiters(t, env) < n; i++ {
		if i > 20000 {
			t.Fatalf("%s never waited for a lock", what)
		}
	}
}

// The other interleaving: the revoking event starts while the sign-in's
// session statement is running (it has locked the user row and written
// the session, and has not committed). Under READ COMMITTED a revoker that
// ended "every live session" in one statement would take its snapshot
// before the sign-in committed and miss the session. A trigger holds the
// sign-in's statement inside until the test releases it, after the event
// has started and blocked on the user row: the sign-in succeeds (it came
// first), and the event then ends its session everywhere.
func TestARevocationRacingASignInsCommitEndsItsSession(t *testing.T) {
	for _, tc := range revokingEvents {
		t.Run(tc.name, func(t *testing.T) {
			env := authtest.New(t, auth.Config{})
			victim := env.Signup(t, "victim@example.com", "correct horse")
			db := env.Store.DB()
			for _, stmt := range []string{
				`CREATE FUNCTION auth.test_pause() RETURNS trigger LANGUAGE plpgsql AS $$
				 BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NULL; END $$`,
				`CREATE TRIGGER test_pause AFTER INSERT ON auth.sessions FOR EACH ROW
				 WHEN (NEW.description = 'paused') EXECUTE FUNCTION auth.test_pause()`,
			} {
				if _, err := db.Exec(stmt); err != nil {
					t.Fatal(err)
				}
			}
			conn, err := db.Conn(bg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.ExecContext(bg, `SELECT pg_advisory_lock(4242)`); err != nil {
				t.Fatal(err)
			}
			type outcome struct {
				p   *auth.AuthPayload
				err error
			}
			signedIn := make(chan outcome, 1)
			go func() {
				d := "paused"
				p, err := env.Service.Login(from("203.0.113.66"), "victim@example.com", "correct horse", &d)
				signedIn <- outcome{p, err}
			}()
			waitForLockWaiters(t, env, 1, "the sign-in")
			revoked := make(chan []string, 1)
			go func() { revoked <- tc.event(t, env, victim) }()
			waitForLockWaiters(t, env, 2, "the revoking event")
			if _, err := conn.ExecContext(bg, `SELECT pg_advisory_unlock(4242)`); err != nil {
				t.Fatal(err)
			}
			got, kept := <-signedIn, <-revoked
			if got.err != nil {
				t.Fatalf("the sign-in, which came first, failed: %v", got.err)
			}
			p := got.p
			wantDeadEverywhere(t, env, p)
			var revokedAt *time.Time
			err = db.Get(&revokedAt, `SELECT revoked_at FROM auth.sessions WHERE id = $1`, p.SessionID)
			switch {
			case tc.name == "user delete":
				// The session went with its user (and the tombstone keeps its tokens dead).
				if !errors.Is(err, sql.ErrNoRows) {
					t.Errorf("the deleted user's session is still there (%v)", err)
				}
			case err != nil || revokedAt == nil:
				t.Errorf("the sign-in's session is not marked revoked (%v)", err)
			}
			if live := liveSessions(t, env, victim.User.ID); !slices.Equal(live, kept) {
				t.Fatalf("live sessions %v, want only %v", live, kept)
			}
		})
	}
}
