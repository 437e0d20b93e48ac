package cli_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// getBody GETs url with optional headers (name, value pairs) and returns
// the status and body.
func getBody(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// By default /metrics is on the public listener and pprof is nowhere; with
// AUTHGATE_METRICS_ADDR and AUTHGATE_PPROF_ADDR each is on its own listener
// and the public one answers neither.
func TestMetricsAndPprofListeners(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	const public, metrics, pprof = "authgate listening", "metrics listening", "pprof listening"

	base := startServe(t, baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0"), public).addrs[public]
	if code, body := getBody(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "authgate_live_sessions") {
		t.Fatalf("default: public /metrics = %d %.200q", code, body)
	}
	if code, _ := getBody(t, base+"/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("default: public /debug/pprof/ = %d, want 404", code)
	}

	addrs := startServe(t, baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0",
		"AUTHGATE_METRICS_ADDR", "127.0.0.1:0", "AUTHGATE_PPROF_ADDR", "127.0.0.1:0"), public, metrics, pprof).addrs
	if code, body := getBody(t, addrs[metrics]+"/metrics"); code != http.StatusOK || !strings.Contains(body, "authgate_live_sessions") {
		t.Fatalf("metrics listener: /metrics = %d %.200q", code, body)
	}
	if code, body := getBody(t, addrs[pprof]+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof listener: /debug/pprof/ = %d %.200q", code, body)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if code, _ := getBody(t, addrs[public]+path); code != http.StatusNotFound {
			t.Fatalf("public listener: %s = %d, want 404", path, code)
		}
	}
	if code, _ := getBody(t, addrs[public]+"/healthz"); code != http.StatusOK {
		t.Fatalf("public listener: /healthz = %d", code)
	}
}

// The revocation state a server loads at start shows on /metrics.
func TestMetricsShowTheRevocationState(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	for _, jti := range []string{"metrics-jti-1", "metrics-jti-2"} {
		if err := env.Service.DenyAccessToken(t.Context(), jti, env.Clock.Now().Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	const public = "authgate listening"
	base := startServe(t, baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0"), public).addrs[public]
	_, body := getBody(t, base+"/metrics")
	want := []string{
		`authgate_revocation_entries{kind="denylisted_tokens"} 2`,
		`authgate_revocation_entries{kind="ended_sessions"} 0`,
		`authgate_revocation_entries{kind="user_cutoffs"} 0`,
	}
	if got := grepLines(body, "authgate_revocation_entries{"); !slices.Equal(got, want) {
		t.Errorf("/metrics has %q, want %q", got, want)
	}
}

func grepLines(text, substr string) []string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}
