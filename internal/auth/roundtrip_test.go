package auth_test

import (
	"crypto/rand"
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/pgtest"
	"authgate/internal/store"
)

// Every refresh outcome costs exactly one database round trip: the whole
// decision and its writes are one statement.
func TestEveryRefreshIsOneDatabaseRoundTrip(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	db, counter := pgtest.CountingDB(t, env.DatabaseURL)
	svc := auth.New(store.New(db), env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, env.Config)
	if err := svc.RecordAccessTokenLifetime(bg); err != nil { // as serve does before it serves
		t.Fatal(err)
	}
	p := env.Signup(t, "a@example.com", "correct horse")
	if err := db.Ping(); err != nil { // open the connection outside the count
		t.Fatal(err)
	}

	refresh := func(name, tok string) *auth.AuthPayload {
		t.Helper()
		before := counter.Load()
		next, _ := svc.Refresh(bg, tok)
		if n := counter.Load() - before; n != 1 {
			t.Fatalf("%s: %d round trips, want 1", name, n)
		}
		return next
	}
	next := refresh("rotation", p.RefreshToken)
	refresh("grace replay", p.RefreshToken)
	refresh("rotation again", next.RefreshToken)
	env.Clock.Advance(authtest.DefaultConfig().RefreshReuseGrace)
	refresh("reuse detected", p.RefreshToken)
	refresh("unknown token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
}

// With preparation on, sign-in, refresh and the session list run only
// prepared statements: PostgreSQL plans none of them again.
func TestRequestPathRunsPreparedStatements(t *testing.T) {
	for _, prepare := range []bool{true, false} {
		env := authtest.New(t, auth.Config{})
		db, counter := pgtest.CountingDB(t, env.DatabaseURL)
		st := store.New(db)
		if prepare {
			if err := st.PrepareStatements(bg); err != nil {
				t.Fatal(err)
			}
		}
		svc := auth.New(st, env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, env.Config)
		env.Signup(t, "a@example.com", "correct horse")
		if err := svc.RecordAccessTokenLifetime(bg); err != nil { // as serve does before it serves
			t.Fatal(err)
		}

		before, preparedBefore := counter.Load(), counter.PreparedRuns()
		p, err := svc.Login(bg, "a@example.com", "correct horse", nil)
		if err != nil {
			t.Fatal(err)
		}
		next, err := svc.Refresh(bg, p.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		v, err := svc.Authenticate(bg, next.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.MySessions(auth.WithPrincipal(bg, auth.PrincipalOf(v))); err != nil {
			t.Fatal(err)
		}
		runs, preparedRuns := counter.Load()-before, counter.PreparedRuns()-preparedBefore
		want := int64(0)
		if prepare {
			want = runs
		}
		if runs != 4 || preparedRuns != want {
			t.Fatalf("prepare=%v: %d round trips, %d of them prepared; want 4 and %d", prepare, runs, preparedRuns, want)
		}
	}
}
