package bench

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// wireServer counts the connections it accepts.
func wireServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestWireClientKeepsOneConnection(t *testing.T) {
	srv, conns := wireServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", r.Header.Get("X-Action-Secret")+"|"+r.Header.Get("Content-Type"))
		_, _ = w.Write([]byte(r.Method + " " + r.URL.Path + " " + string(body)))
	})
	c, err := newWireClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range 3 {
		res, err := c.do(ctx, http.MethodPost, "/actions", []byte(`{"a":1}`), "X-Action-Secret", "s3cret")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if res.status != 200 || string(res.body) != `POST /actions {"a":1}` {
			t.Fatalf("request %d: %d %q", i, res.status, res.body)
		}
	}
	res, err := c.do(ctx, http.MethodGet, "/hasura/auth", nil, "Authorization", "Bearer x")
	if err != nil || string(res.body) != "GET /hasura/auth " {
		t.Fatalf("GET: %v %q", err, res.body)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 4 requests, want 1 kept alive", n)
	}
}

// A chunked answer (net/http chunks bodies over 2 KB written in pieces) is
// read whole, and the connection stays usable.
func TestWireClientReadsChunkedAnswers(t *testing.T) {
	big := strings.Repeat("x", 5000)
	srv, conns := wireServer(t, func(w http.ResponseWriter, r *http.Request) {
		for range 2 {
			_, _ = w.Write([]byte(big))
			w.(http.Flusher).Flush()
		}
	})
	c, _ := newWireClient(srv.URL)
	defer c.close()
	for range 2 {
		res, err := c.do(context.Background(), http.MethodPost, "/graphql", []byte("{}"))
		if err != nil || len(res.body) != 10000 {
			t.Fatalf("got %d bytes, %v", len(res.body), err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

// When the server has closed the idle connection, the request goes out
// again on a new one instead of failing.
func TestWireClientRedialsAfterServerClosedIdleConnection(t *testing.T) {
	srv, conns := wireServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	c, _ := newWireClient(srv.URL)
	defer c.close()
	if _, err := c.do(context.Background(), http.MethodGet, "/", nil); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
	res, err := c.do(context.Background(), http.MethodGet, "/", nil)
	if err != nil || string(res.body) != "ok" {
		t.Fatalf("after the server closed the connection: %v %q", err, res.body)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestWireClientTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv, _ := wireServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	c, _ := newWireClient(srv.URL)
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.do(ctx, http.MethodGet, "/", nil)
	if code := transportCode(err); code != "TIMEOUT" {
		t.Fatalf("code %q for %v, want TIMEOUT", code, err)
	}
	if c.conn != nil {
		t.Fatal("a timed-out connection was kept: its late answer would be read as the next one's")
	}
}

func TestWireClientOnlyTalksToLoopback(t *testing.T) {
	for _, base := range []string{"http://10.0.0.1:8080", "http://example.com:80", "https://127.0.0.1:1", "127.0.0.1:80"} {
		if _, err := newWireClient(base); err == nil {
			t.Errorf("newWireClient(%q) accepted", base)
		}
	}
}
