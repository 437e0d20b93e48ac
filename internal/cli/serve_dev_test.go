package cli_test

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// serve --dev without AUTHGATE_REFRESH_TOKEN_SECRET makes one, keeps it
// under the data directory (owner-only) and uses the same one at the next
// start: a token from the first run refreshes in the second.
func TestServeDevKeepsAGeneratedRefreshKey(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	dir := t.TempDir()
	s := baseSettings(env).with("AUTHGATE_REFRESH_TOKEN_SECRET", "", "AUTHGATE_ADDR", "127.0.0.1:0")
	args := []string{"serve", "--dev", "--data-dir", dir}
	const listening = "authgate listening"

	first := startServeArgs(t, args, s, listening)
	out := graphQL(t, first.addrs[listening], strings.NewReader(gqlBody(
		`mutation($e: String!, $p: String!) { signup(email: $e, password: $p) { refreshToken } }`,
		map[string]any{"e": "dev@example.com", "p": pw})))
	tok := out["data"].(map[string]any)["signup"].(map[string]any)["refreshToken"].(string)
	if !strings.Contains(first.logs.String(), "AUTHGATE_REFRESH_TOKEN_SECRET is not set") {
		t.Errorf("development mode did not say it generated the refresh key: %s", first.logs)
	}
	first.stop()
	<-first.done

	path := filepath.Join(dir, "dev-refresh-token-secret")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(path)
	if _, err := hex.DecodeString(string(key)); err != nil || len(key) != 64 || info.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %d bytes, mode %v: want 32 random bytes in hex, owner-only", path, len(key), info.Mode().Perm())
	}

	second := startServeArgs(t, args, s, listening)
	graphQL(t, second.addrs[listening], strings.NewReader(gqlBody(
		`mutation($r: String!) { refreshToken(refreshToken: $r) { refreshToken } }`, map[string]any{"r": tok})))
}
