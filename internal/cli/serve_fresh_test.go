package cli_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/cli"
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
	s := baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0")
	logs := newLogWriter("authgate listening")
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() {
		exited <- cli.Run(ctx, []string{"serve"}, cli.Env{
			Getenv: func(name string) string { return s[name] }, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: logs,
		})
	}()
	var base string
	select {
	case line := <-logs.watches["authgate listening"]:
		var rec struct{ Addr string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		base = "http://" + rec.Addr
	case code := <-exited:
		t.Fatalf("serve exited %d on an empty database: %s", code, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start: %s", logs)
	}
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
	cancel()
	if code := <-exited; code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}
