package auth_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/revocation"
	"authgate/internal/store"
)

// gate stands between a client and PostgreSQL: while shut it refuses every
// connection (accepts and closes it, as a server that is down does); once
// opened it relays new connections to upstream.
type gate struct {
	ln       net.Listener
	upstream string
	open     atomic.Bool
	mu       sync.Mutex
	conns    []net.Conn
}

func startGate(t *testing.T, upstream string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, upstream: upstream}
	t.Cleanup(func() {
		ln.Close()
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, c := range g.conns {
			c.Close()
		}
	})
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			if !g.open.Load() {
				client.Close()
				continue
			}
			server, err := net.Dial("tcp", upstream)
			if err != nil {
				client.Close()
				continue
			}
			g.mu.Lock()
			g.conns = append(g.conns, client, server)
			g.mu.Unlock()
			go func() { _, _ = io.Copy(server, client); server.Close() }()
			go func() { _, _ = io.Copy(client, server); client.Close() }()
		}
	}()
	return g
}

// via returns databaseURL with its host replaced by the gate's address.
func (g *gate) via(t *testing.T, databaseURL string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = g.ln.Addr().String()
	return u.String()
}

func upstreamOf(t *testing.T, databaseURL string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// revokeWithoutNotice ends a session as another instance would, its
// notification lost: only the database knows.
func revokeWithoutNotice(t *testing.T, env *authtest.Env, sessionID string) {
	t.Helper()
	if _, err := env.Store.DB().Exec(`UPDATE auth.sessions SET revoked_at = $2 WHERE id = $1`, sessionID, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
}

// Issue 11 item 4: while the feed's listening connection cannot connect,
// the in-memory state is not current and every check asks the database;
// once the connection comes up, the feed reloads and checks go back to
// memory.
func TestFeedDownChecksTheDatabaseUntilItIsBackAndReloaded(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	q, err := env.Service.Login(bg, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	g := startGate(t, upstreamOf(t, env.DatabaseURL))
	feed := revocation.NewFeed(env.Revocations, env.Store, env.Clock, g.via(t, env.DatabaseURL), slog.New(slog.NewTextHandler(io.Discard, nil)))
	reloads := make(chan struct{}, 16)
	feed.Reloaded = func() { reloads <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = feed.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("feed.Run had not returned 10 s after its context ended")
		}
	})

	if env.Service.RevocationsCurrent() {
		t.Fatal("the state counts as current before its feed has connected")
	}
	revokeWithoutNotice(t, env, p.SessionID)
	wantRefused(t, env, p.AccessToken)
	_, err = env.Service.PrincipalFromHasura(bg, p.User.ID, p.SessionID)
	wantCode(t, err, auth.CodeUnauthenticated)
	wantAuthenticated(t, env, q.AccessToken)
	if _, err := env.Service.PrincipalFromHasura(bg, q.User.ID, q.SessionID); err != nil {
		t.Fatalf("a live session's action: %v", err)
	}

	g.open.Store(true)
	select {
	case <-reloads:
	case <-time.After(10 * time.Second):
		t.Fatal("no reload after the listening connection came up")
	}
	if !env.Service.RevocationsCurrent() {
		t.Fatal("not current after connecting and reloading")
	}
	wantRefused(t, env, p.AccessToken) // reloaded into memory
	// Back in memory: a revocation whose notice is lost is not seen, which
	// is how one can tell no query was made.
	revokeWithoutNotice(t, env, q.SessionID)
	wantAuthenticated(t, env, q.AccessToken)
}

// With the feed down and the database unreachable too, nothing is waved
// through on a state that may be stale: bearer checks and actions answer
// UNAVAILABLE.
func TestFeedAndDatabaseBothDownRefuseWithUnavailable(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	down := startGate(t, upstreamOf(t, env.DatabaseURL)) // never opened
	db, err := sqlx.Open("postgres", down.via(t, env.DatabaseURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	state := revocation.NewState(env.Issuer.TTL(), 0)
	// A feed that has not connected: the state is not current.
	revocation.NewFeed(state, store.New(db), env.Clock, down.via(t, env.DatabaseURL), slog.New(slog.NewTextHandler(io.Discard, nil)))
	svc := auth.New(store.New(db), state, env.Issuer, env.Hasher, env.Keys, env.Clock, nil, env.Config)

	_, err = svc.Authenticate(bg, p.AccessToken)
	wantCode(t, err, auth.CodeUnavailable)
	_, err = svc.PrincipalFromHasura(bg, p.User.ID, p.SessionID)
	wantCode(t, err, auth.CodeUnavailable)
	_, err = svc.HasuraWebhookSession(bg, p.AccessToken, "", time.Minute)
	wantCode(t, err, auth.CodeUnavailable)
	// A token that is no good is still just that.
	_, err = svc.Authenticate(bg, "garbage")
	wantCode(t, err, auth.CodeUnauthenticated)
}
