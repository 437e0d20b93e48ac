package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/clock"
	"authgate/internal/config"
	"authgate/internal/httpapi"
	"authgate/internal/oidc"
	"authgate/internal/oidc/oidctest"
	"authgate/internal/redirect"
)

// appPage is the app's page a provider sign-in returns to; nothing serves
// it: test browsers stop before it.
const appPage = "https://app.example.com/signed-in"

// providerServer is authgate's whole HTTP surface with a provider "corp"
// (a real OpenID provider, in-process), over a real store.
type providerServer struct {
	url string
	env *authtest.Env
	op  *oidctest.OP
	// keyed is provider "native": ID tokens the test signs, for
	// signInWithIdToken (client_id web-client, client_ids ios-client).
	keyed *oidctest.KeyedProvider
	// github is provider "github": a server speaking GitHub's shapes.
	github *oidctest.GitHub
	flows  *oidc.Service
	// clock is the flows' clock (the provider's tokens carry real time).
	clock *clock.Fake
}

func newProviderServer(t *testing.T, accounts func(env *authtest.Env) oidc.Accounts) *providerServer {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	s := &providerServer{url: "http://" + ts.Listener.Addr().String(), clock: clock.NewFake(time.Now())}
	s.op = oidctest.NewOP(t, s.url+"/auth/corp/callback")
	s.keyed = oidctest.NewKeyedProvider(t)
	s.github = oidctest.NewGitHub(t, "gh-client", "gh-secret")
	allow, err := redirect.New([]string{"https://app.example.com"}, appPage)
	if err != nil {
		t.Fatal(err)
	}
	cfg := authtest.DefaultConfig()
	cfg.Providers, cfg.PublicURL, cfg.Redirects = []string{"corp", "native", "github"}, s.url, allow
	s.env = authtest.New(t, cfg)
	var acc oidc.Accounts = s.env.Service
	if accounts != nil {
		acc = accounts(s.env)
	}
	s.flows, err = oidc.New(oidc.Options{
		Providers: []config.Provider{{ID: "corp", Type: config.ProviderOIDC, Issuer: s.op.Issuer, ClientID: oidctest.ClientID,
			ClientSecret: oidctest.ClientSecret, Scopes: []string{"openid", "email", "profile"}, CallbackURL: s.url + "/auth/corp/callback"},
			{ID: "native", Type: config.ProviderGoogle, Issuer: s.keyed.Issuer, ClientID: "web-client", ClientIDs: []string{"ios-client"},
				Scopes: []string{"openid", "email"}, CallbackURL: s.url + "/auth/native/callback"},
			{ID: "github", Type: config.ProviderGitHub, ClientID: "gh-client", ClientSecret: "gh-secret", Scopes: []string{"read:user", "user:email"},
				AuthURL: s.github.URL + "/login/oauth/authorize", TokenURL: s.github.URL + "/login/oauth/access_token", APIURL: s.github.URL,
				CallbackURL: s.url + "/auth/github/callback"}},
		Redirects: allow, Secret: []byte(strings.Repeat("k", 32)), InsecureCookie: true, Clock: s.clock,
	}, acc)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = httpapi.New(httpapi.Config{Providers: s.flows, ActionSecret: actionSecret}, s.env.Service,
		graph.NewServer(s.env.Service, graph.Options{Providers: s.flows}), s.env.Store, discardLogger())
	ts.Start()
	t.Cleanup(ts.Close)
	return s
}

// get sends GET path to authgate without following redirects.
func (s *providerServer) get(t *testing.T, path string) *http.Response {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.url + path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// wantErrorPage checks resp is the plain 400 page naming code, sending
// the browser nowhere and setting no cookie.
func wantErrorPage(t *testing.T, resp *http.Response, code auth.Code) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || len(resp.Cookies()) != 0 ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || !strings.Contains(string(body), string(code)) {
		t.Fatalf("%d Location=%q cookies=%v %q, want a 400 page naming %s", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies(), body, code)
	}
}

func TestProviderStartRoute(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, nil)

	resp := s.get(t, "/auth/corp/start?redirectTo="+appPage)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.op.Issuer+"/auth?") {
		t.Fatalf("start: %d Location=%q", resp.StatusCode, loc)
	}
	cookies := resp.Header.Values("Set-Cookie")
	if len(cookies) != 1 || !strings.HasPrefix(cookies[0], oidc.CookiePrefix) || !strings.Contains(cookies[0], "; Path=/auth/") ||
		!strings.Contains(cookies[0], "; HttpOnly") || !strings.Contains(cookies[0], "; SameSite=Lax") {
		t.Errorf("Set-Cookie = %q", cookies)
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("a redirect carrying a state must not leak through Referer or caches: %v", resp.Header)
	}

	// Redirect targets that share a string prefix with an allowed one.
	for _, target := range []string{"https://app.example.com.evil.net/", "https://app.example.com@evil.net/", "https://evil.net/"} {
		wantErrorPage(t, s.get(t, "/auth/corp/start?redirectTo="+target), auth.CodeBadUserInput)
	}
	wantErrorPage(t, s.get(t, "/auth/nope/start?redirectTo="+appPage), oidc.CodeUnknownProvider)
	wantErrorPage(t, s.get(t, "/auth/corp/callback?state=forged&code=x"), auth.CodeBadUserInput)
	wantErrorPage(t, s.get(t, "/auth/corp/callback"), auth.CodeBadUserInput)
}

func TestProviderRoutesWithoutProviders(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	resp := s.send(t, http.MethodGet, "/auth/corp/start?redirectTo="+appPage, nil)
	defer resp.Body.Close()
	wantErrorPage(t, resp, oidc.CodeUnknownProvider)
}
