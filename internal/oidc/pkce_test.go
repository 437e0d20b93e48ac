package oidc_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"authgate/internal/auth"
	"authgate/internal/oidc/oidctest"
)

// The app's PKCE challenge (RFC 7636's example); its verifier stays with
// the app and never reaches this package.
const appChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

// TestAppsCodeChallengeIsCarriedToTheCallback: /start's codeChallenge
// rides in the sealed flow cookie to the callback, which hands it to the
// accounts side with the identity (a sign-in and a link alike); the
// provider is sent authgate's own challenge, never the app's.
func TestAppsCodeChallengeIsCarriedToTheCallback(t *testing.T) {
	t.Parallel()
	op := oidctest.NewOP(t, publicURL+"/auth/corp/callback")
	h := newHarness(t, corp(op.Issuer))
	ctx := context.Background()
	for i, tc := range []struct{ link, challenge string }{
		{"", appChallenge},
		{"link-for-corp", appChallenge},
		{"", ""},
	} {
		res := h.svc.Start(ctx, "corp", appURL, tc.link, tc.challenge)
		if res.Err != nil || len(res.Cookies) != 1 {
			t.Fatalf("Start: %+v", res)
		}
		at, _ := url.Parse(res.Location)
		if sent := at.Query().Get("code_challenge"); sent == "" || sent == appChallenge || strings.Contains(res.Location, appChallenge) {
			t.Fatalf("the provider was sent the app's challenge: %s", res.Location)
		}
		if strings.Contains(res.Cookies[0].Value, appChallenge) {
			t.Fatal("the flow cookie shows the challenge: it is not sealed")
		}
		cb := oidctest.NewBrowser(oidctest.HostOf(publicURL)).LogIn(t, res.Location, "alice")
		if done := h.svc.Callback(ctx, "corp", cb.Query(), res.Cookies); done.Err != nil || !strings.HasPrefix(done.Location, appURL+"?code=") {
			t.Fatalf("Callback: %+v", done)
		}
		if got := h.accounts.challenges[i]; got != tc.challenge || h.accounts.links[i] != tc.link {
			t.Errorf("flow %d: the accounts side got challenge %q, link %q; want %q, %q", i, got, h.accounts.links[i], tc.challenge, tc.link)
		}
	}
}

// TestStartRefusesAMalformedCodeChallenge: like a redirectTo that is not
// allowed, an error page: no redirect (not even to the app's page), no
// cookie, nothing asked of the provider or the accounts side.
func TestStartRefusesAMalformedCodeChallenge(t *testing.T) {
	t.Parallel()
	op := oidctest.NewOP(t, publicURL+"/auth/corp/callback")
	h := newHarness(t, corp(op.Issuer))
	for _, bad := range []string{
		"plain-verifier-sent-as-is",
		appChallenge[:42],
		appChallenge + "=",
		"+" + appChallenge[1:],
		appChallenge[:42] + "N", // stray bits
		strings.Repeat("A", 128),
	} {
		for _, link := range []string{"", "link-for-corp"} {
			res := h.svc.Start(context.Background(), "corp", appURL, link, bad)
			wantErrorPage(t, res, auth.CodeBadUserInput)
			if len(res.Cookies) != 0 || !strings.Contains(res.Err.Error(), "codeChallenge") {
				t.Errorf("%q: cookies %v, err %v", bad, res.Cookies, res.Err)
			}
		}
	}
	if len(h.accounts.seen()) != 0 {
		t.Error("a refused start reached the accounts side")
	}
}
