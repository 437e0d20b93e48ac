package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/config"
	"authgate/internal/oidc"
	"authgate/internal/oidc/oidctest"
)

func keyedProvider(k *oidctest.KeyedProvider) config.Provider {
	return config.Provider{ID: "corp", Type: config.ProviderOIDC, Issuer: k.Issuer, ClientID: "web-client",
		ClientSecret: "s", Scopes: []string{"openid", "email"}, ClientIDs: []string{"ios-client", "android-client"}}
}

// claims are a valid ID token's claims for the keyed provider; change one
// to make it invalid.
func claims(k *oidctest.KeyedProvider, now time.Time, nonce string) map[string]any {
	c := map[string]any{"iss": k.Issuer, "sub": "sub-1", "aud": "web-client", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"email": "ann@example.com", "email_verified": true}
	if nonce != "" {
		c["nonce"] = nonce
	}
	return c
}

// TestCallbackRefusesIDTokensARealProviderWouldNotSend runs the browser
// flow against a provider whose token endpoint answers with ID tokens the
// test made: each bad one ends in PROVIDER_ERROR at the app, nothing
// asserted.
func TestCallbackRefusesIDTokensARealProviderWouldNotSend(t *testing.T) {
	t.Parallel()
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(c map[string]any)
		key    *rsa.PrivateKey
		ok     bool
	}{
		{name: "a valid token", ok: true},
		{name: "another audience", change: func(c map[string]any) { c["aud"] = "someone-else" }},
		{name: "one of several audiences, issued to another app (azp)", change: func(c map[string]any) {
			c["aud"], c["azp"] = []string{"someone-else", "web-client"}, "someone-else"
		}},
		{name: "a native client id is not the browser flow's audience", change: func(c map[string]any) { c["aud"] = "ios-client" }},
		{name: "a wrong nonce", change: func(c map[string]any) { c["nonce"] = "not-this-flows" }},
		{name: "no nonce", change: func(c map[string]any) { delete(c, "nonce") }},
		{name: "expired", change: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }},
		{name: "another issuer", change: func(c map[string]any) { c["iss"] = "https://evil.example" }},
		{name: "signed by another key", key: otherKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := oidctest.NewKeyedProvider(t)
			h := newHarness(t, keyedProvider(k))
			res := h.start(t, "corp", appURL)
			authURL, _ := url.Parse(res.Location)
			nonce, state := authURL.Query().Get("nonce"), authURL.Query().Get("state")
			k.NextIDToken(func(string) string {
				c := claims(k, h.clock.Now(), nonce)
				if tc.change != nil {
					tc.change(c)
				}
				return k.Sign(t, c, tc.key)
			})
			query := url.Values{"state": {state}, "code": {"c1"}}
			if !tc.ok {
				h.callbackRefused(t, query, res.Cookies, oidc.CodeProviderError)
			} else if done := h.svc.Callback(context.Background(), "corp", query, res.Cookies); done.Err != nil {
				t.Fatal(done.Err)
			}
		})
	}
}

// TestISSParameterIsRequiredWhenDiscoveryPromisesIt (RFC 9207 §2.4).
func TestISSParameterIsRequiredWhenDiscoveryPromisesIt(t *testing.T) {
	t.Parallel()
	k := oidctest.NewKeyedProvider(t)
	k.ISSParameter = true
	h := newHarness(t, keyedProvider(k))
	for _, tc := range []struct {
		iss  []string
		want auth.Code
	}{{nil, oidc.CodeProviderError}, {[]string{"https://evil.example"}, oidc.CodeProviderError}, {[]string{k.Issuer}, ""}} {
		res := h.start(t, "corp", appURL)
		authURL, _ := url.Parse(res.Location)
		nonce := authURL.Query().Get("nonce")
		k.NextIDToken(func(string) string { return k.Sign(t, claims(k, h.clock.Now(), nonce), nil) })
		q := url.Values{"state": {authURL.Query().Get("state")}, "code": {"c"}}
		if tc.iss != nil {
			q["iss"] = tc.iss
		}
		if tc.want != "" {
			h.callbackRefused(t, q, res.Cookies, tc.want, "iss")
		} else if done := h.svc.Callback(context.Background(), "corp", q, res.Cookies); done.Err != nil {
			t.Fatalf("iss %v: %v", tc.iss, done.Err)
		}
	}
}

func TestNativeIDTokenSignIn(t *testing.T) {
	t.Parallel()
	k := oidctest.NewKeyedProvider(t)
	h := newHarness(t, keyedProvider(k))
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	str := func(s string) *string { return &s }
	hashed := sha256.Sum256([]byte("raw-nonce"))
	for _, tc := range []struct {
		name   string
		change func(c map[string]any)
		key    *rsa.PrivateKey
		nonce  *string
		want   auth.Code
	}{
		{name: "the web client id", want: ""},
		{name: "a native client id (client_ids)", change: func(c map[string]any) { c["aud"] = "ios-client" }},
		{name: "one of several audiences", change: func(c map[string]any) { c["aud"] = []string{"x", "android-client"} }},
		{name: "another audience", change: func(c map[string]any) { c["aud"] = "someone-else" }, want: auth.CodeInvalidCredentials},
		{name: "one of several audiences, issued to another app (azp)", change: func(c map[string]any) {
			c["aud"], c["azp"] = []string{"someone-else", "android-client"}, "someone-else"
		}, want: auth.CodeInvalidCredentials},
		{name: "one of several audiences, issued to a native client (azp)", change: func(c map[string]any) {
			c["aud"], c["azp"] = []string{"someone-else", "web-client"}, "ios-client"
		}},
		{name: "expired", change: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, want: auth.CodeInvalidCredentials},
		{name: "another issuer", change: func(c map[string]any) { c["iss"] = "https://accounts.google.com" }, want: auth.CodeInvalidCredentials},
		{name: "signed by another key", key: otherKey, want: auth.CodeInvalidCredentials},
		{name: "the nonce given", change: func(c map[string]any) { c["nonce"] = "raw-nonce" }, nonce: str("raw-nonce")},
		{name: "the nonce given, hashed in the token", change: func(c map[string]any) { c["nonce"] = hex.EncodeToString(hashed[:]) }, nonce: str("raw-nonce")},
		{name: "a wrong nonce", change: func(c map[string]any) { c["nonce"] = "other" }, nonce: str("raw-nonce"), want: auth.CodeInvalidCredentials},
		{name: "a nonce given, none in the token", nonce: str("raw-nonce"), want: auth.CodeInvalidCredentials},
		{name: "a nonce in the token, none given", change: func(c map[string]any) { c["nonce"] = "raw-nonce" }, want: auth.CodeInvalidCredentials},
		{name: "Apple's string email_verified", change: func(c map[string]any) { c["email_verified"] = "true" }},
	} {
		c := claims(k, h.clock.Now(), "")
		if tc.change != nil {
			tc.change(c)
		}
		before := len(h.accounts.seen())
		payload, err := h.svc.SignInWithIdToken(ctx, "corp", k.Sign(t, c, tc.key), tc.nonce, nil)
		if tc.want != "" {
			if auth.CodeOf(err) != tc.want || len(h.accounts.seen()) != before {
				t.Errorf("%s: err %v, want %s and nothing asserted", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil || payload.SessionID != "s-sub-1" {
			t.Errorf("%s: %v %+v", tc.name, err, payload)
			continue
		}
		if got := h.accounts.seen()[before]; got != (oidc.Identity{Provider: "corp", Subject: "sub-1", Email: "ann@example.com", EmailVerified: true}) {
			t.Errorf("%s: identity %+v", tc.name, got)
		}
	}
	if _, err := h.svc.SignInWithIdToken(ctx, "nope", "x", nil, nil); auth.CodeOf(err) != oidc.CodeUnknownProvider {
		t.Errorf("unknown provider: %v", err)
	}
	if _, err := h.svc.SignInWithIdToken(ctx, "corp", "not-a-jwt", nil, nil); auth.CodeOf(err) != auth.CodeInvalidCredentials {
		t.Errorf("garbage: %v", err)
	}
}

func TestNativeSignInWithTheProviderDown(t *testing.T) {
	t.Parallel()
	p := config.Provider{ID: "google", Type: config.ProviderGoogle, Issuer: "http://127.0.0.1:1", ClientID: "web", Scopes: []string{"openid"}}
	h := newHarness(t, p)
	if _, err := h.svc.SignInWithIdToken(context.Background(), "google", "x.y.z", nil, nil); auth.CodeOf(err) != oidc.CodeProviderError || len(h.accounts.seen()) != 0 {
		t.Errorf("err = %v, want PROVIDER_ERROR and nothing asserted", err)
	}
}

// TestNativeSignInWithTheKeysUnreachable: discovery worked, then the
// provider went down (or only its jwks_uri fails): a token that would
// verify cannot be checked, which is the provider's failure
// (PROVIDER_ERROR), not the caller's (INVALID_CREDENTIALS); nothing is
// asserted. A token the keys refuse is still INVALID_CREDENTIALS while
// they can be fetched.
func TestNativeSignInWithTheKeysUnreachable(t *testing.T) {
	t.Parallel()
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Run("the jwks_uri answers 503", func(t *testing.T) {
		t.Parallel()
		k := oidctest.NewKeyedProvider(t)
		h := newHarness(t, keyedProvider(k))
		if err := h.svc.CheckDiscovery(ctx, "corp"); err != nil {
			t.Fatal(err)
		}
		k.JWKSStatus.Store(503)
		_, err := h.svc.SignInWithIdToken(ctx, "corp", k.Sign(t, claims(k, h.clock.Now(), ""), nil), nil, nil)
		if auth.CodeOf(err) != oidc.CodeProviderError || len(h.accounts.seen()) != 0 {
			t.Errorf("err = %v, want PROVIDER_ERROR and nothing asserted", err)
		}
		k.JWKSStatus.Store(0)
		h.clock.Advance(time.Minute)
		_, err = h.svc.SignInWithIdToken(ctx, "corp", k.Sign(t, claims(k, h.clock.Now(), ""), otherKey), nil, nil)
		if auth.CodeOf(err) != auth.CodeInvalidCredentials {
			t.Errorf("another key's signature with the keys reachable: %v, want INVALID_CREDENTIALS", err)
		}
		if _, err := h.svc.SignInWithIdToken(ctx, "corp", k.Sign(t, claims(k, h.clock.Now(), ""), nil), nil, nil); err != nil {
			t.Errorf("back up: %v", err)
		}
	})
	t.Run("the provider is down after discovery", func(t *testing.T) {
		t.Parallel()
		k := oidctest.NewKeyedProvider(t)
		h := newHarness(t, keyedProvider(k))
		if err := h.svc.CheckDiscovery(ctx, "corp"); err != nil {
			t.Fatal(err)
		}
		token := k.Sign(t, claims(k, h.clock.Now(), ""), nil)
		k.Server.Close()
		_, err := h.svc.SignInWithIdToken(ctx, "corp", token, nil, nil)
		if auth.CodeOf(err) != oidc.CodeProviderError || len(h.accounts.seen()) != 0 {
			t.Errorf("err = %v, want PROVIDER_ERROR and nothing asserted", err)
		}
	})
}

func TestGitHubPreset(t *testing.T) {
	t.Parallel()
	gh := oidctest.NewGitHub(t, "gh-client", "gh-secret")
	p := config.Provider{ID: "github", Type: config.ProviderGitHub, ClientID: "gh-client", ClientSecret: "gh-secret",
		Scopes: []string{"read:user", "user:email"}, AuthURL: gh.URL + "/login/oauth/authorize", TokenURL: gh.URL + "/login/oauth/access_token", APIURL: gh.URL}
	h := newHarness(t, p)
	ctx := context.Background()
	octo := oidctest.GitHubUser{ID: 583231, Login: "octocat", Emails: []map[string]any{
		{"email": "octo@users.noreply.github.com", "primary": false, "verified": true},
		{"email": "octocat@example.com", "primary": true, "verified": true},
	}}
	unverified := oidctest.GitHubUser{ID: 7, Login: "new", Emails: []map[string]any{{"email": "victim@example.com", "primary": true, "verified": false}}}
	for _, tc := range []struct {
		user oidctest.GitHubUser
		want oidc.Identity
	}{
		{octo, oidc.Identity{Provider: "github", Subject: "583231", Email: "octocat@example.com", EmailVerified: true}},
		{unverified, oidc.Identity{Provider: "github", Subject: "7", Email: "victim@example.com", EmailVerified: false}},
	} {
		res := h.start(t, "github", appURL)
		authURL, _ := url.Parse(res.Location)
		q := authURL.Query()
		if authURL.Host != oidctest.HostOf(gh.URL) || q.Get("code_challenge_method") != "S256" || q.Has("nonce") || q.Get("scope") != "read:user user:email" {
			t.Fatalf("authorization URL %s", res.Location)
		}
		done := h.svc.Callback(ctx, "github", url.Values{"state": {q.Get("state")}, "code": {gh.Code(tc.user)}}, res.Cookies)
		if done.Err != nil {
			t.Fatal(done.Err)
		}
		if got := h.accounts.seen(); got[len(got)-1] != tc.want {
			t.Errorf("identity %+v, want %+v", got[len(got)-1], tc.want)
		}
	}

	// A code GitHub does not know (or a replayed one): GitHub answers 200
	// with an error body, which is PROVIDER_ERROR.
	res := h.start(t, "github", appURL)
	authURL, _ := url.Parse(res.Location)
	done := h.svc.Callback(ctx, "github", url.Values{"state": {authURL.Query().Get("state")}, "code": {"bogus"}}, res.Cookies)
	wantErrorRedirect(t, done, oidc.CodeProviderError)

	if _, err := h.svc.SignInWithIdToken(ctx, "github", "x", nil, nil); auth.CodeOf(err) != oidc.CodeUnknownProvider {
		t.Errorf("github ID token: %v", err)
	}
}

// TestConcurrentFirstSignInsDiscoverOnce: many sign-ins start at once on
// a fresh service; each gets its own flow, and the provider is asked for
// its discovery document once.
func TestConcurrentFirstSignInsDiscoverOnce(t *testing.T) {
	t.Parallel()
	k := oidctest.NewKeyedProvider(t)
	h := newHarness(t, keyedProvider(k))
	const n = 16
	results := make([]oidc.Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.svc.Start(context.Background(), "corp", appURL, "", "")
		}()
	}
	wg.Wait()
	names := map[string]bool{}
	for _, r := range results {
		if r.Err != nil || len(r.Cookies) != 1 {
			t.Fatalf("%+v", r)
		}
		names[r.Cookies[0].Name] = true
	}
	if len(names) != n {
		t.Errorf("%d distinct flow cookies for %d flows", len(names), n)
	}
	if got := k.Discoveries.Load(); got != 1 {
		t.Errorf("discovery fetched %d times, want once", got)
	}
}

// TestFailedNativeTokensDoNotMakeAuthgateFetchTheKeysEachTime: anyone can
// send signInWithIdToken garbage; each refused token must not cost a
// request to the provider's jwks_uri (an amplifier against the provider,
// which then rate-limits authgate and every user's sign-in fails): telling
// the provider's failure from the caller's adds no request of its own.
func TestFailedNativeTokensDoNotMakeAuthgateFetchTheKeysEachTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k := oidctest.NewKeyedProvider(t)
	h := newHarness(t, keyedProvider(k))
	if err := h.svc.CheckDiscovery(ctx, "corp"); err != nil {
		t.Fatal(err)
	}
	before := k.JWKSFetches.Load()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if _, err := h.svc.SignInWithIdToken(ctx, "corp", "not-a-jwt", nil, nil); auth.CodeOf(err) != auth.CodeInvalidCredentials {
					t.Errorf("garbage: %v, want INVALID_CREDENTIALS", err)
				}
			}
		}()
	}
	wg.Wait()
	if n := k.JWKSFetches.Load() - before; n != 0 {
		t.Errorf("80 garbage tokens made %d requests to the jwks_uri, want none", n)
	}
	// Later, a valid token still signs in.
	h.clock.Advance(time.Minute)
	if _, err := h.svc.SignInWithIdToken(ctx, "corp", k.Sign(t, claims(k, h.clock.Now(), ""), nil), nil, nil); err != nil {
		t.Errorf("a valid token: %v", err)
	}
}
