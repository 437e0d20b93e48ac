package cli_test

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// serve on a database that has never seen authgate migrates it first, then
// prepares its statements and answers.
func TestServeStartsOnAnEmptyDatabase(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	db, err := sql.Open("postgres", env.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP SCHEMA auth CASCADE`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	const listening = "authgate listening"
	base := startServe(t, baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0"), listening).addrs[listening]
	resp, err := http.Post(base+"/graphql", "application/json", strings.NewReader(
		`{"query":"mutation { signup(email: \"f@example.com\", password: \"correct horse\") { refreshToken } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data struct{ Signup struct{ RefreshToken string } }
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if out.Data.Signup.RefreshToken == "" {
		t.Fatal("signup failed on the freshly migrated database")
	}
	body := `{"query":"mutation { refreshToken(refreshToken: \"` + out.Data.Signup.RefreshToken + `\") { refreshToken } }"}`
	resp, err = http.Post(base+"/graphql", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), `"refreshToken":{"refreshToken"`) {
		t.Fatalf("refresh through the prepared statement: %s", raw)
	}
}

// An argon2id memory over the hasher's 1 GiB limit stops serve with one
// line naming the setting, before anything is built (it used to panic).
func TestServeRefusesArgon2MemoryOverTheLimitInOneLine(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	r := run(t, baseSettings(env).with("AUTHGATE_ARGON2_MEMORY_KIB", "2097152", "AUTHGATE_ADDR", "127.0.0.1:0"), "", "serve")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "authgate: AUTHGATE_ARGON2_MEMORY_KIB:") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q: want 1 and one line naming AUTHGATE_ARGON2_MEMORY_KIB", r.code, r.stderr)
	}
}
