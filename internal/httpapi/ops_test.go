package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
)

// serve serves httpapi.New with cfg over env, with the given GraphQL
// handler (the real one when nil) and Pinger (env's store when nil).
func serve(t *testing.T, env *authtest.Env, cfg httpapi.Config, gql http.Handler, db httpapi.Pinger) *server {
	t.Helper()
	if gql == nil {
		gql = graph.NewServer(env.Service, graph.Options{})
	}
	if db == nil {
		db = env.Store
	}
	h := httpapi.New(cfg, env.Service, gql, db, discardLogger())
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &server{env: env, url: ts.URL, h: h}
}

// TestForwardedForIsBelievedOnlyFromTrustedProxies signs in through servers
// that trust different proxies (httptest peers are 127.0.0.1) and checks
// the IP recorded on the session.
func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	const pw = "correct horse battery"
	env.Signup(t, "uma@example.com", pw)
	loopback := netip.MustParsePrefix("127.0.0.1/32")
	private := netip.MustParsePrefix("10.0.0.0/8")

	cases := []struct {
		name    string
		trusted []netip.Prefix
		xff     []string // one X-Forwarded-For header per entry
		want    string
	}{
		{"no trusted proxies: the header is ignored", nil, []string{"203.0.113.7"}, "127.0.0.1"},
		{"peer not among the trusted proxies: the header is ignored", []netip.Prefix{private}, []string{"203.0.113.7"}, "127.0.0.1"},
		{"trusted peer: its client is believed", []netip.Prefix{loopback}, []string{"203.0.113.7"}, "203.0.113.7"},
		{"trusted peer: a spoofed leftmost entry is not believed", []netip.Prefix{loopback}, []string{"6.6.6.6, 203.0.113.7"}, "203.0.113.7"},
		{"trusted peer: spoofed entries in an earlier header are not believed", []netip.Prefix{loopback}, []string{"6.6.6.6", "203.0.113.7"}, "203.0.113.7"},
		{"a chain of trusted proxies is walked past", []netip.Prefix{loopback, private}, []string{"6.6.6.6, 203.0.113.7, 10.1.2.3"}, "203.0.113.7"},
		{"trusted peer without the header: the peer", []netip.Prefix{loopback}, nil, "127.0.0.1"},
		{"trusted peer, garbage nearest entry: the peer", []netip.Prefix{loopback}, []string{"6.6.6.6, not-an-ip"}, "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, env, httpapi.Config{TrustedProxies: tc.trusted}, nil, nil)
			p := s.login(t, "uma@example.com", pw, forwardedFor(tc.xff...)...)
			if got := s.recordedIP(t, p); got != tc.want {
				t.Errorf("recorded ip = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestClientAddressThroughHasura: Hasura forwards the client's headers to an
// action and appends nothing to X-Forwarded-For: it adds only
// X-Forwarded-Host, -User-Agent and -Origin (Hasura's Server/Utils.hs,
// mkClientHeadersForward). So through Hasura the header is whatever the
// client wrote, unless a proxy in front of Hasura appended the real address.
// authgate records Hasura's own address by default, even when Hasura is
// among AUTHGATE_TRUSTED_PROXIES (as the README once advised), and takes
// the N-th entry from the right with AUTHGATE_TRUSTED_PROXY_HOPS=N.
func TestClientAddressThroughHasura(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	const pw = "correct horse battery"
	env.Signup(t, "uma@example.com", pw)
	loopback := netip.MustParsePrefix("127.0.0.1/32") // the test's "Hasura"

	cases := []struct {
		name    string
		trusted []netip.Prefix
		hops    int
		xff     []string
		want    string
	}{
		{"default: Hasura's address, whatever the client wrote", nil, 0, []string{"6.6.6.6"}, "127.0.0.1"},
		{"Hasura trusted as a proxy: still Hasura's address", []netip.Prefix{loopback}, 0, []string{"6.6.6.6"}, "127.0.0.1"},
		{"one proxy in front of Hasura: its appended entry", nil, 1, []string{"6.6.6.6, 203.0.113.7"}, "203.0.113.7"},
		{"one proxy, entries across headers", []netip.Prefix{loopback}, 1, []string{"6.6.6.6", "203.0.113.7"}, "203.0.113.7"},
		{"two proxies: the second from the right", nil, 2, []string{"6.6.6.6, 203.0.113.7, 10.0.0.5"}, "203.0.113.7"},
		{"fewer entries than proxies: Hasura's address", nil, 2, []string{"203.0.113.7"}, "127.0.0.1"},
		{"a garbage entry where the proxy's should be: Hasura's address", nil, 1, []string{"203.0.113.7, nonsense"}, "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, env, httpapi.Config{ActionSecret: actionSecret, TrustedProxies: tc.trusted, TrustedProxyHops: tc.hops}, nil, nil)
			status, raw := s.action(t, "login", map[string]any{"identifier": "uma@example.com", "password": pw}, nil, forwardedFor(tc.xff...)...)
			var p payload
			if status != http.StatusOK {
				t.Fatalf("login action: %d %s", status, raw)
			}
			decodeJSON(t, raw, &p)
			if got := s.recordedIP(t, p); got != tc.want {
				t.Errorf("recorded ip = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestTrustedProxyHopsOnTheDirectDoors: without Hasura in between, hops count
// the same proxies (here two: the nearest one's address need not be listed
// in AUTHGATE_TRUSTED_PROXIES, as a cloud load balancer's often cannot be),
// and X-Forwarded-For is still read only from a peer among
// AUTHGATE_TRUSTED_PROXIES.
func TestTrustedProxyHopsOnTheDirectDoors(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	const pw = "correct horse battery"
	env.Signup(t, "uma@example.com", pw)
	loopback := netip.MustParsePrefix("127.0.0.1/32")
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		want    string
	}{
		{"trusted peer: the entry two hops from the right", []netip.Prefix{loopback}, "198.51.100.9"},
		{"untrusted peer: the peer", nil, "127.0.0.1"},
	} {
		s := serve(t, env, httpapi.Config{TrustedProxies: tc.trusted, TrustedProxyHops: 2}, nil, nil)
		p := s.login(t, "uma@example.com", pw, forwardedFor("6.6.6.6, 198.51.100.9, 10.0.0.5")...)
		if got := s.recordedIP(t, p); got != tc.want {
			t.Errorf("%s: recorded ip = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// forwardedFor is one X-Forwarded-For header per value, as name, value pairs.
func forwardedFor(values ...string) []string {
	var header []string
	for _, v := range values {
		header = append(header, "X-Forwarded-For", v)
	}
	return header
}

// recordedIP is the address recorded on p's session, as mySessions lists it
// ("<nil>" when none).
func (s *server) recordedIP(t *testing.T, p payload) string {
	t.Helper()
	for _, sess := range s.sessions(t, p.AccessToken) {
		if sess.ID == p.SessionID {
			if sess.IP == nil {
				return "<nil>"
			}
			return *sess.IP
		}
	}
	t.Fatalf("session %s not listed", p.SessionID)
	return ""
}

// failingPinger is a database that does not answer.
type failingPinger struct{}

func (failingPinger) Ping(context.Context) error { return errors.New("connection refused") }

// TestHealthEndpoints checks liveness, readiness with and without a
// database, and the playground.
func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	up := serve(t, env, httpapi.Config{}, nil, nil)
	down := serve(t, env, httpapi.Config{}, nil, failingPinger{})

	cases := []struct {
		name     string
		s        *server
		path     string
		want     int
		contains string
	}{
		{"healthz", up, "/healthz", http.StatusOK, `"ok"`},
		{"healthz with the database down", down, "/healthz", http.StatusOK, `"ok"`},
		{"readyz with the database", up, "/readyz", http.StatusOK, `"ok"`},
		{"readyz with the database down", down, "/readyz", http.StatusServiceUnavailable, "unavailable"},
		{"playground", up, "/", http.StatusOK, "<html"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, raw := tc.s.do(t, http.MethodGet, tc.path, nil)
			if status != tc.want || !strings.Contains(strings.ToLower(string(raw)), tc.contains) {
				t.Errorf("GET %s = %d %.200s, want %d containing %q", tc.path, status, raw, tc.want, tc.contains)
			}
			if strings.Contains(string(raw), "connection refused") {
				t.Errorf("readiness shows the database error: %s", raw)
			}
		})
	}
	resp := up.send(t, http.MethodGet, "/", nil)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("playground Content-Type = %q, want text/html", ct)
	}
}

// TestEveryResponseCarriesRequestIDAndNoSniff checks the headers on answers
// of every kind, errors and refusals included.
func TestEveryResponseCarriesRequestIDAndNoSniff(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := serve(t, env, httpapi.Config{ActionSecret: actionSecret}, nil, nil)
	panicking := serve(t, env, httpapi.Config{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), nil)
	big := make([]byte, httpapi.MaxBodyBytes+1)

	cases := []struct {
		name         string
		s            *server
		method, path string
		body         []byte
		header       []string
	}{
		{"healthz", s, http.MethodGet, "/healthz", nil, nil},
		{"readyz", s, http.MethodGet, "/readyz", nil, nil},
		{"playground", s, http.MethodGet, "/", nil, nil},
		{"graphql", s, http.MethodPost, "/graphql", graphQLBody(t, meQuery, nil), []string{"Content-Type", "application/json"}},
		{"graphql malformed", s, http.MethodPost, "/graphql", []byte("{"), []string{"Content-Type", "application/json"}},
		{"action without secret", s, http.MethodPost, "/actions", []byte("{}"), nil},
		{"action", s, http.MethodPost, "/actions", actionBody(t, "revoke", map[string]any{"refreshToken": "x"}, nil), []string{"X-Action-Secret", actionSecret}},
		{"body too large", s, http.MethodPost, "/graphql", big, []string{"Content-Type", "application/json"}},
		{"unknown path", s, http.MethodGet, "/nope", nil, nil},
		{"wrong method", s, http.MethodDelete, "/graphql", nil, nil},
		{"panic", panicking, http.MethodPost, "/graphql", graphQLBody(t, meQuery, nil), []string{"Content-Type", "application/json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.s.send(t, tc.method, tc.path, tc.body, tc.header...)
			resp.Body.Close()
			if resp.Header.Get("X-Request-Id") == "" {
				t.Errorf("%s %s (%d): no X-Request-Id", tc.method, tc.path, resp.StatusCode)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("%s %s (%d): X-Content-Type-Options = %q, want nosniff", tc.method, tc.path, resp.StatusCode, got)
			}
		})
	}

	t.Run("a sane incoming request id is kept, a hostile one replaced", func(t *testing.T) {
		for in, keep := range map[string]bool{"req-123.abc_X": true, strings.Repeat("a", 65): false, "<script>": false} {
			resp := s.send(t, http.MethodGet, "/healthz", nil, "X-Request-Id", in)
			resp.Body.Close()
			got := resp.Header.Get("X-Request-Id")
			if (got == in) != keep || got == "" {
				t.Errorf("incoming X-Request-Id %q answered as %q", in, got)
			}
		}
	})
}

// TestPanicsReachClientsAsInternal wraps GraphQL handler stubs that panic:
// the client gets a 500 with code INTERNAL and nothing of the panic.
func TestPanicsReachClientsAsInternal(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	cases := map[string]func(http.ResponseWriter, *http.Request){
		"panic with a string": func(http.ResponseWriter, *http.Request) { panic("boom: pq: secret detail") },
		"panic with an error": func(http.ResponseWriter, *http.Request) { panic(errors.New("boom: SQL detail")) },
		"nil map write": func(http.ResponseWriter, *http.Request) {
			var m map[string]int
			m["boom"]++
		},
	}
	for name, stub := range cases {
		t.Run(name, func(t *testing.T) {
			s := serve(t, env, httpapi.Config{}, http.HandlerFunc(stub), nil)
			status, raw := s.do(t, http.MethodPost, "/graphql", graphQLBody(t, meQuery, nil), "Content-Type", "application/json")
			if status != http.StatusInternalServerError {
				t.Errorf("status %d, want 500: %s", status, raw)
			}
			decodeGraphQL(t, status, raw).wantCode(t, auth.CodeInternal)
			for _, leak := range append(leaks, "boom", "runtime", "nil map") {
				if strings.Contains(string(raw), leak) {
					t.Errorf("answer shows %q: %s", leak, raw)
				}
			}
		})
	}
}
