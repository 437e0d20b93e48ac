package cli_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/oidc/oidctest"
)

// TestServeWiresProviders: serve starts with one provider that answers and
// one that is down (discovery is lazy, so that one does not stop it);
// /auth/corp/start redirects to the provider with the callback under
// AUTHGATE_PUBLIC_URL, and the provider that is down answers the app's
// page PROVIDER_ERROR.
func TestServeWiresProviders(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	op := oidctest.NewOP(t)
	const public = "http://localhost:8090"
	run := startServe(t, baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0",
		"AUTHGATE_PUBLIC_URL", public, "AUTHGATE_APP_URL", "https://app.example.com/signed-in",
		"AUTHGATE_PROVIDERS", `[{"id":"corp","type":"oidc","issuer":"`+op.Issuer+`","client_id":"authgate","client_secret":"s"},
			{"id":"down","type":"oidc","issuer":"http://127.0.0.1:1","client_id":"authgate"}]`), "authgate listening")
	base := run.addrs["authgate listening"]
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := client.Get(base + "/auth/corp/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), op.Issuer+"/") ||
		loc.Query().Get("redirect_uri") != public+"/auth/corp/callback" {
		t.Fatalf("start: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c := resp.Cookies(); len(c) != 1 || c[0].Secure {
		t.Errorf("flow cookie on a plain-http localhost public URL: %+v (Secure would keep the browser from sending it back)", c)
	}

	resp, err = client.Get(base + "/auth/down/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "error=PROVIDER_ERROR") {
		t.Errorf("a provider that is down: %d %q", resp.StatusCode, loc)
	}
}

func TestServeRefusesABadProviderEntryInOneLine(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	r := run(t, baseSettings(env).with("AUTHGATE_PUBLIC_URL", "https://auth.example.com",
		"AUTHGATE_PROVIDERS", `[{"id":"corp","type":"oidc","client_id":"x"}]`), "", "serve")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, `AUTHGATE_PROVIDERS: entry 1 ("corp"): "issuer" is required`) {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
