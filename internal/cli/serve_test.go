package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// graphQL posts a query to a running server and decodes the answer.
func graphQL(t *testing.T, base string, body io.Reader) map[string]any {
	t.Helper()
	resp, err := http.Post(base+"/graphql", "application/json", body)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out["errors"] != nil {
		t.Fatalf("POST /graphql: %d %v %v", resp.StatusCode, out, err)
	}
	return out
}

// gqlBody is a GraphQL request body.
func gqlBody(query string, vars map[string]any) string {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return string(b)
}

func loginBody(email string) string {
	return gqlBody(`mutation($e: String!, $p: String!) { login(identifier: $e, password: $p) { sessionId user { email } } }`,
		map[string]any{"e": email, "p": pw})
}

// TestServeAnswersThenDrainsWhenItsContextEnds starts `authgate serve` on a
// free port, signs in over HTTP, then ends the context (what SIGTERM does)
// while a login is still being sent: that login is answered in full, and
// Run returns 0.
func TestServeAnswersThenDrainsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	const listening = "authgate listening"
	run := startServe(t, baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0"), listening)
	base, logs := run.addrs[listening], run.logs

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}
	graphQL(t, base, strings.NewReader(gqlBody(`mutation($e: String!, $p: String!) { signup(email: $e, password: $p) { sessionId } }`,
		map[string]any{"e": "eve@example.com", "p": pw})))
	out := graphQL(t, base, strings.NewReader(loginBody("eve@example.com")))
	if !strings.Contains(fmt.Sprint(out), "eve@example.com") {
		t.Fatalf("login answered %v", out)
	}

	// A login that is in the handler when shutdown begins: it asks for
	// 100 Continue, which the server sends only once the handler reads the
	// body, and only then is the body sent, after shutdown has begun.
	body, sending := io.Pipe()
	inHandler := make(chan struct{})
	answered := make(chan map[string]any, 1)
	go func() {
		req, err := http.NewRequest(http.MethodPost, base+"/graphql", body)
		if err != nil {
			t.Error(err)
			answered <- nil
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Expect", "100-continue")
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			Got100Continue: func() { close(inHandler) },
		}))
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: time.Minute}}
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("in-flight login: %v", err)
			answered <- nil
			return
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Errorf("in-flight login answer: %v", err)
		}
		answered <- out
	}()
	select {
	case <-inHandler:
	case out := <-answered:
		t.Fatalf("in-flight login answered before its body was sent: %v", out)
	}
	run.stop()
	select {
	case <-logs.watches["shutting down"]:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start shutting down: %s", logs)
	}
	if _, err := io.WriteString(sending, loginBody("eve@example.com")); err != nil {
		t.Fatal(err)
	}
	sending.Close()
	if out := <-answered; out == nil || out["errors"] != nil || !bytes.Contains([]byte(fmt.Sprint(out)), []byte("eve@example.com")) {
		t.Errorf("in-flight login during shutdown answered %v, want a full sign-in", out)
	}

	select {
	case <-run.done:
		if run.code != 0 {
			t.Errorf("serve exited %d after its context ended, want 0: %s", run.code, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not return after its context ended: %s", logs)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the server still answers after serve returned")
	}
}

// TestServeWebhookAnonymousRole: the webhook answers a request without a
// token as AUTHGATE_WEBHOOK_ANONYMOUS_ROLE ("anonymous" when absent), and
// the setting set to "" (not merely absent) answers it 401.
func TestServeWebhookAnonymousRole(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	const listening = "authgate listening"
	setEmpty := baseSettings(env)
	setEmpty["AUTHGATE_WEBHOOK_ANONYMOUS_ROLE"] = "" // with() would unset it
	for _, tc := range []struct {
		name     string
		settings settings
		status   int
		body     string
	}{
		{"absent", baseSettings(env), http.StatusOK, `{"X-Hasura-Role":"anonymous"}`},
		{"set empty", setEmpty, http.StatusUnauthorized, ""},
	} {
		run := startServe(t, tc.settings.with("AUTHGATE_ADDR", "127.0.0.1:0"), listening)
		resp, err := http.Get(run.addrs[listening] + "/hasura/auth")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.body != "" && strings.TrimSpace(string(raw)) != tc.body) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, resp.StatusCode, raw, tc.status, tc.body)
		}
	}
}

// TestServeWarnsOfJWTConfigFieldsItIgnores: a HASURA_GRAPHQL_JWT_SECRET with
// a field Hasura ignores starts, with a warning naming the field.
func TestServeWarnsOfJWTConfigFieldsItIgnores(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	secret := strings.TrimSuffix(authtest.JWTSecret, "}") + `,"algorithm":"HS256"}`
	run := startServe(t, baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0", "HASURA_GRAPHQL_JWT_SECRET", secret), "authgate listening")
	if logs := run.logs.String(); !strings.Contains(logs, `unknown field \"algorithm\" is ignored`) || !strings.Contains(logs, `"level":"WARN"`) {
		t.Fatalf("no warning about the unknown field in %s", logs)
	}
}

// TestServeAccessTokenCookie: with the JWT config's header a cookie and
// AUTHGATE_ACCESS_COOKIE=true, the server sets the access token in that
// cookie and reads it back from there.
func TestServeAccessTokenCookie(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	const listening = "authgate listening"
	secret := strings.TrimSuffix(authtest.JWTSecret, "}") + `,"header":{"type":"Cookie","name":"at"}}`
	run := startServe(t, baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0", "HASURA_GRAPHQL_JWT_SECRET", secret,
		"AUTHGATE_ACCESS_COOKIE", "true"), listening)
	base := run.addrs[listening]
	resp, err := http.Post(base+"/graphql", "application/json", strings.NewReader(gqlBody(
		`mutation($e: String!, $p: String!) { signup(email: $e, password: $p) { sessionId } }`, map[string]any{"e": "eve@example.com", "p": pw})))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var at *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "at" {
			at = c
		}
	}
	if at == nil || at.Value == "" || !at.HttpOnly || !at.Secure {
		t.Fatalf("Set-Cookie %v, want the access token in an HttpOnly Secure cookie at", resp.Header.Values("Set-Cookie"))
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(gqlBody(`{ me { email } }`, nil)))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(at)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), "eve@example.com") {
		t.Fatalf("me with the cookie: %s", raw)
	}
}
