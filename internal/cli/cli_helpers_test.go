package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/cli"
)

// settings are the environment variables of one CLI run.
type settings map[string]string

// baseSettings point the CLI at env's database, with env's JWT key and
// cheap hashing.
func baseSettings(env *authtest.Env) settings {
	return settings{
		"DATABASE_URL":                  env.DatabaseURL,
		"HASURA_GRAPHQL_JWT_SECRET":     authtest.JWTSecret,
		"AUTHGATE_REFRESH_TOKEN_SECRET": authtest.RefreshSecret,
		"AUTHGATE_ARGON2_MEMORY_KIB":    "1024",
		"AUTHGATE_ARGON2_ITERATIONS":    "1",
	}
}

// with returns a copy of s with the pairs (name, value, …) set; an empty
// value unsets.
func (s settings) with(pairs ...string) settings {
	out := settings{}
	for k, v := range s {
		out[k] = v
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			delete(out, pairs[i])
			continue
		}
		out[pairs[i]] = pairs[i+1]
	}
	return out
}

// result is what one CLI run did.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the CLI with args, these settings and stdin.
func run(t *testing.T, s settings, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Env{
		Getenv: func(name string) string { return s[name] },
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errOut,
	})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// mustRun runs the CLI and fails the test unless it exits 0.
func mustRun(t *testing.T, s settings, stdin string, args ...string) string {
	t.Helper()
	r := run(t, s, stdin, args...)
	if r.code != 0 {
		t.Fatalf("authgate %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// login signs in through env's service and fails the test on error.
func login(t *testing.T, env *authtest.Env, email, pw string) *auth.AuthPayload {
	t.Helper()
	p, err := env.Service.Login(context.Background(), email, pw, nil)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return p
}

// wantCode fails unless err is an auth error with this code.
func wantCode(t *testing.T, err error, code auth.Code) {
	t.Helper()
	if got := auth.CodeOf(err); err == nil || got != code {
		t.Fatalf("error %v (code %s), want %s", err, got, code)
	}
}

// hasuraClaims decodes an access token's Hasura claims (unverified).
func hasuraClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	var claims struct {
		Hasura map[string]any `json:"https://hasura.io/jwt/claims"`
	}
	raw := authtest.JWTPayload(t, token)
	if err := json.Unmarshal(raw, &claims); err != nil || claims.Hasura == nil {
		t.Fatalf("no Hasura claims in %s: %v", raw, err)
	}
	return claims.Hasura
}

// logWriter is a goroutine-safe writer that reports the first line holding
// each watched text.
type logWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	watches map[string]chan string
}

func newLogWriter(texts ...string) *logWriter {
	w := &logWriter{watches: map[string]chan string{}}
	for _, s := range texts {
		w.watches[s] = make(chan string, 1)
	}
	return w
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for text, ch := range w.watches {
		if bytes.Contains(p, []byte(text)) {
			select {
			case ch <- string(p):
			default:
			}
		}
	}
	return len(p), nil
}

// await waits up to timeout for a line holding text, written before or
// after the call, and returns it; it fails t when none comes.
func (w *logWriter) await(t *testing.T, text string, timeout time.Duration) string {
	t.Helper()
	w.mu.Lock()
	for _, line := range strings.SplitAfter(w.buf.String(), "\n") {
		if strings.Contains(line, text) {
			w.mu.Unlock()
			return line
		}
	}
	ch, ok := w.watches[text]
	if !ok {
		ch = make(chan string, 1)
		w.watches[text] = ch
	}
	w.mu.Unlock()
	select {
	case line := <-ch:
		return line
	case <-time.After(timeout):
		t.Fatalf("no log line with %q within %s: %s", text, timeout, w)
		return ""
	}
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// serveRun is an `authgate serve` started by startServe.
type serveRun struct {
	// addrs are the addresses its watched "… listening" lines name.
	addrs map[string]string
	// logs watch the listening lines and "shutting down".
	logs *logWriter
	// stop ends its context, as SIGTERM does.
	stop context.CancelFunc
	// done closes when Run has returned code.
	done chan struct{}
	code int
}

// startServe runs `authgate serve` with s until the test ends (and then
// expects exit code 0), and waits for each of its "… listening" lines.
func startServe(t *testing.T, s settings, listeners ...string) *serveRun {
	t.Helper()
	return startServeArgs(t, []string{"serve"}, s, listeners...)
}

// startServeArgs is startServe with the command line args (serve and its
// flags).
func startServeArgs(t *testing.T, args []string, s settings, listeners ...string) *serveRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &serveRun{addrs: map[string]string{}, logs: newLogWriter(append(listeners, "shutting down")...),
		stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.code = cli.Run(ctx, args, cli.Env{
			Getenv:    func(name string) string { return s[name] },
			LookupEnv: func(name string) (string, bool) { v, ok := s[name]; return v, ok },
			Stdin:     strings.NewReader(""),
			Stdout:    io.Discard,
			Stderr:    r.logs,
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(time.Minute):
			t.Errorf("serve had not returned a minute after its context ended: %s", r.logs)
			return
		}
		if r.code != 0 {
			t.Errorf("serve exited %d when its context ended: %s", r.code, r.logs)
		}
	})
	for _, l := range listeners {
		select {
		case line := <-r.logs.watches[l]:
			addr := logAttr(line, "addr")
			if addr == "" {
				t.Fatalf("%q line without addr: %q", l, line)
			}
			r.addrs[l] = "http://" + addr
		case <-r.done:
			t.Fatalf("serve exited %d before %q: %s", r.code, l, r.logs)
		case <-time.After(60 * time.Second):
			t.Fatalf("no %q: %s", l, r.logs)
		}
	}
	return r
}

// wantLines checks that output has exactly one line per pattern, each
// matching its pattern (a regular expression) whole.
func wantLines(t *testing.T, output string, patterns []string) {
	t.Helper()
	got := strings.Split(strings.TrimRight(output, "\n"), "\n")
	if len(got) != len(patterns) {
		t.Fatalf("%d lines, want %d; output:\n%s", len(got), len(patterns), output)
	}
	for i, p := range patterns {
		if !regexp.MustCompile("^" + p + "$").MatchString(got[i]) {
			t.Errorf("line %d of the output is %q, want %s", i+1, got[i], p)
		}
	}
}

// getenv reads s as the environment.
func (s settings) getenv(name string) string { return s[name] }

// logAttr reads attribute name from one log line, JSON (production) or
// slog's text form (development mode); "" when it is not there.
func logAttr(line, name string) string {
	var rec map[string]any
	if json.Unmarshal([]byte(line), &rec) == nil {
		v, _ := rec[name].(string)
		return v
	}
	for _, field := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(field, name+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
