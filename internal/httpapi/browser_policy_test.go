package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
)

// policyServer serves the whole handler, wrapped in p, over a fresh
// environment; /actions is on with policyActionSecret.
func policyServer(t *testing.T, p httpapi.BrowserPolicy) (*authtest.Env, string) {
	t.Helper()
	env := authtest.New(t, auth.Config{})
	h := httpapi.New(httpapi.Config{ActionSecret: policyActionSecret}, env.Service,
		graph.NewServer(env.Service, graph.Options{}), env.Store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(httpapi.WithBrowserPolicy(p, h))
	t.Cleanup(ts.Close)
	return env, ts.URL
}

const policyActionSecret = "policy-action-secret-0123456789abcdef"

// rawCall sends one request; header holds name, value pairs.
func rawCall(t *testing.T, method, target, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	resp := sendRequest(t, method, target, b, header...)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// corsHeaders are the response headers that grant a cross-origin caller
// anything.
var corsHeaders = []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
	"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Expose-Headers"}

func noCORS(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	for _, h := range corsHeaders {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("%s: %s: %s, want no CORS headers", what, h, v)
		}
	}
}

func varies(resp *http.Response, name string) bool {
	for _, v := range resp.Header.Values("Vary") {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), name) {
				return true
			}
		}
	}
	return false
}

func TestCORSAllowsOnlyListedOriginsOnGraphQL(t *testing.T) {
	t.Parallel()
	const app, evil = "https://app.example.com", "https://evil.example.com"
	for _, credentials := range []bool{false, true} {
		name := "without credentials"
		if credentials {
			name = "with credentials (refresh cookie on)"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, base := policyServer(t, httpapi.BrowserPolicy{CORSOrigins: []string{app, "http://localhost:3000"}, CORSCredentials: credentials})
			preflight := []string{"Origin", app, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,authorization"}

			resp, _ := rawCall(t, http.MethodOptions, base+"/graphql", "", preflight...)
			if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != app {
				t.Fatalf("preflight from %s: %d, Allow-Origin %q", app, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}
			methods, headers := resp.Header.Get("Access-Control-Allow-Methods"), resp.Header.Get("Access-Control-Allow-Headers")
			for _, m := range []string{"POST", "GET"} {
				if !strings.Contains(methods, m) {
					t.Errorf("Allow-Methods %q lacks %s", methods, m)
				}
			}
			for _, h := range []string{"Content-Type", "Authorization", "X-Request-Id"} {
				if !strings.Contains(headers, h) {
					t.Errorf("Allow-Headers %q lacks %s", headers, h)
				}
			}
			if got := resp.Header.Get("Access-Control-Allow-Credentials"); (got == "true") != credentials {
				t.Errorf("Allow-Credentials %q with credentials %v", got, credentials)
			}
			if !varies(resp, "Origin") || resp.Header.Get("Access-Control-Max-Age") == "" {
				t.Errorf("preflight answer lacks Vary: Origin or Max-Age: %v", resp.Header)
			}

			// The real request from an allowed origin may be read.
			resp, raw := rawCall(t, http.MethodPost, base+"/graphql", `{"query":"{ __typename }"}`, "Content-Type", "application/json", "Origin", app)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != app || !varies(resp, "Origin") ||
				!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
				t.Errorf("POST from %s: %d %v %s", app, resp.StatusCode, resp.Header, raw)
			}

			// Anyone else gets nothing a browser would honour.
			resp, raw = rawCall(t, http.MethodOptions, base+"/graphql", "", "Origin", evil, "Access-Control-Request-Method", "POST")
			noCORS(t, "preflight from "+evil, resp)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(raw), string(auth.CodeForbidden)) {
				t.Errorf("preflight from %s: %d %s, want 403 FORBIDDEN", evil, resp.StatusCode, raw)
			}
			resp, _ = rawCall(t, http.MethodPost, base+"/graphql", `{"query":"{ __typename }"}`, "Content-Type", "application/json", "Origin", evil)
			noCORS(t, "POST from "+evil, resp)
			if !varies(resp, "Origin") {
				t.Errorf("POST from %s: no Vary: Origin, so a cache could serve it to %s", evil, app)
			}
			// Origins match exactly: no prefix, suffix, scheme or port games.
			for _, o := range []string{"https://app.example.com.evil.example", "http://app.example.com", "https://app.example.com:8443", "null", "https://APP.example.com "} {
				resp, _ = rawCall(t, http.MethodOptions, base+"/graphql", "", "Origin", o, "Access-Control-Request-Method", "POST")
				noCORS(t, "preflight from "+o, resp)
			}
			// Hasura calls /actions server to server: never CORS there.
			resp, _ = rawCall(t, http.MethodOptions, base+"/actions", "", preflight...)
			noCORS(t, "preflight to /actions", resp)
			resp, _ = rawCall(t, http.MethodPost, base+"/actions", `{"action":{"name":"me"}}`, "Origin", app, "X-Action-Secret", policyActionSecret)
			noCORS(t, "POST to /actions", resp)
		})
	}
}

func TestNoCORSHeadersWithoutAllowedOrigins(t *testing.T) {
	t.Parallel()
	_, base := policyServer(t, httpapi.BrowserPolicy{CORSCredentials: true})
	resp, _ := rawCall(t, http.MethodOptions, base+"/graphql", "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST")
	noCORS(t, "preflight", resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("preflight: %d, want 403", resp.StatusCode)
	}
	resp, _ = rawCall(t, http.MethodPost, base+"/graphql", `{"query":"{ __typename }"}`, "Content-Type", "application/json", "Origin", "https://app.example.com")
	noCORS(t, "POST", resp)
}

// TestSecurityHeadersOnEveryAnswer checks the headers on every kind of
// answer, preflights and errors included; HSTS only where the policy says
// authgate is behind TLS.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	t.Parallel()
	for _, hsts := range []bool{false, true} {
		_, base := policyServer(t, httpapi.BrowserPolicy{CORSOrigins: []string{"https://app.example.com"}, HSTS: hsts})
		requests := []struct {
			method, path, body string
			header             []string
		}{
			{http.MethodGet, "/", "", nil},
			{http.MethodGet, "/healthz", "", nil},
			{http.MethodGet, "/readyz", "", nil},
			{http.MethodPost, "/graphql", `{"query":"{ __typename }"}`, []string{"Content-Type", "application/json"}},
			{http.MethodPost, "/graphql", `{"query":`, []string{"Content-Type", "application/json"}},
			{http.MethodGet, "/graphql?query=" + url.QueryEscape("mutation { revokeAllSessions }"), "", nil},
			{http.MethodPost, "/actions", `{}`, nil},
			{http.MethodGet, "/no/such/path", "", nil},
			{http.MethodOptions, "/graphql", "", []string{"Origin", "https://app.example.com", "Access-Control-Request-Method", "POST"}},
			{http.MethodOptions, "/graphql", "", []string{"Origin", "https://evil.example.com", "Access-Control-Request-Method", "POST"}},
		}
		for _, rq := range requests {
			what := rq.method + " " + rq.path
			resp, _ := rawCall(t, rq.method, base+rq.path, rq.body, rq.header...)
			for name, want := range map[string]string{
				"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
			} {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s: %s = %q, want %q", what, name, got, want)
				}
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Errorf("%s: no X-Request-Id", what)
			}
			// The playground page's policy also allows its own scripts
			// (internal/playground tests which); it stays strict otherwise.
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
				t.Errorf("%s: Content-Security-Policy %q, want a strict one", what, csp)
			}
			if rq.path == "/" && !strings.Contains(csp, "script-src 'self' 'sha256-") {
				t.Errorf("the playground's policy %q does not allow its own scripts", csp)
			}
			if got := resp.Header.Get("Strict-Transport-Security"); (got != "") != hsts || (hsts && !strings.HasPrefix(got, "max-age=")) {
				t.Errorf("%s: Strict-Transport-Security %q with HSTS %v", what, got, hsts)
			}
		}
	}
}

// TestMutationsOverGETAreRefusedWithACode checks that a mutation sent with
// GET never runs and is answered 405 with a stable code, however it is
// dressed up; queries over GET still work.
func TestMutationsOverGETAreRefusedWithACode(t *testing.T) {
	t.Parallel()
	env, base := policyServer(t, httpapi.BrowserPolicy{})
	p := env.Signup(t, "gina@example.com", "correct horse battery")
	bearerHeader := []string{"Authorization", "Bearer " + p.AccessToken}
	get := func(params url.Values) (*http.Response, map[string]any) {
		resp, raw := rawCall(t, http.MethodGet, base+"/graphql?"+params.Encode(), "", bearerHeader...)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("answer is not JSON: %s", raw)
		}
		return resp, body
	}
	codeOf := func(body map[string]any) string {
		errs, _ := body["errors"].([]any)
		if len(errs) != 1 {
			return ""
		}
		ext, _ := errs[0].(map[string]any)["extensions"].(map[string]any)
		c, _ := ext["code"].(string)
		return c
	}
	refused := []url.Values{
		{"query": {"mutation { revokeAllSessions }"}},
		{"query": {"mutation End { revokeAllSessions }"}, "operationName": {"End"}},
		{"query": {"query Me { me { id } } mutation End { revokeAllSessions }"}, "operationName": {"End"}},
		{"query": {"mutation($t: String!) { revoke(refreshToken: $t) }"}, "variables": {`{"t":"` + p.RefreshToken + `"}`}},
		{"query": {"subscription { me { id } }"}},
	}
	for _, params := range refused {
		resp, body := get(params)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" || codeOf(body) != string(auth.CodeBadUserInput) {
			t.Errorf("GET %v: %d Allow %q %v, want 405, Allow: POST and BAD_USER_INPUT", params, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
	}
	for _, params := range []url.Values{
		{"query": {"{ me { id } }"}, "variables": {"[1,2]"}},
		{"query": {"{ me { id } }"}, "extensions": {"{"}},
	} {
		resp, body := get(params)
		if resp.StatusCode != http.StatusBadRequest || codeOf(body) != string(auth.CodeBadUserInput) {
			t.Errorf("GET %v: %d %v, want 400 BAD_USER_INPUT", params, resp.StatusCode, body)
		}
	}
	resp, _ := rawCall(t, http.MethodGet, base+"/graphql?query=%7Bme&x=%zz", "", bearerHeader...)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a malformed query string: %d, want 400", resp.StatusCode)
	}

	// None of them ran: the session lives, and queries over GET work.
	resp, body := get(url.Values{"query": {"query Me { me { id } } mutation End { revokeAllSessions }"}, "operationName": {"Me"}})
	if resp.StatusCode != http.StatusOK || codeOf(body) != "" {
		t.Fatalf("a query over GET: %d %v", resp.StatusCode, body)
	}
	if sessions, err := env.Service.MySessions(authtest.As(p)); err != nil || len(sessions) != 1 {
		t.Errorf("%d sessions (%v): a mutation sent over GET ran", len(sessions), err)
	}
}

// TestPreflightAllowsTheTokenHeader: when the JWT config says clients carry
// the access token in a header of their own, a browser may send it.
func TestPreflightAllowsTheTokenHeader(t *testing.T) {
	h := httpapi.WithBrowserPolicy(httpapi.BrowserPolicy{CORSOrigins: []string{"https://app.example.com"}, TokenHeader: "X-Token"},
		http.NotFoundHandler())
	req := httptest.NewRequest(http.MethodOptions, "/graphql", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type, x-token")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Headers"); rec.Code != http.StatusNoContent || !strings.Contains(got, "X-Token") {
		t.Fatalf("preflight %d, Access-Control-Allow-Headers %q, want X-Token allowed", rec.Code, got)
	}
}

// TestRefreshCookieModeKeepsTheTokenOutOfTheBody (issue 11.5): in cookie
// mode a page script on an allowed origin (XSS there included) must not be
// able to read the refresh token: a credentialed cross-origin sign-in and
// refresh set the cookie, and the body's refreshToken is null, on /graphql
// and on /actions.
func TestRefreshCookieModeKeepsTheTokenOutOfTheBody(t *testing.T) {
	const app = "https://app.example.com"
	env := authtest.New(t, auth.Config{})
	h := httpapi.New(httpapi.Config{ActionSecret: policyActionSecret,
		RefreshCookie: httpapi.CookieConfig{Enabled: true, Name: "authgate_refresh", Path: "/graphql"}},
		env.Service, graph.NewServer(env.Service, graph.Options{}), env.Store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(httpapi.WithBrowserPolicy(httpapi.BrowserPolicy{CORSOrigins: []string{app}, CORSCredentials: true}, h))
	t.Cleanup(ts.Close)

	// checkBody: refreshToken is present and null, and the cookie's value
	// appears nowhere in the body.
	checkBody := func(what string, raw []byte, field string, cookie *http.Cookie) {
		t.Helper()
		if cookie == nil || cookie.Value == "" {
			t.Fatalf("%s: no refresh cookie set", what)
		}
		if strings.Contains(string(raw), cookie.Value) {
			t.Errorf("%s: the body carries the refresh token: %s", what, raw)
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("%s: %v: %s", what, err, raw)
		}
		obj := body
		if field != "" {
			data, _ := body["data"].(map[string]any)
			obj, _ = data[field].(map[string]any)
		}
		if v, ok := obj["refreshToken"]; !ok || v != nil {
			t.Errorf("%s: refreshToken = %v (present %v), want null: %s", what, v, ok, raw)
		}
		if at, _ := obj["accessToken"].(string); at == "" {
			t.Errorf("%s: no access token: %s", what, raw)
		}
	}

	login := `{"query":"mutation { signup(email: \"a@example.com\", password: \"correct horse\") { accessToken refreshToken } }"}`
	resp, raw := rawCall(t, http.MethodPost, ts.URL+"/graphql", login, "Content-Type", "application/json", "Origin", app)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != app ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("cross-origin signup: %d %v", resp.StatusCode, resp.Header)
	}
	first := cookieNamed(resp, "authgate_refresh")
	checkBody("signup over /graphql", raw, "signup", first)

	refresh := `{"query":"mutation { refreshToken(refreshToken: \"\") { accessToken refreshToken } }"}`
	resp, raw = rawCall(t, http.MethodPost, ts.URL+"/graphql", refresh, "Content-Type", "application/json", "Origin", app,
		"Cookie", "authgate_refresh="+first.Value)
	checkBody("refresh over /graphql", raw, "refreshToken", cookieNamed(resp, "authgate_refresh"))

	// Through Hasura: the action's body is what Hasura hands the page.
	resp, raw = rawCall(t, http.MethodPost, ts.URL+"/actions",
		`{"action":{"name":"login"},"input":{"identifier":"a@example.com","password":"correct horse"},"session_variables":{"x-hasura-role":"anonymous"}}`,
		"Content-Type", "application/json", "X-Action-Secret", policyActionSecret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login action: %d %s", resp.StatusCode, raw)
	}
	checkBody("login over /actions", raw, "", cookieNamed(resp, "authgate_refresh"))
}

// TestRefusedOriginIsLoggedInDevelopment checks that in development a page
// origin refused on /graphql is logged at warn once, naming the origin and
// AUTHGATE_CORS_ORIGINS, and that allowed origins and authgate's own pages
// log nothing.
func TestRefusedOriginIsLoggedInDevelopment(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	h := httpapi.New(httpapi.Config{}, env.Service, graph.NewServer(env.Service, graph.Options{}), env.Store,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	call := func(handler http.Handler, method, origin string, header ...string) {
		req := httptest.NewRequest(method, "http://authgate.test/graphql", strings.NewReader(`{"query":"{ __typename }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		handler.ServeHTTP(httptest.NewRecorder(), req)
	}
	var logs strings.Builder
	dev := httpapi.WithBrowserPolicy(httpapi.BrowserPolicy{CORSOrigins: []string{"https://app.example.com"},
		WarnRefused: slog.New(slog.NewTextHandler(&logs, nil))}, h)

	call(dev, http.MethodOptions, "http://localhost:3000", "Access-Control-Request-Method", "POST")
	call(dev, http.MethodPost, "http://localhost:3000")
	call(dev, http.MethodPost, "https://app.example.com")
	call(dev, http.MethodPost, "http://authgate.test")
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "AUTHGATE_CORS_ORIGINS") ||
		!strings.Contains(lines[0], "http://localhost:3000") {
		t.Errorf("development log %q, want one warning naming http://localhost:3000 and AUTHGATE_CORS_ORIGINS", logs.String())
	}
}
