package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
	"authgate/internal/redirect"
)

// idTokenStub stands in for internal/oidc's verification of a native ID
// token (not what these tests are about): any token names the identity
// google/<token>, and auth does the rest.
type idTokenStub struct {
	httpapi.ProviderFlows // the browser flow's routes are not used here
	svc                   *auth.Service
}

func (s idTokenStub) SignInWithIdToken(ctx context.Context, provider, idToken string, nonce, description *string) (*auth.AuthPayload, error) {
	return s.svc.SignInWithIdentity(ctx, auth.ExternalIdentity{Provider: provider, Subject: idToken, Email: idToken + "@example.com", EmailVerified: true}, description)
}

// newIdentityServer is newServer with the identity providers google and
// corp configured, the app at https://app.example.com, and, when
// withStub, an ID-token verifier.
func newIdentityServer(t *testing.T, cfg httpapi.Config, withStub bool) *server {
	t.Helper()
	ac := authtest.DefaultConfig()
	ac.Providers = []string{"google", "corp"}
	ac.PublicURL = "https://auth.example.com"
	allow, err := redirect.New([]string{"https://app.example.com"}, "https://app.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	ac.Redirects = allow
	env := authtest.New(t, ac)
	cfg.ActionSecret = actionSecret
	var opts graph.Options
	if withStub {
		stub := idTokenStub{svc: env.Service}
		cfg.Providers, opts.Providers = stub, stub
	}
	h := httpapi.New(cfg, env.Service, graph.NewServer(env.Service, opts), env.Store, discardLogger())
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &server{env: env, url: ts.URL, h: h}
}

// callbackCode is what the provider callback appends to redirectTo: a code
// for the identity (internal/oidc calls IssueAuthCode the same way).
func callbackCode(t *testing.T, s *server, id auth.ExternalIdentity, link string) string {
	t.Helper()
	// The callback comes from the test's browser, where startIdentityLink
	// was called from: a link only works from that network.
	browser := auth.WithClient(context.Background(), auth.Client{IP: "127.0.0.1"})
	code, err := s.env.Service.IssueAuthCode(browser, id, link, "")
	if err != nil {
		t.Fatal(err)
	}
	return code
}

type identityAnswer struct {
	Provider  string  `json:"provider"`
	Subject   string  `json:"subject"`
	Email     *string `json:"email"`
	CreatedAt string  `json:"createdAt"`
}

func TestProviderSignInThroughGraphQL(t *testing.T) {
	s := newIdentityServer(t, httpapi.Config{}, false)
	g := auth.ExternalIdentity{Provider: "google", Subject: "g-1", Email: "a@example.com", EmailVerified: true}
	const exchange = `mutation($code: String!) { exchangeAuthCode(code: $code, description: "laptop") { ` + payloadFields + ` } }`
	code := callbackCode(t, s, g, "")
	var p payload
	s.graphql(t, exchange, map[string]any{"code": code}).into(t, "exchangeAuthCode", &p)
	if p.User.Email != "a@example.com" || p.RefreshToken == "" {
		t.Fatalf("payload %+v", p)
	}
	s.graphql(t, exchange, map[string]any{"code": code}).wantCode(t, auth.CodeInvalidAuthCode)
	s.graphql(t, exchange, map[string]any{"code": "nonsense"}).wantCode(t, auth.CodeInvalidAuthCode)

	var me struct {
		Identities []identityAnswer `json:"identities"`
	}
	s.graphql(t, `{ me { identities { provider subject email createdAt } } }`, nil, bearer(p.AccessToken)...).into(t, "me", &me)
	if len(me.Identities) != 1 || me.Identities[0].Provider != "google" || me.Identities[0].Subject != "g-1" ||
		me.Identities[0].Email == nil || *me.Identities[0].Email != "a@example.com" || me.Identities[0].CreatedAt != authtest.Start.Format("2006-01-02T15:04:05Z07:00") {
		t.Fatalf("identities %+v", me.Identities)
	}

	// The last way in stays; a second identity, linked through
	// startIdentityLink, lets the first go.
	const unlink = `mutation($p: String!) { unlinkIdentity(provider: $p) }`
	s.graphql(t, unlink, map[string]any{"p": "google"}, bearer(p.AccessToken)...).wantCode(t, auth.CodeBadUserInput)
	s.graphql(t, unlink, map[string]any{"p": "google"}).wantCode(t, auth.CodeUnauthenticated)
	const start = `mutation($p: String!, $r: String!) { startIdentityLink(provider: $p, redirectTo: $r) }`
	s.graphql(t, start, map[string]any{"p": "github", "r": "https://app.example.com/"}, bearer(p.AccessToken)...).wantCode(t, auth.CodeUnknownProvider)
	s.graphql(t, start, map[string]any{"p": "corp", "r": "https://evil.example.net/"}, bearer(p.AccessToken)...).wantCode(t, auth.CodeBadUserInput)
	s.graphql(t, start, map[string]any{"p": "corp", "r": "https://app.example.com/"}).wantCode(t, auth.CodeUnauthenticated)
	var linkURL string
	s.graphql(t, start, map[string]any{"p": "corp", "r": "https://app.example.com/settings"}, bearer(p.AccessToken)...).into(t, "startIdentityLink", &linkURL)
	u, err := url.Parse(linkURL)
	if err != nil || !strings.HasPrefix(linkURL, "https://auth.example.com/auth/corp/start?") {
		t.Fatalf("link URL %q", linkURL)
	}
	code = callbackCode(t, s, auth.ExternalIdentity{Provider: "corp", Subject: "c-1"}, u.Query().Get("link"))
	var linked payload
	s.graphql(t, exchange, map[string]any{"code": code}).into(t, "exchangeAuthCode", &linked)
	if linked.User.ID != p.User.ID {
		t.Fatalf("the link's sign-in is %s, want %s", linked.User.ID, p.User.ID)
	}
	var ok bool
	s.graphql(t, unlink, map[string]any{"p": "google"}, bearer(p.AccessToken)...).into(t, "unlinkIdentity", &ok)
	s.graphql(t, unlink, map[string]any{"p": "google"}, bearer(p.AccessToken)...).wantCode(t, auth.CodeNotFound)
	s.graphql(t, `{ me { identities { provider } } }`, nil, bearer(p.AccessToken)...).into(t, "me", &me)
	if !ok || len(me.Identities) != 1 || me.Identities[0].Provider != "corp" {
		t.Fatalf("after unlinking google: %v %+v", ok, me.Identities)
	}

	// No ID-token verifier configured.
	s.graphql(t, `mutation { signInWithIdToken(provider: "google", idToken: "x") { sessionId } }`, nil).wantCode(t, auth.CodeUnknownProvider)
}

func TestProviderSignInThroughActions(t *testing.T) {
	s := newIdentityServer(t, httpapi.Config{}, true)
	code := callbackCode(t, s, auth.ExternalIdentity{Provider: "google", Subject: "g-1", Email: "a@example.com", EmailVerified: true}, "")
	status, raw := s.action(t, "exchangeAuthCode", map[string]any{"code": code}, nil)
	if status != http.StatusOK {
		t.Fatalf("exchangeAuthCode: %d %s", status, raw)
	}
	var p map[string]any
	decodeJSON(t, raw, &p)
	status, raw = s.action(t, "exchangeAuthCode", map[string]any{"code": code}, nil)
	wantActionCode(t, status, raw, http.StatusUnauthorized, auth.CodeInvalidAuthCode)
	status, raw = s.action(t, "exchangeAuthCode", map[string]any{}, nil)
	wantActionCode(t, status, raw, http.StatusBadRequest, auth.CodeBadUserInput)

	// me's answer carries the identities when the client's query selects them.
	body := actionBodyWithQuery(t, "me", nil, userVars(p), "query { me { identities { provider subject email createdAt } } }")
	status, raw = s.do(t, http.MethodPost, "/actions", body, "Content-Type", "application/json", "X-Action-Secret", actionSecret)
	var me struct {
		Identities []identityAnswer `json:"identities"`
	}
	decodeJSON(t, raw, &me)
	if status != http.StatusOK || len(me.Identities) != 1 || me.Identities[0].Subject != "g-1" {
		t.Fatalf("me: %d %s", status, raw)
	}

	status, raw = s.action(t, "unlinkIdentity", map[string]any{"provider": "google"}, userVars(p))
	wantActionCode(t, status, raw, http.StatusBadRequest, auth.CodeBadUserInput)
	status, raw = s.action(t, "unlinkIdentity", map[string]any{"provider": "google"}, nil)
	wantActionCode(t, status, raw, http.StatusUnauthorized, auth.CodeUnauthenticated)
	status, raw = s.action(t, "startIdentityLink", map[string]any{"provider": "corp", "redirectTo": "https://app.example.com/"}, userVars(p))
	if status != http.StatusOK || !strings.Contains(string(raw), "https://auth.example.com/auth/corp/start?") {
		t.Fatalf("startIdentityLink: %d %s", status, raw)
	}

	// signInWithIdToken is public, and goes through the configured verifier.
	status, raw = s.action(t, "signInWithIdToken", map[string]any{"provider": "google", "idToken": "g-2"}, nil)
	if status != http.StatusOK || !strings.Contains(string(raw), `"email":"g-2@example.com"`) {
		t.Fatalf("signInWithIdToken: %d %s", status, raw)
	}
	status, raw = s.action(t, "signInWithIdToken", map[string]any{"provider": "github", "idToken": "g-2"}, nil)
	wantActionCode(t, status, raw, http.StatusNotFound, auth.CodeUnknownProvider)
	status, raw = s.action(t, "signInWithIdToken", map[string]any{"provider": "google"}, nil)
	wantActionCode(t, status, raw, http.StatusBadRequest, auth.CodeBadUserInput)

	none := newIdentityServer(t, httpapi.Config{}, false)
	status, raw = none.action(t, "signInWithIdToken", map[string]any{"provider": "google", "idToken": "x"}, nil)
	wantActionCode(t, status, raw, http.StatusNotFound, auth.CodeUnknownProvider)
}

// In cookie mode the provider sign-ins answer like login: the refresh
// token in the HttpOnly cookie only.
func TestProviderSignInsSetTheRefreshCookie(t *testing.T) {
	s := newIdentityServer(t, httpapi.Config{RefreshCookie: httpapi.CookieConfig{Enabled: true, Name: "authgate_refresh", Path: "/graphql"}}, true)
	code := callbackCode(t, s, auth.ExternalIdentity{Provider: "google", Subject: "g-1", Email: "a@example.com", EmailVerified: true}, "")
	for _, query := range []string{
		`mutation { exchangeAuthCode(code: "` + code + `") { refreshToken sessionId } }`,
		`mutation { signInWithIdToken(provider: "google", idToken: "g-2") { refreshToken sessionId } }`,
	} {
		body := mustJSON(t, map[string]any{"query": query})
		resp := s.send(t, http.MethodPost, "/graphql", body, "Content-Type", "application/json")
		r := readGraphQL(t, resp)
		if len(r.Errors) > 0 || strings.Contains(r.Body, `"refreshToken":"`) {
			t.Fatalf("%s: %s", query, r.Body)
		}
		var set bool
		for _, c := range resp.Cookies() {
			set = set || (c.Name == "authgate_refresh" && c.Value != "" && c.HttpOnly)
		}
		if !set {
			t.Fatalf("%s: no refresh cookie set", query)
		}
	}
}

// wantActionCode fails unless an action answered status with code.
func wantActionCode(t *testing.T, status int, raw []byte, wantStatus int, code auth.Code) {
	t.Helper()
	var e struct {
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	}
	decodeJSON(t, raw, &e)
	if status != wantStatus || e.Extensions.Code != string(code) {
		t.Fatalf("got %d %s, want %d %s", status, raw, wantStatus, code)
	}
}

// actionBodyWithQuery is actionBody with the client's query as Hasura
// forwards it.
func actionBodyWithQuery(t *testing.T, name string, input any, vars map[string]string, query string) []byte {
	t.Helper()
	return mustJSON(t, map[string]any{
		"action": map[string]any{"name": name}, "input": input, "session_variables": vars, "request_query": query,
	})
}

// readGraphQL reads and decodes a GraphQL response.
func readGraphQL(t *testing.T, resp *http.Response) gqlResponse {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return decodeGraphQL(t, resp.StatusCode, raw)
}
