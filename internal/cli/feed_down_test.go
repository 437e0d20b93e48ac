package cli_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// deadAddress is a local address nothing listens on: connecting to it is
// refused at once.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Issue 11 item 4: with its LISTEN connection unable to connect, an
// instance must not serve revoked tokens from a state nobody keeps current.
// /readyz is red with the reason, bearer checks go to the database (a token
// revoked elsewhere is refused, a good one accepted), and serve exits within
// AUTHGATE_SHUTDOWN_TIMEOUT once its context ends, though lib/pq's Listen
// never returns.
func TestServeWithItsListenerDownFailsClosedAndStopsInTime(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	const shutdownTimeout = 3 * time.Second
	s := baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0",
		"AUTHGATE_LISTEN_DATABASE_URL", "postgres://postgres@"+deadAddress(t)+"/postgres?sslmode=disable",
		"AUTHGATE_SHUTDOWN_TIMEOUT", shutdownTimeout.String())
	for _, email := range []string{"revoked@example.com", "good@example.com"} {
		mustRun(t, s, "correct horse", "user", "add", "--email", email, "--password-stdin")
	}
	const listening = "authgate listening"
	run := startServe(t, s, listening)
	base := run.addrs[listening]

	// Before it serves, serve records its token lifetime for every instance.
	var lifetime int
	if err := env.Store.DB().Get(&lifetime, `SELECT lifetime_seconds FROM auth.access_token_lifetimes WHERE live_until > now()`); err != nil || lifetime != 900 {
		t.Errorf("recorded lifetime %d s, %v; want the default 900 s", lifetime, err)
	}
	if status, body := getBody(t, base+"/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, "revocation feed is not connected") {
		t.Errorf("/readyz with the feed down: %d %s", status, body)
	}
	accessToken := func(email string) string {
		out := graphQL(t, base, strings.NewReader(gqlBody(`mutation($e: String!, $p: String!) { login(identifier: $e, password: $p) { accessToken } }`,
			map[string]any{"e": email, "p": "correct horse"})))
		return out["data"].(map[string]any)["login"].(map[string]any)["accessToken"].(string)
	}
	revoked, good := accessToken("revoked@example.com"), accessToken("good@example.com")
	// Revoked by another process: this instance is told nothing.
	mustRun(t, s, "", "user", "revoke-sessions", "--email", "revoked@example.com")

	if status, _ := getBody(t, base+"/hasura/auth", "Authorization", "Bearer "+revoked); status != http.StatusUnauthorized {
		t.Errorf("webhook with the revoked token: %d, want 401", status)
	}
	if status, _ := getBody(t, base+"/hasura/auth", "Authorization", "Bearer "+good); status != http.StatusOK {
		t.Errorf("webhook with the good token: %d, want 200", status)
	}
	me := `{"query":"{ me { email } }"}`
	for _, tc := range []struct{ token, want string }{{revoked, `"UNAUTHENTICATED"`}, {good, `"good@example.com"`}} {
		req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(me))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), tc.want) {
			t.Errorf("/graphql me: %s, want %s", body, tc.want)
		}
	}

	run.stop()
	select {
	case <-run.done:
	case <-time.After(shutdownTimeout + 2*time.Second):
		t.Fatalf("serve had not returned %s after its context ended (AUTHGATE_SHUTDOWN_TIMEOUT %s): %s",
			shutdownTimeout+2*time.Second, shutdownTimeout, run.logs)
	}
}
