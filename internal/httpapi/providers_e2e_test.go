package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/oidc"
	"authgate/internal/oidc/oidctest"
)

const exchangeMutation = `mutation($c: String!) { exchangeAuthCode(code: $c) { ` + payloadFields + ` } }`

// realAccounts is the real accounts side: the environment's auth.Service.
func realAccounts(env *authtest.Env) oidc.Accounts { return env.Service }

// signInAtProvider runs the browser's whole dance through authgate's HTTP
// routes and the real OpenID provider, signing in as user, and returns the
// URL authgate finally sends the browser to (the app's page).
func (s *providerServer) signInAtProvider(t *testing.T, user string) *url.URL {
	t.Helper()
	b := oidctest.NewBrowser(oidctest.HostOf(appPage))
	resp, err := b.Client.Get(s.url + "/auth/corp/start?redirectTo=" + url.QueryEscape(appPage))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("not at the provider's login form: %d %s", resp.StatusCode, resp.Request.URL)
	}
	resp, err = b.Client.PostForm(s.op.Issuer+"/login/username", url.Values{"username": {user}, "password": {oidctest.Password}, "id": {id}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), appPage+"?") {
		t.Fatalf("the dance ended at %d %q, want a redirect to the app's page", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc
}

// callbackAfter runs a browser's sign-in as user up to authgate's
// callback, pauses there to run meanwhile (the provider goes down, time
// passes), then lets the browser reach the callback: it returns the
// callback's answer and where it sends the browser (nil without Location).
func (s *providerServer) callbackAfter(t *testing.T, user string, meanwhile func()) (*http.Response, *url.URL) {
	t.Helper()
	b := oidctest.NewBrowser(oidctest.HostOf(appPage), oidctest.HostOf(s.url))
	cb := b.LogIn(t, s.url+"/auth/corp/start?redirectTo="+url.QueryEscape(appPage), user)
	meanwhile()
	resp, err := b.Client.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	return resp, back
}

func (s *providerServer) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := s.env.Store.DB().GetContext(context.Background(), &n, "SELECT count(*) FROM auth."+table); err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *providerServer) api() *server { return &server{env: s.env, url: s.url} }

// TestProviderSignInEndToEnd: a new user signs in at the real OpenID
// provider; authgate's callback sends the app a one-time code, which
// exchangeAuthCode turns into a session with Hasura claims, once.
func TestProviderSignInEndToEnd(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	back := s.signInAtProvider(t, "alice")
	code := back.Query().Get("code")
	if code == "" || back.Query().Has("error") {
		t.Fatalf("back at %s", back)
	}
	var p payload
	s.api().graphql(t, exchangeMutation, map[string]any{"c": code}).into(t, "exchangeAuthCode", &p)
	if p.User.Email != "alice@example.com" || p.RefreshToken == "" {
		t.Errorf("payload %+v", p)
	}
	claims := jwtClaims(t, p.AccessToken)["https://hasura.io/jwt/claims"].(map[string]any)
	if claims["x-hasura-user-id"] != p.User.ID || claims["x-hasura-default-role"] != "user" || claims["x-hasura-session-id"] != p.SessionID {
		t.Errorf("Hasura claims %v", claims)
	}
	var me struct {
		Identities []struct{ Provider, Subject, Email string }
	}
	s.api().graphql(t, `{ me { identities { provider subject email } } }`, nil, bearer(p.AccessToken)...).into(t, "me", &me)
	if len(me.Identities) != 1 || me.Identities[0].Provider != "corp" || me.Identities[0].Subject != "sub-alice" {
		t.Errorf("identities %+v", me.Identities)
	}

	// The code again: spent.
	s.api().graphql(t, exchangeMutation, map[string]any{"c": code}).wantCode(t, auth.CodeInvalidAuthCode)

	// A second sign-in finds the same user.
	again := s.signInAtProvider(t, "alice")
	var p2 payload
	s.api().graphql(t, exchangeMutation, map[string]any{"c": again.Query().Get("code")}).into(t, "exchangeAuthCode", &p2)
	if p2.User.ID != p.User.ID || s.count(t, "users") != 1 {
		t.Errorf("a second sign-in made another user: %s vs %s", p2.User.ID, p.User.ID)
	}
}

// TestUnverifiedProviderEmailMeetingAnAccount: mallory's provider says
// victim@example.com without having verified it; the account with that
// address is not handed over: ACCOUNT_EXISTS at the app's page, nothing
// linked or created.
func TestUnverifiedProviderEmailMeetingAnAccount(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	s.api().signup(t, "victim@example.com", "victim's password 1")
	back := s.signInAtProvider(t, "mallory")
	if back.Query().Get("error") != string(auth.CodeAccountExists) || back.Query().Has("code") || back.Query().Get("error_description") == "" {
		t.Fatalf("back at %s, want ?error=ACCOUNT_EXISTS", back)
	}
	if s.count(t, "identities") != 0 || s.count(t, "users") != 1 {
		t.Error("an identity was linked or a user created")
	}
}

// TestProviderDownCreatesNothing: the provider stops answering between the
// login and the callback: PROVIDER_ERROR at the app's page, nothing made.
func TestProviderDownCreatesNothing(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	resp, back := s.callbackAfter(t, "alice", s.op.Server.Close)
	if back == nil || back.Query().Get("error") != string(auth.CodeProviderError) {
		t.Fatalf("callback with the provider down: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if s.count(t, "users") != 0 || s.count(t, "identities") != 0 {
		t.Error("something was created while the provider was down")
	}
}

// TestExpiredFlowCookie: the browser comes back after the flow's time is
// up (the flows' fake clock moved on): BAD_USER_INPUT at the app's page,
// nothing created.
func TestExpiredFlowCookie(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	resp, back := s.callbackAfter(t, "alice", func() { s.clock.Advance(oidc.DefaultFlowTTL) })
	if back == nil || back.Query().Get("error") != string(auth.CodeBadUserInput) || !strings.Contains(back.Query().Get("error_description"), "expired") {
		t.Fatalf("callback after the flow expired: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if s.count(t, "users") != 0 {
		t.Error("an expired flow created a user")
	}
}

// TestCallbackWithoutTheFlowCookie is login CSRF: the attacker's own
// callback URL (code and state of the attacker's sign-in) opened in the
// victim's browser, which holds no cookie for that state: a 400 page,
// nothing signed in, no redirect.
func TestCallbackWithoutTheFlowCookie(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	attacker := oidctest.NewBrowser(oidctest.HostOf(appPage), oidctest.HostOf(s.url))
	cb := attacker.LogIn(t, s.url+"/auth/corp/start?redirectTo="+url.QueryEscape(appPage), "alice")
	victim := oidctest.NewBrowser(oidctest.HostOf(appPage))
	resp, err := victim.Client.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	wantErrorPage(t, resp, auth.CodeBadUserInput)
	if s.count(t, "users") != 0 {
		t.Error("a callback without its cookie created a user")
	}
}

// TestSignInWithIdTokenOverGraphQL: a native app's ID token, signed by the
// provider's key (served as its JWKS), signs in over GraphQL when its
// audience is the entry's client_id or one of its client_ids and its nonce
// is the one given; every other token is INVALID_CREDENTIALS and creates
// nothing.
func TestSignInWithIdTokenOverGraphQL(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	const mutation = `mutation($p: String!, $t: String!, $n: String) { signInWithIdToken(provider: $p, idToken: $t, nonce: $n) { ` + payloadFields + ` } }`
	token := func(change func(map[string]any)) string {
		now := time.Now()
		c := map[string]any{"iss": s.keyed.Issuer, "sub": "g-1", "aud": "ios-client", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"email": "gina@example.com", "email_verified": true, "nonce": "n-1"}
		if change != nil {
			change(c)
		}
		return s.keyed.Sign(t, c, nil)
	}
	for name, tc := range map[string]struct {
		token, nonce string
	}{
		"another audience": {token(func(c map[string]any) { c["aud"] = "someone-else" }), "n-1"},
		"a wrong nonce":    {token(nil), "n-2"},
		"expired":          {token(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), "n-1"},
		"another issuer":   {token(func(c map[string]any) { c["iss"] = s.op.Issuer }), "n-1"},
	} {
		s.api().graphql(t, mutation, map[string]any{"p": "native", "t": tc.token, "n": tc.nonce}).wantCode(t, auth.CodeInvalidCredentials)
		if s.count(t, "users") != 0 {
			t.Fatalf("%s: a user was created", name)
		}
	}
	s.api().graphql(t, mutation, map[string]any{"p": "nope", "t": token(nil), "n": "n-1"}).wantCode(t, auth.CodeUnknownProvider)

	var p payload
	s.api().graphql(t, mutation, map[string]any{"p": "native", "t": token(nil), "n": "n-1"}).into(t, "signInWithIdToken", &p)
	if p.User.Email != "gina@example.com" || p.AccessToken == "" {
		t.Errorf("payload %+v", p)
	}
	// The web client id is an audience too.
	var p2 payload
	s.api().graphql(t, mutation, map[string]any{"p": "native", "t": token(func(c map[string]any) { c["aud"] = "web-client" }), "n": "n-1"}).into(t, "signInWithIdToken", &p2)
	if p2.User.ID != p.User.ID {
		t.Errorf("the same subject signed in as another user")
	}
}

// TestGitHubSignInEndToEnd: the github preset against a server speaking
// GitHub's OAuth and user-API shapes: the numeric id is the subject, the
// primary verified email the account's.
func TestGitHubSignInEndToEnd(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	s.github.SignedIn = oidctest.GitHubUser{ID: 583231, Login: "octocat", Emails: []map[string]any{
		{"email": "octocat@users.noreply.github.com", "primary": false, "verified": true},
		{"email": "octocat@example.com", "primary": true, "verified": true},
	}}
	b := oidctest.NewBrowser(oidctest.HostOf(appPage))
	resp, err := b.Client.Get(s.url + "/auth/github/start?redirectTo=" + url.QueryEscape(appPage))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || back == nil || back.Query().Get("code") == "" {
		t.Fatalf("the dance ended at %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var p payload
	s.api().graphql(t, exchangeMutation, map[string]any{"c": back.Query().Get("code")}).into(t, "exchangeAuthCode", &p)
	var me struct {
		Identities []struct{ Provider, Subject, Email string }
	}
	s.api().graphql(t, `{ me { identities { provider subject email } } }`, nil, bearer(p.AccessToken)...).into(t, "me", &me)
	if p.User.Email != "octocat@example.com" || len(me.Identities) != 1 || me.Identities[0].Subject != "583231" || me.Identities[0].Provider != "github" {
		t.Errorf("user %+v, identities %+v", p.User, me.Identities)
	}
}

// TestLinkingAnIdentityEndToEnd: a password user starts a link
// (startIdentityLink), goes through the provider as alice (whose address
// is not the user's), and comes back with a code that signs in the same
// user, now with the identity; the link URL does not work twice.
func TestLinkingAnIdentityEndToEnd(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	owner := s.api().signup(t, "owner@example.com", "owner's password 1")
	var start string
	s.api().graphql(t, `mutation($p: String!, $r: String!) { startIdentityLink(provider: $p, redirectTo: $r) }`,
		map[string]any{"p": "corp", "r": appPage}, bearer(owner.AccessToken)...).into(t, "startIdentityLink", &start)
	if !strings.HasPrefix(start, s.url+"/auth/corp/start?") {
		t.Fatalf("startIdentityLink = %q", start)
	}
	b := oidctest.NewBrowser(oidctest.HostOf(appPage))
	cb := b.LogIn(t, start, "alice")
	if !strings.HasPrefix(cb.String(), appPage+"?") || cb.Query().Get("code") == "" {
		t.Fatalf("back at %s", cb)
	}
	var p payload
	s.api().graphql(t, exchangeMutation, map[string]any{"c": cb.Query().Get("code")}).into(t, "exchangeAuthCode", &p)
	if p.User.ID != owner.User.ID {
		t.Fatalf("the link signed in %s, not the owner %s", p.User.ID, owner.User.ID)
	}
	var me struct {
		Identities []struct{ Provider, Subject string }
	}
	s.api().graphql(t, `{ me { identities { provider subject } } }`, nil, bearer(p.AccessToken)...).into(t, "me", &me)
	if len(me.Identities) != 1 || me.Identities[0].Subject != "sub-alice" {
		t.Errorf("identities %+v", me.Identities)
	}

	// The same link URL again: spent at the first callback, so /start
	// sends the browser straight back.
	resp, err := oidctest.NewBrowser(oidctest.HostOf(appPage)).Client.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if again, _ := url.Parse(resp.Header.Get("Location")); again == nil || again.Query().Get("error") != string(auth.CodeInvalidAuthCode) {
		t.Errorf("the link again: %d %q, want a redirect with ?error=INVALID_AUTH_CODE", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestTwoTabsSignInAtOnce: one browser starts two sign-ins (two tabs), then
// finishes them in the opposite order: each flow has its own cookie, so
// both come back with a code.
func TestTwoTabsSignInAtOnce(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	b := oidctest.NewBrowser(oidctest.HostOf(appPage))
	loginPage := func() string {
		resp, err := b.Client.Get(s.url + "/auth/corp/start?redirectTo=" + url.QueryEscape(appPage))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Request.URL.Query().Get("authRequestID")
	}
	first, second := loginPage(), loginPage()
	for _, id := range []string{second, first} {
		resp, err := b.Client.PostForm(s.op.Issuer+"/login/username", url.Values{"username": {"alice"}, "password": {oidctest.Password}, "id": {id}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		back, _ := url.Parse(resp.Header.Get("Location"))
		if back == nil || back.Query().Get("code") == "" {
			t.Fatalf("tab %s came back to %q", id, resp.Header.Get("Location"))
		}
	}
}
