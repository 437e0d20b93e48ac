package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
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

// sendHook calls the Hasura auth webhook in GET mode (client headers as
// headers) or POST mode (client headers in the body, as Hasura sends them)
// and returns the response with its body unread.
func (s *server) sendHook(t *testing.T, mode string, clientHeaders map[string]string) *http.Response {
	t.Helper()
	if mode == http.MethodGet {
		var h []string
		for k, v := range clientHeaders {
			h = append(h, k, v)
		}
		return s.send(t, http.MethodGet, "/hasura/auth", nil, h...)
	}
	return s.send(t, http.MethodPost, "/hasura/auth", hasuraWebhookPOST(t, clientHeaders), "Content-Type", "application/json")
}

// hook calls the webhook and decodes the answer: the status, the
// Cache-Control header and the session variables.
func (s *server) hook(t *testing.T, mode string, clientHeaders map[string]string) (int, string, map[string]string) {
	t.Helper()
	resp := s.sendHook(t, mode, clientHeaders)
	defer resp.Body.Close()
	var vars map[string]string
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
			t.Fatal(err)
		}
		// Hasura reads the expiry from the body (see
		// TestHasuraWebhookPutsTheExpiryInTheBody); the body and the header
		// must agree. The rest of the body are the session variables.
		if cc, ok := vars["Cache-Control"]; ok && cc != resp.Header.Get("Cache-Control") {
			t.Fatalf("Cache-Control %q in the body, %q in the header", cc, resp.Header.Get("Cache-Control"))
		}
		delete(vars, "Cache-Control")
	}
	return resp.StatusCode, resp.Header.Get("Cache-Control"), vars
}

// hookBody calls the webhook and returns the status and the JSON body.
func (s *server) hookBody(t *testing.T, mode string, clientHeaders map[string]string) (int, map[string]any) {
	t.Helper()
	resp := s.sendHook(t, mode, clientHeaders)
	raw := readAll(t, resp)
	var body map[string]any
	if resp.StatusCode == http.StatusOK {
		decodeJSON(t, raw, &body)
	}
	return resp.StatusCode, body
}

// hasuraWebhookPOST is the body Hasura's POST mode sends
// (Server/Auth/WebHook.hs, userInfoFromAuthHook): the client's headers as
// one JSON object of strings, names as the client wrote them, and the
// GraphQL request under "request".
func hasuraWebhookPOST(t *testing.T, clientHeaders map[string]string) []byte {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"headers": clientHeaders,
		"request": map[string]any{"query": "query { me { id } }", "variables": nil, "operationName": nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestHasuraWebhookPutsTheExpiryInTheBody: Hasura takes a webhook answer's
// expiry from Cache-Control (or Expires) in the JSON body, never from the
// HTTP header (Server/Auth/WebHook.hs, mkUserInfoFromResp: timeFromCacheControl
// looks the key up in the decoded body), and closes a websocket when it
// passes. Without it, a subscription outlives the token and its revocation.
func TestHasuraWebhookPutsTheExpiryInTheBody(t *testing.T) {
	s := newServer(t, httpapi.Config{WebhookCache: 5 * time.Second})
	p := s.signup(t, "a@example.com", "correct horse")
	for _, mode := range []string{http.MethodGet, http.MethodPost} {
		status, body := s.hookBody(t, mode, map[string]string{"Authorization": "Bearer " + p.AccessToken})
		if status != http.StatusOK || body["Cache-Control"] != "max-age=5" {
			t.Fatalf("%s: status %d, body %v; want Cache-Control max-age=5 in the body", mode, status, body)
		}
	}
	// Near the token's expiry the body says so too.
	s.env.Clock.Advance(15*time.Minute - 2*time.Second)
	if status, body := s.hookBody(t, http.MethodGet, map[string]string{"Authorization": "Bearer " + p.AccessToken}); status != http.StatusOK || body["Cache-Control"] != "max-age=2" {
		t.Fatalf("near expiry: status %d, body %v; want max-age=2", status, body)
	}
}

// TestHasuraWebhookAnswersAnonymousWithoutAToken: in webhook mode Hasura has
// no unauthorized-role fallback (Server/Auth/WebHook.hs, mkUserInfoFromResp:
// a 401 is thrown to the client as it is; the fallback to
// HASURA_GRAPHQL_UNAUTHORIZED_ROLE lives only in JWT mode, Server/Auth/JWT.hs,
// processJwt_'s withoutAuthZ). So the webhook itself answers a request with
// no token at all as the anonymous role, and nothing else: not the
// x-hasura-* headers a client may send. A bad, expired or revoked token
// stays 401.
func TestHasuraWebhookAnswersAnonymousWithoutAToken(t *testing.T) {
	s := newServer(t, httpapi.Config{WebhookCache: 5 * time.Second, WebhookAnonymousRole: "anonymous"})
	p := s.signup(t, "a@example.com", "correct horse")
	revoked := s.signup(t, "b@example.com", "correct horse")
	s.graphql(t, `mutation { revokeAccessToken }`, nil, bearer(revoked.AccessToken)...)

	for _, mode := range []string{http.MethodGet, http.MethodPost} {
		t.Run(mode, func(t *testing.T) {
			for name, headers := range map[string]map[string]string{
				"no headers": {},
				"client-made session variables": {"X-Hasura-User-Id": p.User.ID, "X-Hasura-Role": "user",
					"X-Hasura-Session-Id": p.SessionID, "Cookie": "other=1"},
			} {
				status, body := s.hookBody(t, mode, headers)
				if want := map[string]any{"X-Hasura-Role": "anonymous"}; status != http.StatusOK || !reflect.DeepEqual(body, want) {
					t.Errorf("%s: status %d body %v, want 200 %v", name, status, body, want)
				}
			}
			for name, headers := range map[string]map[string]string{
				"garbage token":      {"Authorization": "Bearer nope"},
				"empty bearer":       {"Authorization": "Bearer "},
				"not a bearer token": {"Authorization": "Basic " + p.AccessToken},
				"revoked token":      {"Authorization": "Bearer " + revoked.AccessToken},
				"role not allowed":   {"Authorization": "Bearer " + p.AccessToken, "X-Hasura-Role": "admin"},
			} {
				if status, body := s.hookBody(t, mode, headers); status != http.StatusUnauthorized {
					t.Errorf("%s: status %d %v, want 401", name, status, body)
				}
			}
		})
	}
	s.env.Clock.Advance(16 * time.Minute)
	if status, _ := s.hookBody(t, http.MethodGet, map[string]string{"Authorization": "Bearer " + p.AccessToken}); status != http.StatusUnauthorized {
		t.Errorf("expired token: status %d, want 401", status)
	}

	// With no anonymous role configured, no token is a 401 as before.
	off := newServer(t, httpapi.Config{WebhookCache: 5 * time.Second})
	for _, mode := range []string{http.MethodGet, http.MethodPost} {
		if status, body := off.hookBody(t, mode, map[string]string{}); status != http.StatusUnauthorized {
			t.Errorf("%s without an anonymous role: status %d %v, want 401", mode, status, body)
		}
	}
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
				"X-Hasura-Session-Id": p.SessionID, "x-hasura-org-id": "7", "X-Hasura-Auth-Level": "1"}
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
	if next.Value == "" || next.Value == c.Value || p.RefreshToken != "" {
		t.Fatal("the refreshed cookie does not carry the successor, or the body carries it too")
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

// cookieNamed returns the response's Set-Cookie of that name, or nil.
func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestAccessTokenInACookie: with the JWT config's header
// {"type":"Cookie","name":…} Hasura takes the access token from that cookie,
// the token itself with no "Bearer " (Server/Auth/JWT.hs, processJwt_'s
// findTokensInHeader; tests-py/test_jwt.py, mk_authz_header:
// {'Cookie': name + '=' + token}). authgate sets that cookie on sign-in and
// refresh (AUTHGATE_ACCESS_COOKIE), clears it on sign-out, and reads the
// token from it on /graphql, /actions and the webhook.
func TestAccessTokenInACookie(t *testing.T) {
	s := newServer(t, httpapi.Config{WebhookCache: 5 * time.Second, WebhookAnonymousRole: "anonymous",
		AccessToken: httpapi.AccessTokenConfig{Cookie: "at", SetCookie: true}})
	body := graphQLBody(t, signupMutation, map[string]any{"email": "a@example.com", "password": "correct horse"})
	resp := s.send(t, http.MethodPost, "/graphql", body, "Content-Type", "application/json")
	var p payload
	decodeGraphQL(t, resp.StatusCode, readAll(t, resp)).into(t, "signup", &p)
	c := cookieNamed(resp, "at")
	if c == nil || c.Value != p.AccessToken || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode ||
		c.Path != "/" || c.MaxAge != int((15*time.Minute).Seconds()) {
		t.Fatalf("access cookie = %+v, want the access token, HttpOnly, Secure, SameSite=Strict, Path=/, 15 minutes", c)
	}
	cookie := "other=1; at=" + p.AccessToken

	// /graphql reads the cookie, and only the cookie: that is where Hasura looks.
	var me map[string]any
	s.graphql(t, meQuery, nil, "Cookie", cookie).into(t, "me", &me)
	s.graphql(t, meQuery, nil, bearer(p.AccessToken)...).wantCode(t, auth.CodeUnauthenticated)

	// The webhook, in both modes.
	for _, mode := range []string{http.MethodGet, http.MethodPost} {
		if status, vars := s.hookBody(t, mode, map[string]string{"Cookie": cookie}); status != http.StatusOK || vars["X-Hasura-User-Id"] != p.User.ID {
			t.Errorf("webhook %s with the cookie: %d %v", mode, status, vars)
		}
		if status, vars := s.hookBody(t, mode, map[string]string{"Cookie": "other=1"}); status != http.StatusOK || vars["X-Hasura-Role"] != "anonymous" {
			t.Errorf("webhook %s without the cookie: %d %v, want anonymous", mode, status, vars)
		}
		if status, _ := s.hookBody(t, mode, map[string]string{"Cookie": "at=garbage"}); status != http.StatusUnauthorized {
			t.Errorf("webhook %s with a bad cookie: %d, want 401", mode, status)
		}
	}

	// Refresh sets the next access token.
	body = graphQLBody(t, refreshMutation, map[string]any{"t": p.RefreshToken})
	resp = s.send(t, http.MethodPost, "/graphql", body, "Content-Type", "application/json")
	var next payload
	decodeGraphQL(t, resp.StatusCode, readAll(t, resp)).into(t, "refreshToken", &next)
	if c := cookieNamed(resp, "at"); c == nil || c.Value != next.AccessToken {
		t.Fatalf("refresh set %+v, want the new access token", c)
	}

	// Through Hasura: the forwarded cookie names the caller's token
	// (revokeAccessToken needs it), and the answer clears the cookie.
	vars := map[string]string{"x-hasura-role": "user", "x-hasura-user-id": p.User.ID, "x-hasura-session-id": p.SessionID}
	resp = s.send(t, http.MethodPost, "/actions", actionBody(t, "revokeAccessToken", nil, vars),
		"X-Action-Secret", actionSecret, "Cookie", cookie)
	if raw := readAll(t, resp); resp.StatusCode != http.StatusOK || strings.TrimSpace(string(raw)) != "true" {
		t.Fatalf("revokeAccessToken action: %d %s", resp.StatusCode, raw)
	}
	if c := cookieNamed(resp, "at"); c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("revokeAccessToken did not clear the cookie: %+v", c)
	}
	s.graphql(t, meQuery, nil, "Cookie", cookie).wantCode(t, auth.CodeUnauthenticated)

	// Logging out clears it too.
	body = graphQLBody(t, revokeMutation, map[string]any{"t": next.RefreshToken})
	resp = s.send(t, http.MethodPost, "/graphql", body, "Content-Type", "application/json", "Cookie", "at="+next.AccessToken)
	resp.Body.Close()
	if c := cookieNamed(resp, "at"); c == nil || c.MaxAge >= 0 {
		t.Errorf("revoke did not clear the cookie: %+v", c)
	}
}

// TestAccessTokenInACustomHeader: with {"type":"CustomHeader","name":…}
// Hasura takes the header's whole value as the token (Server/Auth/JWT.hs,
// processJwt_'s issuerMatch: JHCustomHeader passes the value as it is);
// authgate reads it there on /graphql, /actions and the webhook.
func TestAccessTokenInACustomHeader(t *testing.T) {
	s := newServer(t, httpapi.Config{WebhookCache: 5 * time.Second, AccessToken: httpapi.AccessTokenConfig{Header: "X-Token"}})
	p := s.signup(t, "a@example.com", "correct horse")
	var me map[string]any
	s.graphql(t, meQuery, nil, "X-Token", p.AccessToken).into(t, "me", &me)
	s.graphql(t, meQuery, nil, bearer(p.AccessToken)...).wantCode(t, auth.CodeUnauthenticated)
	for _, mode := range []string{http.MethodGet, http.MethodPost} {
		if status, vars := s.hookBody(t, mode, map[string]string{"x-token": p.AccessToken}); status != http.StatusOK || vars["X-Hasura-User-Id"] != p.User.ID {
			t.Errorf("webhook %s: %d %v", mode, status, vars)
		}
	}
	vars := map[string]string{"x-hasura-role": "user", "x-hasura-user-id": p.User.ID, "x-hasura-session-id": p.SessionID}
	status, raw := s.action(t, "revokeAccessToken", nil, vars, "X-Token", p.AccessToken)
	if status != http.StatusOK || strings.TrimSpace(string(raw)) != "true" {
		t.Fatalf("revokeAccessToken through Hasura with the custom header: %d %s", status, raw)
	}
	s.graphql(t, meQuery, nil, "X-Token", p.AccessToken).wantCode(t, auth.CodeUnauthenticated)
}
