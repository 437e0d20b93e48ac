package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// TestRefreshFailingMidRotationChangesNothing injects a failure at every
// point of the rotation statement, after the session update and after the
// audit row included, and at the server process dying there.
// Because the rotation is one statement, each failure leaves the session
// exactly as it was: the old token still refreshes, to the same successor,
// once the failure is gone.
func TestRefreshFailingMidRotationChangesNothing(t *testing.T) {
	t.Parallel()
	const raise = `CREATE FUNCTION public.authgate_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'injected failure'; END $$`
	// The backend kills itself; pg_sleep lets the signal land before the
	// statement could finish.
	const die = `CREATE FUNCTION public.authgate_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(10); RETURN NEW; END $$`
	cases := []struct {
		name     string
		function string
		trigger  string // on table ... "ON" clause and timing
		table    string
		wantCode auth.Code // "" for any error
	}{
		{"the session update is refused", raise, `BEFORE UPDATE ON auth.sessions FOR EACH ROW`, "auth.sessions", ""},
		{"the session update fails after it was made", raise, `AFTER UPDATE ON auth.sessions FOR EACH ROW`, "auth.sessions", ""},
		{"the audit row is refused", raise, `BEFORE INSERT ON auth.audit_events FOR EACH ROW`, "auth.audit_events", ""},
		{"the audit row fails after both writes", raise, `AFTER INSERT ON auth.audit_events FOR EACH ROW`, "auth.audit_events", ""},
		{"the commit fails", raise, `AFTER UPDATE ON auth.sessions DEFERRABLE INITIALLY DEFERRED FOR EACH ROW`, "auth.sessions", ""},
		{"the server process dies after both writes", die, `AFTER INSERT ON auth.audit_events FOR EACH ROW`, "auth.audit_events", auth.CodeUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// With the refresh in the audit trail: the statement writes twice.
			cfg := authtest.DefaultConfig()
			cfg.AuditRefreshes = true
			env := authtest.New(t, cfg)
			db := superuser(t, env.DatabaseURL)
			ctx := context.Background()
			first := env.Signup(t, "ann@example.com", "correct horse battery")
			// One ordinary rotation first, so the session has history.
			env.Clock.Advance(time.Minute)
			second, err := env.Service.Refresh(ctx, first.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			before := sessionState(t, db, first.SessionID)

			constraint := ""
			if tc.name == "the commit fails" {
				constraint = "CONSTRAINT "
			}
			mustExec(t, db, tc.function,
				`CREATE `+constraint+`TRIGGER authgate_test_fail `+tc.trigger+` EXECUTE FUNCTION public.authgate_test_fail()`)
			env.Clock.Advance(time.Minute)
			p, err := env.Service.Refresh(ctx, second.RefreshToken)
			if err == nil {
				t.Fatalf("the refresh succeeded through the injected failure: %+v", p)
			}
			if tc.wantCode != "" && auth.CodeOf(err) != tc.wantCode {
				t.Errorf("the refresh failed with %v, want %s", err, tc.wantCode)
			}
			if after := sessionState(t, db, first.SessionID); after != before {
				t.Fatalf("a failed rotation changed the session:\nbefore %s\nafter  %s", before, after)
			}

			mustExec(t, db, `DROP TRIGGER authgate_test_fail ON `+tc.table)
			env.Clock.Advance(time.Minute)
			third, err := env.Service.Refresh(ctx, second.RefreshToken)
			if err != nil {
				t.Fatalf("the old token no longer refreshes after the failure: %v", err)
			}
			if third.RefreshToken != env.Successor(t, second.RefreshToken) || third.SessionID != first.SessionID {
				t.Fatalf("the refresh after the failure gave another session or successor")
			}
			var generation int
			if err := db.QueryRow(`SELECT generation FROM auth.sessions WHERE id = $1`, first.SessionID).Scan(&generation); err != nil {
				t.Fatal(err)
			}
			if !env.Current(t, third.RefreshToken) || generation != 2 {
				t.Errorf("after the retry the session holds another token, generation %d, want 2", generation)
			}
		})
	}
}

// sessionState is everything a rotation may change about a session.
func sessionState(t *testing.T, db *sql.DB, id string) string {
	t.Helper()
	var state string
	err := db.QueryRow(`SELECT row(s.*, (SELECT count(*) FROM auth.audit_events a WHERE a.session_id = s.id))::text
		FROM auth.sessions s WHERE s.id = $1`, id).Scan(&state)
	if err != nil {
		t.Fatal(err)
	}
	return state
}
