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
// opened it relays new connections to upstream. While frozen, relayed
// connections carry nothing either way but stay open, as in a network
// partition.
type gate struct {
	ln       net.Listener
	upstream string
	open     atomic.Bool
	mu       sync.Mutex
	conns    []net.Conn
	thawed   chan struct{} // closed while not frozen
}

// freeze holds every byte on relayed connections until thaw.
func (g *gate) freeze() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.thawed = make(chan struct{})
}

// thaw lets held and new bytes through.
func (g *gate) thaw() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.thawed)
}

func (g *gate) relay(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			g.mu.Lock()
			thawed := g.thawed
			g.mu.Unlock()
			<-thawed
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func startGate(t *testing.T, upstream string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, upstream: upstream, thawed: make(chan struct{})}
	close(g.thawed)
	t.Cleanup(func() {
		ln.Close()
		g.mu.Lock()
		select {
		case <-g.thawed:
		default:
			close(g.thawed)
		}
		g.mu.Unlock()
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
			go g.relay(server, client)
			go g.relay(client, server)
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
	_, err = env.Service.PrincipalFromHasura(bg, auth.HasuraCaller{UserID: p.User.ID, SessionID: p.SessionID})
	wantCode(t, err, auth.CodeUnauthenticated)
	wantAuthenticated(t, env, q.AccessToken)
	if _, err := env.Service.PrincipalFromHasura(bg, auth.HasuraCaller{UserID: q.User.ID, SessionID: q.SessionID}); err != nil {
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
	_, err = svc.PrincipalFromHasura(bg, auth.HasuraCaller{UserID: p.User.ID, SessionID: p.SessionID})
	wantCode(t, err, auth.CodeUnavailable)
	_, err = svc.HasuraWebhookSession(bg, auth.WebhookRequest{AccessToken: p.AccessToken, TokenPresented: true}, auth.WebhookPolicy{MaxCache: time.Minute})
	wantCode(t, err, auth.CodeUnavailable)
	// A token that is no good is still just that.
	_, err = svc.Authenticate(bg, "garbage")
	wantCode(t, err, auth.CodeUnauthenticated)
}

// waitFor waits, up to limit, for cond to hold, looking every 10 ms.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("not %s within %s", what, limit)
		}
	}
}

// A listening connection cut without a reset looks healthy to lib/pq for
// minutes: a ping still unanswered at the next tick marks the state not
// current (checks go to the database), and once pings are answered again
// the feed reloads and the state is current again.
func TestUnansweredPingMarksTheFeedDownUntilItAnswers(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	g := startGate(t, upstreamOf(t, env.DatabaseURL))
	g.open.Store(true)
	feed := revocation.NewFeed(env.Revocations, env.Store, env.Clock, g.via(t, env.DatabaseURL), slog.New(slog.NewTextHandler(io.Discard, nil)))
	feed.PingInterval = 50 * time.Millisecond
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
	waitFor(t, 10*time.Second, "current", env.Service.RevocationsCurrent)

	g.freeze()
	waitFor(t, 10*time.Second, "marked down", func() bool { return !env.Service.RevocationsCurrent() })
	revokeWithoutNotice(t, env, p.SessionID) // the notice could not arrive anyway
	wantRefused(t, env, p.AccessToken)

	g.thaw()
	waitFor(t, 10*time.Second, "current again", env.Service.RevocationsCurrent)
	wantRefused(t, env, p.AccessToken)
}
