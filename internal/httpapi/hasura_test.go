package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
)

func TestJWKSIsPublishedWithAMaxAge(t *testing.T) {
	jwks := []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc","kid":"k1","alg":"EdDSA","use":"sig"}]}`)
	s := newServer(t, httpapi.Config{JWKS: jwks, JWKSMaxAge: 5 * time.Minute})
	resp := s.send(t, http.MethodGet, "/.well-known/jwks.json", nil)
	defer resp.Body.Close()
	var got json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || string(got) != string(jwks) {
		t.Fatalf("jwks body = %s, %v", got, err)
	}
	// Hasura never refreshes a JWKS served without max-age.
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Fatalf("Cache-Control = %q", cc)
	}
}

// hook calls the Hasura auth webhook in GET mode (client headers as headers)
// or POST mode (client headers in the body) and decodes the answer.
func (s *server) hook(t *testing.T, mode string, clientHeaders map[string]string) (int, string, map[string]string) {
	t.Helper()
	var resp *http.Response
	if mode == http.MethodGet {
		var h []string
		for k, v := range clientHeaders {
			h = append(h, k, v)
		}
		resp = s.send(t, http.MethodGet, "/hasura/auth", nil, h...)
	} else {
		body, _ := json.Marshal(map[string]any{"headers": clientHeaders, "request": map[string]any{"query": "{ x }"}})
		resp = s.send(t, http.MethodPost, "/hasura/auth", body, "Content-Type", "application/json")
	}
	defer resp.Body.Close()
	var vars map[string]string
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, resp.Header.Get("Cache-Control"), vars
}

func TestHasuraWebhookInBothModes(t *testing.T) {
	s := newServer(t, httpapi.Config{WebhookCache: 5 * time.Second})
	p := s.signup(t, "a@example.com", "correct horse")
	if err := s.env.Service.SetUserRoles(context.Background(), "a@example.com", "user", []string{"editor"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.env.Service.SetUserClaims(context.Background(), "a@example.com", map[string]string{"x-hasura-org-id": "7"}); err != nil {
		t.Fatal(err)
	}
	p = s.refresh(t, p.RefreshToken)

	for _, mode := range []string{http.MethodGet, http.MethodPost} {
		t.Run(mode, func(t *testing.T) {
			status, cc, vars := s.hook(t, mode, map[string]string{"Authorization": "Bearer " + p.AccessToken})
			if status != http.StatusOK || cc != "max-age=5" {
				t.Fatalf("status %d, Cache-Control %q", status, cc)
			}
			want := map[string]string{"X-Hasura-User-Id": p.User.ID, "X-Hasura-Role": "user",
				"X-Hasura-Session-Id": p.SessionID, "x-hasura-org-id": "7"}
			if fmt.Sprint(vars) != fmt.Sprint(want) {
				t.Fatalf("session variables = %v, want %v", vars, want)
			}
			// A requested role among the allowed ones is granted; header
			// names are case-insensitive in both modes.
			status, _, vars = s.hook(t, mode, map[string]string{"authorization": "Bearer " + p.AccessToken, "x-hasura-role": "editor"})
			if status != http.StatusOK || vars["X-Hasura-Role"] != "editor" {
				t.Fatalf("requested role: %d %v", status, vars)
			}
			for name, headers := range map[string]map[string]string{
				"no token":           {},
				"garbage token":      {"Authorization": "Bearer nope"},
				"refresh as bearer":  {"Authorization": "Bearer " + p.RefreshToken},
				"role not allowed":   {"Authorization": "Bearer " + p.AccessToken, "X-Hasura-Role": "admin"},
				"not a bearer token": {"Authorization": "Basic " + p.AccessToken},
			} {
				if status, _, _ := s.hook(t, mode, headers); status != http.StatusUnauthorized {
					t.Errorf("%s: status %d, want 401", name, status)
				}
			}
		})
	}

	// The cache never outlives the token.
	s.env.Clock.Advance(15*time.Minute - 3*time.Second)
	if _, cc, _ := s.hook(t, http.MethodGet, map[string]string{"Authorization": "Bearer " + p.AccessToken}); cc != "max-age=3" {
		t.Fatalf("near expiry Cache-Control = %q, want max-age=3", cc)
	}
	s.env.Clock.Advance(3 * time.Second)
	if status, _, _ := s.hook(t, http.MethodGet, map[string]string{"Authorization": "Bearer " + p.AccessToken}); status != http.StatusUnauthorized {
		t.Fatalf("expired token: status %d", status)
	}
}

func TestHasuraWebhookRefusesRevokedTokensAtOnce(t *testing.T) {
	s := newServer(t, httpapi.Config{WebhookCache: 5 * time.Second})
	p := s.signup(t, "a@example.com", "correct horse")
	sibling := s.refresh(t, p.RefreshToken)
	r := s.graphql(t, `mutation { revokeAccessToken }`, nil, bearer(p.AccessToken)...)
	if r.code(t) != "" {
		t.Fatalf("revokeAccessToken: %s", r.Body)
	}
	if status, _, _ := s.hook(t, http.MethodGet, map[string]string{"Authorization": "Bearer " + p.AccessToken}); status != http.StatusUnauthorized {
		t.Fatalf("revoked token: status %d", status)
	}
	if status, _, _ := s.hook(t, http.MethodGet, map[string]string{"Authorization": "Bearer " + sibling.AccessToken}); status != http.StatusOK {
		t.Fatalf("sibling token: status %d", status)
	}
	s.graphql(t, `mutation { revokeAllSessions }`, nil, bearer(sibling.AccessToken)...)
	if status, _, _ := s.hook(t, http.MethodPost, map[string]string{"Authorization": "Bearer " + sibling.AccessToken}); status != http.StatusUnauthorized {
		t.Fatalf("after revokeAllSessions: status %d", status)
	}
}

func (s *server) refresh(t *testing.T, token string) payload {
	t.Helper()
	var p payload
	s.graphql(t, refreshMutation, map[string]any{"t": token}).into(t, "refreshToken", &p)
	return p
}

func TestRefreshCookieForBrowsers(t *testing.T) {
	s := newServer(t, httpapi.Config{RefreshCookie: httpapi.CookieConfig{Enabled: true, Name: "authgate_refresh", Path: "/graphql"}})
	body := graphQLBody(t, signupMutation, map[string]any{"email": "a@example.com", "password": "correct horse"})
	resp := s.send(t, http.MethodPost, "/graphql", body, "Content-Type", "application/json")
	resp.Body.Close()
	c := refreshCookieOf(t, resp)
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/graphql" || c.Value == "" || c.MaxAge <= 0 {
		t.Fatalf("cookie = %+v", c)
	}

	// refreshToken with an empty argument uses the cookie and sets the successor.
	body = graphQLBody(t, refreshMutation, map[string]any{"t": ""})
	resp = s.send(t, http.MethodPost, "/graphql", body, "Content-Type", "application/json", "Cookie", "authgate_refresh="+c.Value)
	r := decodeGraphQL(t, resp.StatusCode, readAll(t, resp))
	var p payload
	r.into(t, "refreshToken", &p)
	next := refreshCookieOf(t, resp)
	if next.Value != p.RefreshToken || next.Value == c.Value {
		t.Fatal("the refreshed cookie does not carry the successor")
	}
	// An explicit argument still wins over the cookie.
	s.graphql(t, refreshMutation, map[string]any{"t": "garbage"}, "Cookie", "authgate_refresh="+next.Value).wantCode(t, auth.CodeInvalidRefreshToken)

	// revoke with an empty argument logs out the cookie's session and clears it.
	body = graphQLBody(t, revokeMutation, map[string]any{"t": ""})
	resp = s.send(t, http.MethodPost, "/graphql", body, "Content-Type", "application/json", "Cookie", "authgate_refresh="+next.Value)
	resp.Body.Close()
	if cleared := refreshCookieOf(t, resp); cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Fatalf("revoke did not clear the cookie: %+v", cleared)
	}
	s.graphql(t, refreshMutation, map[string]any{"t": next.Value}).wantCode(t, auth.CodeInvalidRefreshToken)

	// Through Hasura Actions too: Hasura passes Set-Cookie through.
	status, raw, header := s.actionWithHeaders(t, "login", map[string]any{"identifier": "a@example.com", "password": "correct horse"})
	if status != http.StatusOK || !strings.Contains(header.Get("Set-Cookie"), "authgate_refresh=") {
		t.Fatalf("action login: %d %s, Set-Cookie %q", status, raw, header.Get("Set-Cookie"))
	}
}

func TestNoRefreshCookieUnlessSwitchedOn(t *testing.T) {
	s := newServer(t, httpapi.Config{})
	body := graphQLBody(t, signupMutation, map[string]any{"email": "a@example.com", "password": "correct horse"})
	resp := s.send(t, http.MethodPost, "/graphql", body, "Content-Type", "application/json")
	resp.Body.Close()
	if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("Set-Cookie without AUTHGATE_REFRESH_COOKIE: %v", sc)
	}
}

func refreshCookieOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "authgate_refresh" {
			return c
		}
	}
	t.Fatalf("no authgate_refresh cookie in %v", resp.Header.Values("Set-Cookie"))
	return nil
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (s *server) actionWithHeaders(t *testing.T, name string, input any) (int, []byte, http.Header) {
	t.Helper()
	resp := s.send(t, http.MethodPost, "/actions", actionBody(t, name, input, map[string]string{"x-hasura-role": "anonymous"}),
		"X-Action-Secret", actionSecret)
	return resp.StatusCode, readAll(t, resp), resp.Header
}

func TestTwoServerInstancesConvergeWithinASecond(t *testing.T) {
	a := newServer(t, httpapi.Config{})
	otherEnv := a.env.Instance(t)
	hb := httpapi.New(httpapi.Config{ActionSecret: actionSecret}, otherEnv.Service, graph.NewServer(otherEnv.Service, graph.Options{}), otherEnv.Store, discardLogger())
	tsb := httptest.NewServer(hb)
	t.Cleanup(tsb.Close)
	b := &server{env: otherEnv, url: tsb.URL, h: hb}

	p := a.signup(t, "a@example.com", "correct horse")
	b.graphql(t, meQuery, nil, bearer(p.AccessToken)...).into(t, "me", new(map[string]any))

	a.graphql(t, `mutation { revokeAccessToken }`, nil, bearer(p.AccessToken)...)
	deadline := time.After(time.Second)
	for {
		changed := otherEnv.Revocations.Changed()
		if b.graphql(t, meQuery, nil, bearer(p.AccessToken)...).code(t) == string(auth.CodeUnauthenticated) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("instance b still accepts the token a revoked, after a second")
		}
	}
}

// BenchmarkHasuraWebhook measures the webhook with 100k users and 10k
// denylisted tokens in the database, and proves it makes no database query:
// the store's pool is closed before the timed loop, so any query would fail.
func BenchmarkHasuraWebhook(b *testing.B) {
	env := authtest.New(b, auth.Config{})
	ctx := context.Background()
	p, err := env.Service.Signup(ctx, "bench@example.com", "correct horse", nil)
	if err != nil {
		b.Fatal(err)
	}
	db := env.Store.DB()
	if _, err := db.Exec(`INSERT INTO auth.users (email, password_hash, default_role, allowed_roles, created_at, updated_at)
		SELECT 'user' || i || '@example.com', 'x', 'user', '{user}', $1, $1 FROM generate_series(1, 100000) i`, env.Clock.Now()); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO auth.revoked_access_tokens (jti, expires_at, revoked_at)
		SELECT 'denied-' || i, $1::timestamptz + interval '10 minutes', $1 FROM generate_series(1, 10000) i`, env.Clock.Now()); err != nil {
		b.Fatal(err)
	}
	env.StartFeed(b)
	if _, _, tokens := env.Revocations.Size(); tokens != 10000 {
		b.Fatalf("denylist in memory = %d, want 10000", tokens)
	}
	h := httpapi.New(httpapi.Config{WebhookCache: 5 * time.Second}, env.Service, graph.NewServer(env.Service, graph.Options{}), env.Store, discardLogger())
	ts := httptest.NewServer(h)
	defer ts.Close()
	env.Store.Close() // from here on, any database query would fail

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
	)
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		bad := 0
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/hasura/auth", nil)
			req.Header.Set("Authorization", "Bearer "+p.AccessToken)
			t0 := time.Now()
			resp, err := client.Do(req)
			local = append(local, time.Since(t0))
			if err != nil || resp.StatusCode != http.StatusOK {
				bad++
			}
			if resp != nil {
				resp.Body.Close()
			}
		}
		mu.Lock()
		latencies = append(latencies, local...)
		failures += bad
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if failures > 0 {
		b.Fatalf("%d webhook requests failed with the database pool closed", failures)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	p99 := latencies[min(len(latencies)-1, len(latencies)*99/100)]
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "db-queries/op")
}
