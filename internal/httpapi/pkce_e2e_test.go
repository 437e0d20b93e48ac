package httpapi_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"authgate/internal/auth"
	"authgate/internal/oidc/oidctest"
)

// PKCE between the app and authgate, end to end: the real HTTP server, real
// PostgreSQL and the real OpenID provider. The app keeps a verifier, sends
// /auth/corp/start its S256 challenge, and exchanges the code that comes back
// with the verifier.

const exchangeWithVerifier = `mutation($c: String!, $v: String) { exchangeAuthCode(code: $c, codeVerifier: $v) { ` + payloadFields + ` } }`

// newVerifier makes a verifier as @authgate/client does: 32 random bytes,
// base64url.
func newVerifier(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// startWith is /auth/corp/start for the app's page, with codeChallenge when
// it is not "".
func (s *providerServer) startWith(challenge string) string {
	q := url.Values{"redirectTo": {appPage}}
	if challenge != "" {
		q.Set("codeChallenge", challenge)
	}
	return s.url + "/auth/corp/start?" + q.Encode()
}

// codeFor runs a whole sign-in as user from start in a browser of its own
// and returns the code the app's page is handed.
func (s *providerServer) codeFor(t *testing.T, start, user string) string {
	t.Helper()
	back := oidctest.NewBrowser(oidctest.HostOf(appPage)).LogIn(t, start, user)
	code := back.Query().Get("code")
	if !strings.HasPrefix(back.String(), appPage+"?") || code == "" {
		t.Fatalf("back at %s", back)
	}
	return code
}

// TestProviderSignInBoundToTheAppsVerifier: the happy path with a challenge,
// over GraphQL and over /actions; a link started with a challenge the same.
func TestProviderSignInBoundToTheAppsVerifier(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	verifier := newVerifier(t)
	challenge := auth.CodeChallengeS256(verifier)

	var p payload
	s.api().graphql(t, exchangeWithVerifier, map[string]any{"c": s.codeFor(t, s.startWith(challenge), "alice"), "v": verifier}).into(t, "exchangeAuthCode", &p)
	if p.User.Email != "alice@example.com" || p.RefreshToken == "" {
		t.Fatalf("payload %+v", p)
	}

	code := s.codeFor(t, s.startWith(challenge), "alice")
	status, raw := s.api().action(t, "exchangeAuthCode", map[string]any{"code": code, "codeVerifier": verifier}, nil)
	if status != http.StatusOK || !strings.Contains(string(raw), `"email":"alice@example.com"`) {
		t.Fatalf("exchangeAuthCode action: %d %s", status, raw)
	}
	code = s.codeFor(t, s.startWith(challenge), "alice")
	status, raw = s.api().action(t, "exchangeAuthCode", map[string]any{"code": code, "codeVerifier": newVerifier(t)}, nil)
	wantActionCode(t, status, raw, http.StatusUnauthorized, auth.CodeInvalidAuthCode)

	// Linking: startIdentityLink with a challenge puts it in the start URL.
	owner := s.api().signup(t, "owner@example.com", "owner's password 1")
	var start string
	s.api().graphql(t, `mutation($p: String!, $r: String!, $c: String) { startIdentityLink(provider: $p, redirectTo: $r, codeChallenge: $c) }`,
		map[string]any{"p": "corp", "r": appPage, "c": challenge}, bearer(owner.AccessToken)...).into(t, "startIdentityLink", &start)
	if u, err := url.Parse(start); err != nil || u.Query().Get("codeChallenge") != challenge {
		t.Fatalf("startIdentityLink = %q", start)
	}
	var linked payload
	s.api().graphql(t, exchangeWithVerifier, map[string]any{"c": s.codeFor(t, start, "bob"), "v": verifier}).into(t, "exchangeAuthCode", &linked)
	if linked.User.ID != owner.User.ID {
		t.Fatalf("the link signed in %s, not the owner %s", linked.User.ID, owner.User.ID)
	}
	s.api().graphql(t, `mutation($p: String!, $r: String!, $c: String) { startIdentityLink(provider: $p, redirectTo: $r, codeChallenge: $c) }`,
		map[string]any{"p": "corp", "r": appPage, "c": "not-a-challenge"}, bearer(owner.AccessToken)...).wantCode(t, auth.CodeBadUserInput)
	status, raw = s.api().action(t, "startIdentityLink", map[string]any{"provider": "corp", "redirectTo": appPage, "codeChallenge": challenge},
		map[string]string{"x-hasura-role": "user", "x-hasura-user-id": owner.User.ID, "x-hasura-session-id": owner.SessionID})
	if status != http.StatusOK || !strings.Contains(string(raw), "codeChallenge="+challenge) {
		t.Fatalf("startIdentityLink action: %d %s", status, raw)
	}
}

// TestAnAttackersCodeOnTheVictimsPage is the login CSRF PKCE closes: the
// attacker signs in at the provider as themselves and stops at the
// redirect, then sends the victim to the app's page with that code. The
// victim's app exchanges it with the verifier of its own flow: refused, and
// nobody is signed in — whether the attacker's flow had a challenge of the
// attacker's or none at all.
func TestAnAttackersCodeOnTheVictimsPage(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	// The verifier the victim's app keeps for a flow of its own.
	victimVerifier := newVerifier(t)
	for _, attackerChallenge := range []string{auth.CodeChallengeS256(newVerifier(t)), ""} {
		code := s.codeFor(t, s.startWith(attackerChallenge), "bob")
		s.api().graphql(t, exchangeWithVerifier, map[string]any{"c": code, "v": victimVerifier}).wantCode(t, auth.CodeInvalidAuthCode)
	}
	if n := s.count(t, "sessions"); n != 0 {
		t.Fatalf("%d sessions: the victim's page signed into the attacker's account", n)
	}
}

// TestAuthCodeVerifierRefusals: a wrong verifier spends the code (the right
// one after it is too late), a code with a challenge needs a verifier, a
// code without one refuses any; and a code without a challenge, exchanged
// without a verifier, still signs in (the apps of before PKCE).
func TestAuthCodeVerifierRefusals(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	verifier := newVerifier(t)
	challenge := auth.CodeChallengeS256(verifier)

	code := s.codeFor(t, s.startWith(challenge), "alice")
	s.api().graphql(t, exchangeWithVerifier, map[string]any{"c": code, "v": newVerifier(t)}).wantCode(t, auth.CodeInvalidAuthCode)
	s.api().graphql(t, exchangeWithVerifier, map[string]any{"c": code, "v": verifier}).wantCode(t, auth.CodeInvalidAuthCode)

	code = s.codeFor(t, s.startWith(challenge), "alice")
	s.api().graphql(t, exchangeMutation, map[string]any{"c": code}).wantCode(t, auth.CodeInvalidAuthCode)

	code = s.codeFor(t, s.startWith(""), "alice")
	s.api().graphql(t, exchangeWithVerifier, map[string]any{"c": code, "v": verifier}).wantCode(t, auth.CodeInvalidAuthCode)
	if n := s.count(t, "sessions"); n != 0 {
		t.Fatalf("%d sessions after refusals", n)
	}

	var p payload
	s.api().graphql(t, exchangeMutation, map[string]any{"c": s.codeFor(t, s.startWith(""), "alice")}).into(t, "exchangeAuthCode", &p)
	if p.User.Email != "alice@example.com" {
		t.Fatalf("payload %+v", p)
	}
}

// TestStartRefusesAMalformedCodeChallenge: refused like a redirectTo that
// is not allowed — a 400 page, no redirect, no cookie.
func TestStartRefusesAMalformedCodeChallenge(t *testing.T) {
	t.Parallel()
	s := newProviderServer(t, realAccounts)
	verifier := newVerifier(t)
	for _, bad := range []string{verifier + "x", auth.CodeChallengeS256(verifier) + "=", "plain", strings.Repeat("a", 42)} {
		wantErrorPage(t, s.get(t, "/auth/corp/start?redirectTo="+url.QueryEscape(appPage)+"&codeChallenge="+url.QueryEscape(bad)), auth.CodeBadUserInput)
	}
	if s.count(t, "one_time_tokens") != 0 {
		t.Error("a refused start made a token")
	}
}
