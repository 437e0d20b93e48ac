package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"authgate/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// dockerfile is what the image is built from; read, never copied, so the
// test and the image cannot drift apart.
type dockerfile struct {
	// buildEnv and buildArgs are the build stage's `RUN … go build …` line:
	// its leading NAME=value assignments and go's arguments.
	buildEnv, buildArgs []string
	// final is the last stage's base image; user, healthcheck and
	// entrypoint its instructions' arguments.
	final, user, healthcheck, entrypoint string
}

// readDockerfile reads the instructions this test relies on. No image can
// be pulled on the machines that run the tests, so the test builds and runs
// the binary the way the Dockerfile does instead.
func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		instruction, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instruction) {
		case "FROM":
			d.final, _, _ = strings.Cut(rest, " ")
		case "USER":
			d.user = rest
		case "HEALTHCHECK":
			d.healthcheck = rest
		case "ENTRYPOINT":
			d.entrypoint = rest
		case "RUN":
			words := shellWords(t, rest)
			i := slices.IndexFunc(words, func(w string) bool { return !strings.Contains(w, "=") })
			if i < 0 || i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
				continue
			}
			if d.buildArgs != nil {
				t.Fatal("Dockerfile: more than one go build line")
			}
			d.buildEnv, d.buildArgs = words[:i], words[i+1:]
		}
	}
	if d.buildArgs == nil {
		t.Fatal("Dockerfile: no RUN … go build line")
	}
	return d
}

// shellWords splits a shell command line into words, as sh would for the
// quoting a Dockerfile's build line uses (single and double quotes).
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var (
		words   []string
		word    strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, c := range s {
		switch {
		case escaped:
			word.WriteRune(c)
			escaped = false
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(c)
		case c == '\\':
			escaped, inWord = true, true
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case strings.ContainsRune("&|;<>$`", c):
			t.Fatalf("Dockerfile: the build line %q uses %q, which this test does not read", s, c)
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("Dockerfile: unbalanced quote in %q", s)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// TestDockerfileBinaryIsStaticAndRuns builds authgate exactly as the
// Dockerfile does (its build line's environment and flags, only the output
// path changed) and checks what the image relies on: the binary is static
// (the distroless base has no C library), it answers --help, it serves
// against a real database, and `authgate healthcheck` (the HEALTHCHECK; the
// image has no curl) succeeds against it and fails with nothing listening.
func TestDockerfileBinaryIsStaticAndRuns(t *testing.T) {
	t.Parallel()
	d := readDockerfile(t)
	if !strings.HasPrefix(d.final, "gcr.io/distroless/static") && d.final != "scratch" {
		t.Errorf("final image %s, want a minimal one (distroless static or scratch)", d.final)
	}
	if d.user == "" || strings.HasPrefix(d.user, "root") || strings.HasPrefix(d.user, "0") {
		t.Errorf("USER %q, want a non-root user", d.user)
	}
	if !strings.Contains(d.healthcheck, `"healthcheck"]`) || !strings.Contains(d.entrypoint, "authgate") {
		t.Errorf("HEALTHCHECK %q / ENTRYPOINT %q, want the binary's own healthcheck", d.healthcheck, d.entrypoint)
	}
	if !slices.Contains(d.buildEnv, "CGO_ENABLED=0") {
		t.Errorf("the build line sets %v, want CGO_ENABLED=0", d.buildEnv)
	}

	bin := filepath.Join(t.TempDir(), "authgate")
	args := slices.Clone(d.buildArgs)
	o := slices.Index(args, "-o")
	if o < 0 || o+1 >= len(args) {
		t.Fatalf("the build line %v has no -o", args)
	}
	args[o+1] = bin
	build := exec.Command("go", args...)
	build.Env = append(os.Environ(), d.buildEnv...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	wantStatic(t, bin)

	out, err := exec.Command(bin, "--help").Output()
	if err != nil || !bytes.Contains(out, []byte("usage: authgate")) {
		t.Fatalf("authgate --help: %v\n%s", err, out)
	}

	addr := freeAddr(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "AUTHGATE_ADDR=" + addr}
	check := func() (string, error) {
		cmd := exec.Command(bin, "healthcheck")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := check(); err == nil {
		t.Errorf("healthcheck with nothing listening succeeded: %s", out)
	}

	serve := exec.Command(bin, "serve")
	serve.Env = append(slices.Clone(env),
		"DATABASE_URL="+pgtest.NewDatabase(t),
		`HASURA_GRAPHQL_JWT_SECRET={"type":"HS256","key":"docker-test-key-0123456789abcdef0123456789"}`,
		"AUTHGATE_REFRESH_TOKEN_SECRET=docker-test-refresh-secret-0123456789abcdef",
		"AUTHGATE_ARGON2_MEMORY_KIB=1024", "AUTHGATE_ARGON2_ITERATIONS=1")
	var logs lockedBuffer
	serve.Stderr = &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	defer func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve after SIGTERM: %v\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			_ = serve.Process.Kill()
			t.Error("serve did not stop on SIGTERM")
		}
	}()
	waitListening(t, addr, exited, &logs)

	if out, err := check(); err != nil || !strings.HasPrefix(out, "ok: http://"+addr+"/healthz") {
		t.Errorf("healthcheck against the running server: %v: %s", err, out)
	}
	resp, err := http.Post("http://"+addr+"/graphql", "application/json",
		strings.NewReader(`{"query":"mutation { signup(email: \"docker@example.com\", password: \"correct horse\") { sessionId } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("sign-up through the built binary: %d", resp.StatusCode)
	}
}

// wantStatic fails unless bin is an ELF executable that needs no dynamic
// loader or shared library.
func wantStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (%s): the distroless static image cannot run it", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %v", libs)
	}
}

// freeAddr is a loopback address nothing listens on (just now).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitListening waits until addr accepts connections, failing if the
// server exits first.
func waitListening(t *testing.T, addr string, exited chan error, logs fmt.Stringer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("serve exited (%v) before listening: %s", err, logs)
		case <-ctx.Done():
			t.Fatalf("serve is not listening on %s: %s", addr, logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lockedBuffer is a buffer the child's output is copied into while the test
// may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
