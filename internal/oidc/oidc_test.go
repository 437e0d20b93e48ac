package oidc_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/clock"
	"authgate/internal/config"
	"authgate/internal/oidc"
	"authgate/internal/oidc/oidctest"
	"authgate/internal/redirect"
)

// The flow's ends: authgate's public URL and the app's page. Neither needs
// to answer: the test browser stops before either and the test calls the
// service itself.
const (
	publicURL = "http://authgate.test"
	appURL    = "https://app.example.com/signed-in"
)

var secret = []byte("0123456789abcdef0123456789abcdef-oidc-test")

// fakeAccounts stands in for auth.Service: it records the identities it is
// given and answers codes.
type fakeAccounts struct {
	mu         sync.Mutex
	identities []oidc.Identity
	links      []string
	challenges []string
	err        error
}

func (f *fakeAccounts) IssueAuthCode(_ context.Context, id oidc.Identity, link, challenge string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	f.identities = append(f.identities, id)
	f.links = append(f.links, link)
	f.challenges = append(f.challenges, challenge)
	return "C" + id.Subject, nil
}

func (f *fakeAccounts) CheckIdentityLink(_ context.Context, link string) (string, error) {
	if p, ok := strings.CutPrefix(link, "link-for-"); ok {
		return p, nil
	}
	return "", &auth.Error{Code: auth.CodeInvalidAuthCode, Message: "bad link token"}
}

func (f *fakeAccounts) SignInWithIdentity(_ context.Context, id oidc.Identity, _ *string) (*auth.AuthPayload, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.identities = append(f.identities, id)
	return &auth.AuthPayload{SessionID: "s-" + id.Subject}, nil
}

func (f *fakeAccounts) seen() []oidc.Identity {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]oidc.Identity(nil), f.identities...)
}

type harness struct {
	svc      *oidc.Service
	accounts *fakeAccounts
	clock    *clock.Fake
}

func newHarness(t *testing.T, providers ...config.Provider) *harness {
	t.Helper()
	allow, err := redirect.New([]string{"https://app.example.com"}, appURL)
	if err != nil {
		t.Fatal(err)
	}
	for i := range providers {
		providers[i].CallbackURL = publicURL + "/auth/" + providers[i].ID + "/callback"
	}
	h := &harness{accounts: &fakeAccounts{}, clock: clock.NewFake(time.Now())}
	h.svc, err = oidc.New(oidc.Options{Providers: providers, Redirects: allow, Secret: secret, Clock: h.clock, InsecureCookie: true}, h.accounts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func corp(issuer string) config.Provider {
	return config.Provider{ID: "corp", Type: config.ProviderOIDC, Issuer: issuer, ClientID: oidctest.ClientID,
		ClientSecret: oidctest.ClientSecret, Scopes: []string{"openid", "email", "profile"}}
}

// start runs /start and checks it redirects to the provider with a flow
// cookie.
func (h *harness) start(t *testing.T, id, redirectTo string) oidc.Result {
	t.Helper()
	res := h.svc.Start(context.Background(), id, redirectTo, "", "")
	if res.Err != nil || len(res.Cookies) != 1 {
		t.Fatalf("Start: %+v", res)
	}
	return res
}

// loginAtOP runs a whole browser flow up to authgate's callback: /start,
// the OP's login form as user; it returns the callback's query and the
// flow cookie.
func (h *harness) loginAtOP(t *testing.T, user string) (url.Values, *http.Cookie, oidc.Result) {
	t.Helper()
	res := h.start(t, "corp", appURL)
	cb := oidctest.NewBrowser(oidctest.HostOf(publicURL)).LogIn(t, res.Location, user)
	if !strings.HasPrefix(cb.String(), publicURL+"/auth/corp/callback?") {
		t.Fatalf("the OP redirected to %s", cb)
	}
	return cb.Query(), res.Cookies[0], res
}

func wantCode(t *testing.T, err error, code auth.Code) {
	t.Helper()
	if auth.CodeOf(err) != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

// wantErrorRedirect checks res sends the browser to the app's page with
// ?error=code.
func wantErrorRedirect(t *testing.T, res oidc.Result, code auth.Code, because ...string) {
	t.Helper()
	wantCode(t, res.Err, code)
	for _, b := range because {
		if !strings.Contains(res.Err.Error(), b) {
			t.Fatalf("err = %v, want it to say %q", res.Err, b)
		}
	}
	u, err := url.Parse(res.Location)
	if err != nil || !strings.HasPrefix(res.Location, appURL+"?") || u.Query().Get("error") != string(code) ||
		u.Query().Get("error_description") == "" || u.Query().Has("code") {
		t.Fatalf("Location = %q, want %s?error=%s&error_description=…", res.Location, appURL, code)
	}
}

// callbackRefused runs corp's callback with query and cookies, checks it
// sends the browser to the app's page with ?error=code (wantErrorRedirect)
// and that nothing reached the accounts side.
func (h *harness) callbackRefused(t *testing.T, query url.Values, cookies []*http.Cookie, code auth.Code, because ...string) {
	t.Helper()
	before := len(h.accounts.seen())
	wantErrorRedirect(t, h.svc.Callback(context.Background(), "corp", query, cookies), code, because...)
	if len(h.accounts.seen()) != before {
		t.Errorf("a callback refused with %s reached the accounts side", code)
	}
}

// wantErrorPage checks res shows an error page: no redirect anywhere.
func wantErrorPage(t *testing.T, res oidc.Result, code auth.Code) {
	t.Helper()
	wantCode(t, res.Err, code)
	if res.Location != "" {
		t.Fatalf("Location = %q, want none (an error page)", res.Location)
	}
}

func TestBrowserFlowWithARealOpenIDProvider(t *testing.T) {
	t.Parallel()
	op := oidctest.NewOP(t, publicURL+"/auth/corp/callback")
	h := newHarness(t, corp(op.Issuer))

	res := h.start(t, "corp", appURL+"?tab=2")
	auth, _ := url.Parse(res.Location)
	q := auth.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" ||
		q.Get("state") == "" || q.Get("redirect_uri") != publicURL+"/auth/corp/callback" || q.Get("client_id") != oidctest.ClientID {
		t.Fatalf("authorization URL %s lacks PKCE S256, nonce, state or the callback", res.Location)
	}
	c := res.Cookies[0]
	if c.Name != oidc.CookieName(q.Get("state")) || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/auth/" ||
		c.MaxAge != int(oidc.DefaultFlowTTL.Seconds()) || strings.Contains(c.Value, q.Get("nonce")) {
		t.Fatalf("flow cookie %+v", c)
	}

	cb := oidctest.NewBrowser(oidctest.HostOf(publicURL)).LogIn(t, res.Location, "alice")
	done := h.svc.Callback(context.Background(), "corp", cb.Query(), []*http.Cookie{c})
	if done.Err != nil {
		t.Fatal(done.Err)
	}
	if done.Location != appURL+"?code=Csub-alice&tab=2" {
		t.Errorf("Location = %q", done.Location)
	}
	if len(done.Cookies) != 1 || done.Cookies[0].Name != c.Name || done.Cookies[0].MaxAge >= 0 {
		t.Errorf("the flow cookie is not cleared: %+v", done.Cookies)
	}
	want := oidc.Identity{Provider: "corp", Subject: "sub-alice", Email: "alice@example.com", EmailVerified: true}
	if got := h.accounts.seen(); len(got) != 1 || got[0] != want {
		t.Errorf("identities = %+v, want %+v", got, want)
	}

	// The same answer again (the cookie replayed with it): the provider's
	// code is spent, so nothing new is asserted.
	h.callbackRefused(t, cb.Query(), []*http.Cookie{c}, oidc.CodeProviderError, "did not accept the sign-in's code")
}

func TestUnverifiedProviderEmailIsPassedOnAsUnverified(t *testing.T) {
	t.Parallel()
	op := oidctest.NewOP(t, publicURL+"/auth/corp/callback")
	h := newHarness(t, corp(op.Issuer))
	query, cookie, _ := h.loginAtOP(t, "mallory")
	if res := h.svc.Callback(context.Background(), "corp", query, []*http.Cookie{cookie}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := h.accounts.seen(); len(got) != 1 || got[0].Email != "victim@example.com" || got[0].EmailVerified {
		t.Errorf("identities = %+v, want victim@example.com unverified", got)
	}
}

// TestAccountsRefusalReachesTheApp: what the accounts side refuses (here
// ACCOUNT_EXISTS) is told to the app's page through ?error=.
func TestAccountsRefusalReachesTheApp(t *testing.T) {
	t.Parallel()
	op := oidctest.NewOP(t, publicURL+"/auth/corp/callback")
	h := newHarness(t, corp(op.Issuer))
	h.accounts.err = &auth.Error{Code: auth.CodeAccountExists, Message: "an account with this email exists"}
	query, cookie, _ := h.loginAtOP(t, "mallory")
	wantErrorRedirect(t, h.svc.Callback(context.Background(), "corp", query, []*http.Cookie{cookie}), auth.CodeAccountExists)
}

func TestCallbackAttacks(t *testing.T) {
	t.Parallel()
	op := oidctest.NewOP(t, publicURL+"/auth/corp/callback")
	ctx := context.Background()

	t.Run("forged state", func(t *testing.T) {
		h := newHarness(t, corp(op.Issuer))
		query, cookie, _ := h.loginAtOP(t, "alice")
		query.Set("state", "forged")
		wantErrorPage(t, h.svc.Callback(ctx, "corp", query, []*http.Cookie{cookie}), auth.CodeBadUserInput)
		if len(h.accounts.seen()) != 0 {
			t.Error("a forged state reached the accounts side")
		}
	})
	t.Run("missing cookie", func(t *testing.T) {
		// The login-CSRF case: the attacker's own code and state, sent to a
		// victim's browser, which holds no cookie for that state.
		h := newHarness(t, corp(op.Issuer))
		query, _, _ := h.loginAtOP(t, "alice")
		wantErrorPage(t, h.svc.Callback(ctx, "corp", query, nil), auth.CodeBadUserInput)
		if len(h.accounts.seen()) != 0 {
			t.Error("a callback without its cookie reached the accounts side")
		}
	})
	t.Run("cookie from another flow", func(t *testing.T) {
		h := newHarness(t, corp(op.Issuer))
		query, cookie, _ := h.loginAtOP(t, "alice")
		other := h.start(t, "corp", appURL).Cookies[0]
		// The other flow's sealed value under this flow's cookie name.
		swapped := &http.Cookie{Name: cookie.Name, Value: other.Value}
		wantErrorPage(t, h.svc.Callback(ctx, "corp", query, []*http.Cookie{swapped}), auth.CodeBadUserInput)
		if len(h.accounts.seen()) != 0 {
			t.Error("another flow's cookie reached the accounts side")
		}
	})
	t.Run("tampered cookie", func(t *testing.T) {
		h := newHarness(t, corp(op.Issuer))
		query, cookie, _ := h.loginAtOP(t, "alice")
		b := []byte(cookie.Value)
		b[len(b)/2] ^= 1
		wantErrorPage(t, h.svc.Callback(ctx, "corp", query, []*http.Cookie{{Name: cookie.Name, Value: string(b)}}), auth.CodeBadUserInput)
		if len(h.accounts.seen()) != 0 {
			t.Error("a tampered cookie reached the accounts side")
		}
	})
	t.Run("cookie for another provider's callback", func(t *testing.T) {
		second := corp(op.Issuer)
		second.ID = "corp2"
		h := newHarness(t, corp(op.Issuer), second)
		query, cookie, _ := h.loginAtOP(t, "alice")
		wantErrorPage(t, h.svc.Callback(ctx, "corp2", query, []*http.Cookie{cookie}), auth.CodeBadUserInput)
		if len(h.accounts.seen()) != 0 {
			t.Error("a cookie of another provider's flow reached the accounts side")
		}
	})
	t.Run("expired flow cookie", func(t *testing.T) {
		h := newHarness(t, corp(op.Issuer))
		query, cookie, _ := h.loginAtOP(t, "alice")
		h.clock.Advance(oidc.DefaultFlowTTL)
		h.callbackRefused(t, query, []*http.Cookie{cookie}, auth.CodeBadUserInput, "expired")
	})
	t.Run("wrong iss", func(t *testing.T) {
		h := newHarness(t, corp(op.Issuer))
		query, cookie, _ := h.loginAtOP(t, "alice")
		query.Set("iss", "https://evil.example")
		h.callbackRefused(t, query, []*http.Cookie{cookie}, oidc.CodeProviderError, "(iss)")
	})
	t.Run("right iss", func(t *testing.T) {
		h := newHarness(t, corp(op.Issuer))
		query, cookie, _ := h.loginAtOP(t, "alice")
		query.Set("iss", op.Issuer)
		if res := h.svc.Callback(ctx, "corp", query, []*http.Cookie{cookie}); res.Err != nil {
			t.Fatal(res.Err)
		}
	})
	t.Run("wrong nonce", func(t *testing.T) {
		// The authorization request is changed on its way to the OP: the ID
		// token then carries a nonce that is not this flow's.
		h := newHarness(t, corp(op.Issuer))
		res := h.start(t, "corp", appURL)
		cb := oidctest.NewBrowser(oidctest.HostOf(publicURL)).LogIn(t, oidctest.ReplaceParam(res.Location, "nonce", "attacker-nonce"), "alice")
		h.callbackRefused(t, cb.Query(), res.Cookies, oidc.CodeProviderError, "nonce")
	})
	t.Run("provider refused", func(t *testing.T) {
		h := newHarness(t, corp(op.Issuer))
		res := h.start(t, "corp", appURL)
		state, _ := url.Parse(res.Location)
		query := url.Values{"state": {state.Query().Get("state")}, "error": {"access_denied"}}
		h.callbackRefused(t, query, res.Cookies, oidc.CodeProviderError, "access_denied")
	})
	t.Run("unknown provider", func(t *testing.T) {
		h := newHarness(t, corp(op.Issuer))
		wantErrorPage(t, h.svc.Callback(ctx, "nope", url.Values{"state": {"x"}}, nil), oidc.CodeUnknownProvider)
		wantErrorPage(t, h.svc.Start(ctx, "nope", appURL, "", ""), oidc.CodeUnknownProvider)
	})
}

func TestStartRefusesRedirectTargetsOutsideTheAllowList(t *testing.T) {
	t.Parallel()
	op := oidctest.NewOP(t, publicURL+"/auth/corp/callback")
	h := newHarness(t, corp(op.Issuer))
	for _, target := range []string{
		"https://app.example.com.evil.net/",
		"https://app.example.com@evil.net/",
		"https://evil.net/?https://app.example.com",
		"//evil.net/",
		"javascript:alert(1)",
		"https://app.example.com\\@evil.net/",
	} {
		res := h.svc.Start(context.Background(), "corp", target, "", "")
		wantErrorPage(t, res, auth.CodeBadUserInput)
		if len(res.Cookies) != 0 {
			t.Errorf("%s: a flow cookie was set", target)
		}
	}
	// No redirectTo: the app's page.
	if res := h.svc.Start(context.Background(), "corp", "", "", ""); res.Err != nil {
		t.Fatal(res.Err)
	}
}

// TestProviderDownAtStartThenBack: discovery is lazy, so a provider that is
// down does not stop authgate; a sign-in meanwhile is PROVIDER_ERROR at the
// app's page with nothing created; once the provider answers (after the
// retry pause), sign-in works.
func TestProviderDownAtStartThenBack(t *testing.T) {
	t.Parallel()
	op := oidctest.NewOP(t, publicURL+"/auth/corp/callback")
	down := corp("http://127.0.0.1:1")
	h := newHarness(t, down)
	res := h.svc.Start(context.Background(), "corp", appURL, "", "")
	wantErrorRedirect(t, res, oidc.CodeProviderError)
	if len(res.Cookies) != 0 || len(h.accounts.seen()) != 0 {
		t.Error("a sign-in with a provider down set a cookie or created something")
	}
	if err := h.svc.CheckDiscovery(context.Background(), "corp"); auth.CodeOf(err) != oidc.CodeProviderError {
		t.Errorf("CheckDiscovery = %v", err)
	}

	// A provider that answers after all: discovery succeeds on a later try.
	h2 := newHarness(t, corp(op.Issuer))
	if err := h2.svc.CheckDiscovery(context.Background(), "corp"); err != nil {
		t.Fatal(err)
	}
}

func TestProviderDownAtCallback(t *testing.T) {
	t.Parallel()
	op := oidctest.NewOP(t, publicURL+"/auth/corp/callback")
	h := newHarness(t, corp(op.Issuer))
	query, cookie, _ := h.loginAtOP(t, "alice")
	op.Server.Close()
	h.callbackRefused(t, query, []*http.Cookie{cookie}, oidc.CodeProviderError, "did not accept")
}

func TestLinkTokenIsCheckedAtStartAndCarriedToTheCallback(t *testing.T) {
	t.Parallel()
	op := oidctest.NewOP(t, publicURL+"/auth/corp/callback")
	h := newHarness(t, corp(op.Issuer))
	ctx := context.Background()
	wantErrorRedirect(t, h.svc.Start(ctx, "corp", appURL, "garbage", ""), auth.CodeInvalidAuthCode)
	wantErrorRedirect(t, h.svc.Start(ctx, "corp", appURL, "link-for-github", ""), auth.CodeInvalidAuthCode)

	res := h.svc.Start(ctx, "corp", appURL, "link-for-corp", "")
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	cb := oidctest.NewBrowser(oidctest.HostOf(publicURL)).LogIn(t, res.Location, "alice")
	if done := h.svc.Callback(ctx, "corp", cb.Query(), res.Cookies); done.Err != nil {
		t.Fatal(done.Err)
	}
	if h.accounts.links[0] != "link-for-corp" {
		t.Errorf("link = %q", h.accounts.links[0])
	}
}

func TestFlowCookieIsSecureOutsideLocalhost(t *testing.T) {
	t.Parallel()
	op := oidctest.NewOP(t, publicURL+"/auth/corp/callback")
	allow, _ := redirect.New(nil, appURL)
	p := corp(op.Issuer)
	p.CallbackURL = "https://auth.example.com/auth/corp/callback"
	svc, err := oidc.New(oidc.Options{Providers: []config.Provider{p}, Redirects: allow, Secret: secret}, &fakeAccounts{})
	if err != nil {
		t.Fatal(err)
	}
	res := svc.Start(context.Background(), "corp", "", "", "")
	if res.Err != nil || !res.Cookies[0].Secure {
		t.Fatalf("%+v", res)
	}
}

func TestSealKeyIsRequired(t *testing.T) {
	t.Parallel()
	if _, err := oidc.New(oidc.Options{Secret: []byte("short")}, &fakeAccounts{}); err == nil {
		t.Error("a short secret was accepted")
	}
}

// TestFlowCookieCannotBeTossedFromASiblingDomain: a page on a sibling
// subdomain (an app's user content, a taken-over host) can set a cookie
// for the whole parent domain. If it could set a flow cookie, it would
// plant the attacker's own unfinished flow (cookie, state and code) in a
// victim's browser and sign the victim into the attacker's account: the
// login CSRF the cookie exists to stop. Outside plain-http localhost the
// flow cookie is a __Host- cookie (Secure, Path=/, no Domain), which
// browsers refuse to take from anyone but authgate's host; a cookie under
// the bare name, which a sibling could set, is not the flow's.
func TestFlowCookieCannotBeTossedFromASiblingDomain(t *testing.T) {
	t.Parallel()
	k := oidctest.NewKeyedProvider(t)
	allow, _ := redirect.New(nil, appURL)
	p := keyedProvider(k)
	p.CallbackURL = "https://auth.example.com/auth/corp/callback"
	accounts := &fakeAccounts{}
	svc, err := oidc.New(oidc.Options{Providers: []config.Provider{p}, Redirects: allow, Secret: secret}, accounts)
	if err != nil {
		t.Fatal(err)
	}
	res := svc.Start(context.Background(), "corp", "", "", "")
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c := res.Cookies[0]
	if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || c.Path != "/" || c.Domain != "" {
		t.Fatalf("flow cookie %+v: want a __Host- cookie (Secure, Path=/, no Domain)", c)
	}
	authURL, _ := url.Parse(res.Location)
	state, nonce := authURL.Query().Get("state"), authURL.Query().Get("nonce")
	k.NextIDToken(func(string) string { return k.Sign(t, claims(k, time.Now(), nonce), nil) })
	tossed := &http.Cookie{Name: strings.TrimPrefix(c.Name, "__Host-"), Value: c.Value}
	done := svc.Callback(context.Background(), "corp", url.Values{"state": {state}, "code": {"c"}}, []*http.Cookie{tossed})
	wantErrorPage(t, done, auth.CodeBadUserInput)
	if len(accounts.seen()) != 0 {
		t.Fatal("a tossed cookie signed someone in")
	}
	if done := svc.Callback(context.Background(), "corp", url.Values{"state": {state}, "code": {"c"}}, []*http.Cookie{c}); done.Err != nil {
		t.Fatalf("the real cookie: %v", done.Err)
	}
}

// TestABrowserSentToStartAgainAndAgainHoldsFewFlowCookies: each /start
// sets a flow cookie for ten minutes. A page that keeps navigating a
// window it opened to /start would pile them up until the browser's Cookie
// header is more than proxies take (every request to authgate refused) and
// authgate's other cookies fall out of the browser's per-site limit. /start
// expires all but the newest few of the flow cookies the browser sends;
// the newest flows still finish.
func TestABrowserSentToStartAgainAndAgainHoldsFewFlowCookies(t *testing.T) {
	t.Parallel()
	k := oidctest.NewKeyedProvider(t)
	h := newHarness(t, keyedProvider(k))
	jar := map[string]*http.Cookie{}
	send := func() []*http.Cookie {
		var out []*http.Cookie
		for _, c := range jar {
			out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
		}
		return out
	}
	var last oidc.Result
	for range 40 {
		h.clock.Advance(time.Second)
		last = h.svc.Start(context.Background(), "corp", appURL, "", "", send()...)
		if last.Err != nil {
			t.Fatal(last.Err)
		}
		for _, c := range last.Cookies {
			if c.MaxAge < 0 {
				delete(jar, c.Name)
			} else {
				jar[c.Name] = c
			}
		}
	}
	// Exactly: fewer would cut off flows running in parallel tabs.
	if len(jar) != oidc.MaxParallelFlows {
		t.Fatalf("after 40 starts the browser holds %d flow cookies, want %d", len(jar), oidc.MaxParallelFlows)
	}
	authURL, _ := url.Parse(last.Location)
	nonce := authURL.Query().Get("nonce")
	k.NextIDToken(func(string) string { return k.Sign(t, claims(k, h.clock.Now(), nonce), nil) })
	if done := h.svc.Callback(context.Background(), "corp", url.Values{"state": {authURL.Query().Get("state")}, "code": {"c"}}, send()); done.Err != nil {
		t.Fatalf("the newest flow: %v", done.Err)
	}
}
