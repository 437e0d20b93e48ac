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
