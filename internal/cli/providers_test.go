package cli_test

import (
	"strings"
	"testing"

	"authgate/internal/oidc/oidctest"
)

// TestProvidersCommandPrintsCallbacksAndChecksDiscovery: one line per
// provider with its callback URL; a provider whose discovery fails makes
// the command fail, naming it.
func TestProvidersCommandPrintsCallbacksAndChecksDiscovery(t *testing.T) {
	t.Parallel()
	op := oidctest.NewOP(t)
	good := `{"id":"corp","type":"oidc","issuer":"` + op.Issuer + `","client_id":"authgate","client_secret":"s"}`
	github := `{"id":"gh","type":"github","client_id":"g","client_secret":"s"}`
	down := `{"id":"down","type":"oidc","issuer":"http://127.0.0.1:1","client_id":"authgate"}`
	s := settings{"AUTHGATE_PUBLIC_URL": "https://auth.example.com"}

	out := mustRun(t, s.with("AUTHGATE_PROVIDERS", "["+good+","+github+"]"), "", "providers")
	wantLines(t, out, []string{
		`^ID +TYPE +CALLBACK URL +DISCOVERY$`,
		`^corp +oidc +https://auth\.example\.com/auth/corp/callback +ok: ` + op.Issuer + `$`,
		`^gh +github +https://auth\.example\.com/auth/gh/callback +none \(OAuth 2 and the user API at https://api\.github\.com\)$`,
	})

	r := run(t, s.with("AUTHGATE_PROVIDERS", "["+good+","+down+"]"), "", "providers")
	if r.code != 1 || !strings.Contains(r.stdout, "down") || !strings.Contains(r.stdout, "FAILED: ") ||
		!strings.Contains(r.stderr, "1 of 2 providers failed discovery") {
		t.Errorf("with a provider down: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	r = run(t, s.with("AUTHGATE_PROVIDERS", `[{"id":"x","type":"saml"}]`), "", "providers")
	if r.code != 1 || !strings.Contains(r.stderr, `AUTHGATE_PROVIDERS: entry 1 ("x")`) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("a bad entry: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := mustRun(t, settings{}, "", "providers"); !strings.Contains(out, "no identity providers are configured") {
		t.Errorf("none configured: %q", out)
	}
}
