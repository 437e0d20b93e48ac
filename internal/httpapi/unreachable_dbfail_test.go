//go:build unix

package httpapi_test

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authgate/internal/authtest"
	"authgate/internal/pgtest"
)

// faultProxy relays TCP connections to a PostgreSQL server until it is
// partitioned: then nothing passes either way, on the connections that were
// open and on new ones (which it accepts and holds), as a client sees a
// network partition or a hung server. On healing, every connection that
// lived through the partition is dropped, as a long partition's are; new
// connections work again.
type faultProxy struct {
	ln       net.Listener
	upstream string

	mu          sync.Mutex
	partitioned bool
	links       []*link    // relayed connections
	held        []net.Conn // accepted during the partition, never relayed
}

// link is one relayed connection; a doomed one relays nothing more.
type link struct {
	client, server net.Conn
	doomed         atomic.Bool
}

func startFaultProxy(t *testing.T, upstream string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, upstream: upstream}
	t.Cleanup(func() {
		ln.Close()
		p.heal()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range p.links {
			l.client.Close()
			l.server.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(c)
		}
	}()
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) relay(client net.Conn) {
	p.mu.Lock()
	if p.partitioned {
		p.held = append(p.held, client)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		client.Close()
		return
	}
	l := &link{client: client, server: server}
	p.mu.Lock()
	p.links = append(p.links, l)
	p.mu.Unlock()
	copyUnlessDoomed := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && !l.doomed.Load() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					err = werr
				}
			}
			if err != nil {
				if !l.doomed.Load() {
					client.Close()
					server.Close()
				}
				return
			}
		}
	}
	go copyUnlessDoomed(server, client)
	go copyUnlessDoomed(client, server)
}

// partition stops all traffic.
func (p *faultProxy) partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partitioned = true
	for _, l := range p.links {
		l.doomed.Store(true)
	}
}

// heal drops every connection the partition caught and relays new ones.
func (p *faultProxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partitioned = false
	live := p.links[:0]
	for _, l := range p.links {
		if l.doomed.Load() {
			l.client.Close()
			l.server.Close()
		} else {
			live = append(live, l)
		}
	}
	p.links = live
	for _, c := range p.held {
		c.Close()
	}
	p.held = nil
}

// TestUnreachableDatabaseAnswersUnavailableInTime cuts the network between
// authgate and PostgreSQL while the pool holds live connections: nothing
// arrives, nothing fails, the server just never answers, the case where
// lib/pq alone would wait for TCP keepalive to give up (minutes). Every
// login and refresh must answer UNAVAILABLE within the request timeout,
// /readyz must go red within its own bound, nothing is written, and once
// the network heals the old refresh token works.
func TestUnreachableDatabaseAnswersUnavailableInTime(t *testing.T) {
	t.Parallel()
	databaseURL := pgtest.NewDatabase(t)
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startFaultProxy(t, u.Host)
	u.Host = proxy.addr()
	const timeout = time.Second
	bound := timeout + time.Second
	s := newDBFailServer(t, u.String(), timeout)
	const pw = "correct horse battery"
	p, err := s.svc.Signup(context.Background(), "ursula@example.com", pw, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Connections in the pool, as in a running service.
	a := s.call("actions", "refreshToken", map[string]any{"refreshToken": p.RefreshToken})
	if a.outcome != succeeded {
		t.Fatalf("refresh before the partition: %s", a.detail)
	}
	last := a.token

	proxy.partition()
	start := time.Now()
	if got := s.status("/readyz"); got != http.StatusServiceUnavailable || time.Since(start) > 2*time.Second+time.Second {
		t.Errorf("/readyz during the partition: %d after %s, want 503 within 3s", got, time.Since(start))
	}
	for range 2 { // the second round meets connections opened during the partition
		var wg sync.WaitGroup
		for _, door := range []string{"graphql", "actions"} {
			for op, input := range map[string]map[string]any{
				"refreshToken": {"refreshToken": last},
				"login":        {"identifier": "ursula@example.com", "password": pw},
			} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if a := s.call(door, op, input); a.outcome != unavailable || a.took > bound {
						t.Errorf("%s %s during the partition: outcome %d after %s (%s), want UNAVAILABLE within %s",
							door, op, a.outcome, a.took.Round(time.Millisecond), a.detail, bound)
					}
				}()
			}
		}
		wg.Wait()
	}

	proxy.heal()
	s.waitStatus(t, "/readyz", http.StatusOK, 10*time.Second)
	db, err := sql.Open("postgres", databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var generation, sessions int64
	if err := db.QueryRow(`SELECT (SELECT generation FROM auth.sessions WHERE id = $1),
		(SELECT count(*) FROM auth.sessions WHERE user_id = $2)`, p.SessionID, p.User.ID).Scan(&generation, &sessions); err != nil {
		t.Fatal(err)
	}
	if generation != authtest.Generation(s.keys, last) || sessions != 1 {
		t.Errorf("requests refused during the partition wrote: the token moved %v, %d sessions", generation != authtest.Generation(s.keys, last), sessions)
	}
	if a := s.call("actions", "refreshToken", map[string]any{"refreshToken": last}); a.outcome != succeeded || !s.keys.Follows(last, a.token) {
		t.Errorf("the old token after the partition healed: %s", a.detail)
	}
}
