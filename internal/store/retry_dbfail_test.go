package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/store"
)

// writePath is one service operation that writes, with the table and
// event of a statement it runs (where a trigger injects conflicts).
type writePath struct {
	name  string
	event string // "INSERT ON auth.sessions", ...
	// run performs the operation for a user signed up as email with
	// retryPassword, whose session is p; it returns the operation's error.
	run func(env *authtest.Env, email string, p *auth.AuthPayload) error
}

const retryPassword = "correct horse battery"

var writePaths = []writePath{
	{"refresh", "UPDATE ON auth.sessions", func(env *authtest.Env, _ string, p *auth.AuthPayload) error {
		_, err := env.Service.Refresh(context.Background(), p.RefreshToken)
		return err
	}},
	{"login", "INSERT ON auth.sessions", func(env *authtest.Env, email string, _ *auth.AuthPayload) error {
		_, err := env.Service.Login(context.Background(), email, retryPassword, nil)
		return err
	}},
	{"signup", "INSERT ON auth.users", func(env *authtest.Env, email string, _ *auth.AuthPayload) error {
		_, err := env.Service.Signup(context.Background(), "new-"+email, retryPassword, nil)
		return err
	}},
	{"logout", "UPDATE ON auth.sessions", func(env *authtest.Env, _ string, p *auth.AuthPayload) error {
		_, err := env.Service.Revoke(context.Background(), p.RefreshToken)
		return err
	}},
	{"revoke one session", "UPDATE ON auth.sessions", func(env *authtest.Env, _ string, p *auth.AuthPayload) error {
		_, err := env.Service.RevokeSession(authtest.As(p), p.SessionID)
		return err
	}},
	{"revoke all sessions", "UPDATE ON auth.users", func(env *authtest.Env, _ string, p *auth.AuthPayload) error {
		_, err := env.Service.RevokeAllSessions(authtest.As(p))
		return err
	}},
	// A transaction (withTx): the conflict hits its last statement, after
	// the password hash changed, so the whole transaction runs again.
	{"change password", "INSERT ON auth.sessions", func(env *authtest.Env, _ string, p *auth.AuthPayload) error {
		_, err := env.Service.ChangePassword(authtest.As(p), retryPassword, "another horse battery")
		return err
	}},
	{"revoke an access token", "INSERT ON auth.revoked_access_tokens", func(env *authtest.Env, _ string, p *auth.AuthPayload) error {
		v, err := env.Service.Authenticate(context.Background(), p.AccessToken)
		if err != nil {
			return err
		}
		_, err = env.Service.RevokeAccessToken(auth.WithPrincipal(context.Background(), auth.PrincipalOf(v)))
		return err
	}},
	{"set roles", "UPDATE ON auth.users", func(env *authtest.Env, email string, _ *auth.AuthPayload) error {
		return env.Service.SetUserRoles(context.Background(), email, "user", []string{"user", "editor"})
	}},
	{"disable", "UPDATE ON auth.users", func(env *authtest.Env, email string, _ *auth.AuthPayload) error {
		return env.Service.SetUserDisabled(context.Background(), email, true)
	}},
}

// TestWritesAreRetriedOnSerializationFailures injects serialization
// failures and deadlocks into every write path with a trigger that raises
// them a set number of times (counted by a sequence, which rollbacks do not
// undo): up to MaxAttempts-1 of them are absorbed by retries; one more makes
// the operation answer UNAVAILABLE, having written nothing. The cases of
// one code share a database, one after the other (the trigger is
// database-wide), each with its own user.
func TestWritesAreRetriedOnSerializationFailures(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"40001", "40P01"} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			env := authtest.New(t, auth.Config{})
			db := superuser(t, env.DatabaseURL)
			for i, path := range writePaths {
				for _, failures := range []int{store.MaxAttempts - 1, store.MaxAttempts} {
					t.Run(fmt.Sprintf("%s, %d conflicts", path.name, failures), func(t *testing.T) {
						email := fmt.Sprintf("user%d-%d@example.com", i, failures)
						env.Clock.Advance(time.Minute) // earlier cut-offs lie behind
						p := env.Signup(t, email, retryPassword)
						env.Clock.Advance(time.Minute)
						injectConflicts(t, db, path.event, code, failures)
						defer mustExec(t, db, `DROP TRIGGER IF EXISTS authgate_test_conflict ON `+table(path.event),
							`DROP FUNCTION public.authgate_test_conflict()`, `DROP SEQUENCE public.authgate_test_attempts`)
						before := fingerprint(t, db)

						err := path.run(env, email, p)
						attempts := injectedAttempts(t, db)
						if failures < store.MaxAttempts {
							if err != nil {
								t.Fatalf("%d conflicts were not absorbed: %v", failures, err)
							}
							if attempts != failures+1 {
								t.Errorf("ran %d times, want %d", attempts, failures+1)
							}
							return
						}
						if auth.CodeOf(err) != auth.CodeUnavailable {
							t.Fatalf("after %d conflicts: %v, want UNAVAILABLE", failures, err)
						}
						if attempts != store.MaxAttempts {
							t.Errorf("ran %d times, want %d", attempts, store.MaxAttempts)
						}
						if after := fingerprint(t, db); after != before {
							t.Errorf("an operation that answered UNAVAILABLE wrote something")
						}
						// Once the conflicts stop, the operation works:
						// nothing was half done.
						mustExec(t, db, `DROP TRIGGER authgate_test_conflict ON `+table(path.event))
						if err := path.run(env, email, p); err != nil {
							t.Errorf("after the conflicts ended: %v", err)
						}
					})
				}
			}
		})
	}
}

// TestRefreshesUnderSerializableIsolationAllSucceed runs the rotation where
// an administrator made SERIALIZABLE the database's default (a Hasura
// database may): concurrent refreshes of one token then fail with real
// serialization failures, which the retries absorb.
func TestRefreshesUnderSerializableIsolationAllSucceed(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	db := superuser(t, env.DatabaseURL)
	var name string
	if err := db.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	p := env.Signup(t, "rita@example.com", retryPassword)
	mustExec(t, db, `ALTER DATABASE "`+name+`" SET default_transaction_isolation = 'serializable'`)
	// New connections see the new default.
	st, err := store.Open(context.Background(), env.DatabaseURL, store.PoolConfig{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var iso string
	if err := st.DB().QueryRow(`SHOW transaction_isolation`).Scan(&iso); err != nil || iso != "serializable" {
		t.Fatalf("isolation %q (%v), want serializable", iso, err)
	}
	// One client's tabs, as many as the replay rule lets through at once:
	// one rotates, the others replay. A replay writes the row (its count),
	// so under SERIALIZABLE each refresh fails once for every other one
	// that commits before it: at most clients-1 retries, fewer than
	// MaxAttempts.
	clients := env.Config.RefreshReplayLimit + 1
	if clients >= store.MaxAttempts+1 {
		t.Fatalf("%d clients could need more than %d attempts", clients, store.MaxAttempts)
	}
	svc := auth.New(st, nil, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, env.Config)

	var wg sync.WaitGroup
	// Open every connection first, so that the refreshes overlap.
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = st.DB().Exec(`SELECT pg_sleep(0.1)`)
		}()
	}
	wg.Wait()
	results := make([]error, clients)
	tokens := make([]string, clients)
	start := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			q, err := svc.Refresh(context.Background(), p.RefreshToken)
			results[i] = err
			if err == nil {
				tokens[i] = q.RefreshToken
			}
		}()
	}
	close(start)
	wg.Wait()
	want := env.Successor(t, p.RefreshToken)
	for i, err := range results {
		if err != nil {
			t.Errorf("refresh %d: %v", i, err)
		} else if tokens[i] != want {
			t.Errorf("refresh %d gave another successor: the session forked", i)
		}
	}
	if !env.Current(t, want) {
		t.Errorf("the session's token is not the one every client got")
	}
}

// injectConflicts makes the first n statements with event fail with code.
func injectConflicts(t *testing.T, db *sql.DB, event, code string, n int) {
	t.Helper()
	mustExec(t, db,
		`CREATE SEQUENCE public.authgate_test_attempts`,
		fmt.Sprintf(`CREATE FUNCTION public.authgate_test_conflict() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('public.authgate_test_attempts') <= %d THEN
        RAISE EXCEPTION 'injected conflict' USING ERRCODE = '%s';
    END IF;
    RETURN NULL;
END $$`, n, code),
		`CREATE TRIGGER authgate_test_conflict BEFORE `+event+` FOR EACH STATEMENT EXECUTE FUNCTION public.authgate_test_conflict()`)
}

// injectedAttempts is how many statements reached the trigger.
func injectedAttempts(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	var called bool
	if err := db.QueryRow(`SELECT last_value, is_called FROM public.authgate_test_attempts`).Scan(&n, &called); err != nil {
		t.Fatal(err)
	}
	if !called {
		return 0
	}
	return n
}

// table is the table of an event like "INSERT ON auth.sessions".
func table(event string) string {
	var verb, on, name string
	fmt.Sscan(event, &verb, &on, &name)
	return name
}

// fingerprint summarises every row the write paths touch.
func fingerprint(t *testing.T, db *sql.DB) string {
	t.Helper()
	var sum string
	err := db.QueryRow(`SELECT md5(coalesce(string_agg(r, ',' ORDER BY r), '')) FROM (
		SELECT row(u.*)::text AS r FROM auth.users u
		UNION ALL SELECT row(s.*)::text FROM auth.sessions s
		UNION ALL SELECT row(x.*)::text FROM auth.retired_refresh_tokens x
		UNION ALL SELECT row(j.*)::text FROM auth.revoked_access_tokens j) rows`).Scan(&sum)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}
