package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"authgate/internal/cli"
	"authgate/internal/pgtest"
)

// devRun is an `authgate serve --dev` started by startDev.
type devRun struct {
	base           string // the playground URL the banner prints, without the trailing /
	stdout, stderr *logWriter
}

// startDev runs `authgate serve --dev --data-dir dataDir` with s and
// environ until the test ends, and waits for its banner.
func startDev(t *testing.T, s settings, environ []string, dataDir string) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &devRun{stdout: newLogWriter("HASURA_GRAPHQL_UNAUTHORIZED_ROLE"), stderr: newLogWriter()}
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--dev", "--data-dir", dataDir}, cli.Env{
			Getenv:  s.getenv,
			Environ: func() []string { return environ },
			Stdin:   strings.NewReader(""),
			Stdout:  r.stdout,
			Stderr:  r.stderr,
		})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve --dev exited %d: %s", code, r.stderr)
		}
	})
	select {
	case banner := <-r.stdout.watches["HASURA_GRAPHQL_UNAUTHORIZED_ROLE"]:
		m := regexp.MustCompile(`Playground +(http://\S+)/\n`).FindStringSubmatch(banner)
		if m == nil {
			t.Fatalf("banner without the playground URL:\n%s", banner)
		}
		r.base = m[1]
	case code := <-done:
		done <- code
		t.Fatalf("serve --dev exited %d before its banner: %s", code, r.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("no banner: %s", r.stderr)
	}
	return r
}

// missingDatabase is the URL of a database that does not exist yet on the
// test server, dropped when the test ends.
func missingDatabase(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "authgate_dev_" + hex.EncodeToString(b)
	u, err := url.Parse(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	t.Cleanup(func() {
		admin, err := sql.Open("postgres", pgtest.AdminURL())
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	return u.String()
}

// TestDevModeIsReadyForHasura runs what `make run` runs, with nothing set
// but the database (which does not exist yet) and an address, and checks
// the first hour's promises: it creates its database, generates a JWT key
// and an action secret under the data directory (and keeps them across
// restarts), turns /actions on, prints the lines Hasura needs and the
// playground URL, logs human-readable text, and warns about a mistyped
// setting with the one it meant.
func TestDevModeIsReadyForHasura(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), ".data")
	s := settings{
		"DATABASE_URL":               missingDatabase(t),
		"AUTHGATE_ADDR":              "127.0.0.1:0",
		"AUTHGATE_ARGON2_MEMORY_KIB": "1024",
		"AUTHGATE_ARGON2_ITERATIONS": "1",
	}
	environ := []string{"AUTHGATE_INTROSPECT=true", "AUTHGATE_ADDR=127.0.0.1:0"}
	dev := startDev(t, s, environ, dataDir)

	// The action secret it printed opens /actions.
	jwtFile, err := os.ReadFile(filepath.Join(dataDir, "dev-jwt-secret.json"))
	if err != nil {
		t.Fatal(err)
	}
	actionFile, err := os.ReadFile(filepath.Join(dataDir, "dev-action-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if len(actionFile) < 32 {
		t.Errorf("development action secret of %d bytes, want at least 32", len(actionFile))
	}
	body := `{"action":{"name":"signup"},"input":{"email":"dev@example.com","password":"correct horse battery"},"session_variables":{"x-hasura-role":"anonymous"}}`
	req, _ := http.NewRequest(http.MethodPost, dev.base+"/actions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Action-Secret", string(actionFile))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var signup struct{ AccessToken string }
	_ = json.NewDecoder(resp.Body).Decode(&signup)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || signup.AccessToken == "" {
		t.Fatalf("signup through /actions with the development secret: %d", resp.StatusCode)
	}

	// The banner (complete: it is written before the server answers).
	_, port, _ := strings.Cut(strings.TrimPrefix(dev.base, "http://"), ":")
	// What Hasura needs: the development key, with the clock skew authgate
	// recommends when the key sets none.
	hasuraJWT := strings.TrimSuffix(string(jwtFile), "}") + `,"allowed_skew":5}`
	wantInBanner := []string{
		"Playground  " + dev.base + "/\n",
		"GraphQL     " + dev.base + "/graphql\n",
		"\n  HASURA_GRAPHQL_JWT_SECRET='" + hasuraJWT + "'\n",
		"\n  AUTHGATE_ACTION_SECRET='" + string(actionFile) + "'\n",
		"\n  AUTHGATE_URL='http://host.docker.internal:" + port + "'\n",
		"\n  HASURA_GRAPHQL_UNAUTHORIZED_ROLE=anonymous\n",
		"--add-host=host.docker.internal:host-gateway",
	}
	banner := dev.stdout.String()
	for _, want := range wantInBanner {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner does not hold %q:\n%s", want, banner)
		}
	}

	logs := dev.stderr.String()
	for _, want := range []string{
		"level=WARN", // text, not JSON
		"created the development database",
		"AUTHGATE_INTROSPECT is not an authgate setting and is ignored; did you mean AUTHGATE_INTROSPECTION?",
		"DEVELOPMENT MODE: AUTHGATE_ACTION_SECRET is not set",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, `{"time"`) {
		t.Errorf("development logs JSON lines:\n%s", logs)
	}
	if strings.Contains(logs, string(actionFile)) || strings.Contains(logs, string(jwtFile)) {
		t.Errorf("the log shows a secret:\n%s", logs)
	}

	// hasura-config reads the development key too.
	if out := mustRun(t, settings{}, "", "hasura-config", "--data-dir", dataDir); out != hasuraJWT+"\n" {
		t.Errorf("hasura-config --data-dir printed %q, want the development key %s", out, hasuraJWT)
	}
	if r := run(t, settings{}, "", "hasura-config", "--data-dir", t.TempDir()); r.code != 1 || !strings.Contains(r.stderr, "make run") {
		t.Errorf("hasura-config without a key: exit %d, stderr %q", r.code, r.stderr)
	}

	// A second run reuses the secrets, so a Hasura configured once keeps working.
	again := startDev(t, s, nil, dataDir)
	if !bytes.Contains([]byte(again.stdout.String()), []byte("AUTHGATE_ACTION_SECRET='"+string(actionFile)+"'")) {
		t.Errorf("the second run printed other secrets:\n%s", again.stdout)
	}
	if strings.Contains(again.stderr.String(), "created the development database") {
		t.Error("the second run created the database again")
	}
}

// TestDevModeNeverPrintsSecretsItWasGiven checks that secrets the
// environment sets are left out of the banner (only generated development
// secrets are shown), and are not written under the data directory.
func TestDevModeNeverPrintsSecretsItWasGiven(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), ".data")
	const jwt = `{"type":"HS256","key":"given-key-0123456789abcdef0123456789abcdef"}`
	const action = "given-action-secret-0123456789abcdef0123456789"
	dev := startDev(t, settings{
		"DATABASE_URL":                  pgtest.NewDatabase(t),
		"AUTHGATE_ADDR":                 "127.0.0.1:0",
		"HASURA_GRAPHQL_JWT_SECRET":     jwt,
		"AUTHGATE_ACTION_SECRET":        action,
		"AUTHGATE_REFRESH_TOKEN_SECRET": "given-refresh-secret-0123456789abcdef0123",
	}, nil, dataDir)
	banner := dev.stdout.String()
	if strings.Contains(banner, "given-key") || strings.Contains(banner, action) {
		t.Errorf("the banner shows a secret it was given:\n%s", banner)
	}
	if !strings.Contains(banner, "# HASURA_GRAPHQL_JWT_SECRET: the value you set") || !strings.Contains(banner, "# AUTHGATE_ACTION_SECRET: the value you set") {
		t.Errorf("the banner does not say where the given secrets come from:\n%s", banner)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("generated %d files though every secret was given", len(entries))
	}
}
