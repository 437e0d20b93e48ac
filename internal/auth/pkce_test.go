package auth_test

import (
	"net/url"
	"strings"
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// A verifier as @authgate/client makes one (32 random bytes, base64url) and
// its S256 challenge; another app's pair.
const (
	appVerifier   = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636's example
	appChallenge  = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	otherVerifier = "bm90IHRoZSBhcHAncyB2ZXJpZmllciwgYW5vdGhlciBvbmU"
)

func TestCodeChallengeS256IsRFC7636s(t *testing.T) {
	if got := auth.CodeChallengeS256(appVerifier); got != appChallenge {
		t.Fatalf("S256(%s) = %s, want %s", appVerifier, got, appChallenge)
	}
}

func TestOnlyS256ChallengesAreAccepted(t *testing.T) {
	for _, ok := range []string{appChallenge, auth.CodeChallengeS256(otherVerifier), strings.Repeat("A", 43), strings.Repeat("_", 42) + "w"} {
		if err := auth.CheckCodeChallenge(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for name, bad := range map[string]string{
		"empty":                       "",
		"one short":                   appChallenge[:42],
		"one long":                    appChallenge + "A",
		"padded":                      appChallenge[:42] + "=",
		"standard base64":             "+" + appChallenge[1:42] + "/",
		"a newline inside":            appChallenge[:20] + "\n" + appChallenge[21:],
		"stray bits in the last char": appChallenge[:42] + "N",
		"a plain verifier":            appVerifier + "x",
		"not ASCII":                   strings.Repeat("é", 21) + "A",
	} {
		if err := auth.CheckCodeChallenge(bad); auth.CodeOf(err) != auth.CodeBadUserInput {
			t.Errorf("%s (%q): err = %v, want BAD_USER_INPUT", name, bad, err)
		}
	}
}

// countAuditEvents counts event rows of userID.
func countAuditEvents(t *testing.T, env *authtest.Env, event, userID string) int {
	t.Helper()
	var n int
	if err := env.Store.DB().Get(&n, `SELECT count(*) FROM auth.audit_events WHERE event = $1 AND user_id = $2`, event, userID); err != nil {
		t.Fatal(err)
	}
	return n
}

// userOfCode is the user a provider sign-in made, found by its identity.
func userOfIdentity(t *testing.T, env *authtest.Env, subject string) string {
	t.Helper()
	var id string
	if err := env.Store.DB().Get(&id, `SELECT user_id FROM auth.identities WHERE subject = $1`, subject); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestACodeIssuedWithAChallengeSignsInOnlyWithItsVerifier(t *testing.T) {
	env := providerEnv(t)
	issue := func(challenge string) string {
		t.Helper()
		code, err := env.Service.IssueAuthCode(bg, google("g-1", "a@example.com", true), "", challenge)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	v := func(s string) *string { return &s }

	code := issue(appChallenge)
	p, err := env.Service.ExchangeAuthCode(bg, code, v(appVerifier), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.User.Email != "a@example.com" || p.RefreshToken == "" {
		t.Fatalf("payload %+v", p)
	}
	_, err = env.Service.ExchangeAuthCode(bg, code, v(appVerifier), nil)
	wantCode(t, err, auth.CodeInvalidAuthCode)

	// Every refusal spends the code: whoever holds a stolen code gets one
	// guess at its verifier, and the right verifier after it is too late.
	for name, tc := range map[string]struct {
		challenge string
		verifier  *string
	}{
		"another app's verifier":                      {appChallenge, v(otherVerifier)},
		"no verifier for a code with a challenge":     {appChallenge, nil},
		"the challenge sent as the verifier":          {appChallenge, v(appChallenge)},
		"a verifier too long for RFC 7636":            {appChallenge, v(strings.Repeat(appVerifier, 3))},
		"a verifier with characters RFC 7636 refuses": {appChallenge, v(appVerifier[:42] + "/")},
		"a verifier for a code without a challenge":   {"", v(appVerifier)},
		"an empty verifier for a code without one":    {"", v("")},
	} {
		code := issue(tc.challenge)
		failed := countAuditEvents(t, env, string(auth.EventLoginFailed), p.User.ID)
		before := countIdentityState(t, env)
		_, err := env.Service.ExchangeAuthCode(bg, code, tc.verifier, nil)
		if auth.CodeOf(err) != auth.CodeInvalidAuthCode {
			t.Fatalf("%s: err = %v, want INVALID_AUTH_CODE", name, err)
		}
		before.Tokens-- // spent
		wantUnchanged(t, env, before)
		if countAuditEvents(t, env, string(auth.EventLoginFailed), p.User.ID) != failed+1 {
			t.Errorf("%s: no login_failed row for the code's user", name)
		}
		right := v(appVerifier)
		if tc.challenge == "" {
			right = nil
		}
		if _, err := env.Service.ExchangeAuthCode(bg, code, right, nil); auth.CodeOf(err) != auth.CodeInvalidAuthCode {
			t.Fatalf("%s: the right verifier after a refusal: err = %v, want INVALID_AUTH_CODE (spent)", name, err)
		}
	}

	// A description that is refused spends nothing: the code still works.
	code = issue(appChallenge)
	long := strings.Repeat("x", 10000)
	_, err = env.Service.ExchangeAuthCode(bg, code, v(appVerifier), &long)
	wantCode(t, err, auth.CodeBadUserInput)
	if _, err := env.Service.ExchangeAuthCode(bg, code, v(appVerifier), nil); err != nil {
		t.Fatalf("after a refused description: %v", err)
	}

	// A code without a challenge is exchanged without a verifier, as before.
	if _, err := env.Service.ExchangeAuthCode(bg, issue(""), nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestIssueAuthCodeRefusesAMalformedChallengeBeforeAnything(t *testing.T) {
	env := providerEnv(t)
	p := env.Signup(t, "owner@example.com", "correct horse")
	link := linkToken(t, startLink(t, env, p, "google"))
	before := countIdentityState(t, env)
	for _, bad := range []string{"plain", appChallenge + "=", appVerifier + "~"} {
		_, err := env.Service.IssueAuthCode(bg, google("g-1", "new@example.com", true), "", bad)
		wantCode(t, err, auth.CodeBadUserInput)
		_, err = env.Service.IssueAuthCode(bg, google("g-2", "", false), link, bad)
		wantCode(t, err, auth.CodeBadUserInput)
	}
	wantUnchanged(t, env, before) // no user made, no identity linked, the link not consumed
}

func TestStartIdentityLinkCarriesTheAppsChallenge(t *testing.T) {
	env := providerEnv(t)
	p := env.Signup(t, "owner@example.com", "correct horse")
	challenge := appChallenge
	start, err := env.Service.StartIdentityLink(bg, p.User.ID, "google", "https://app.example.com/settings", &challenge)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(start)
	if err != nil || u.Query().Get("codeChallenge") != appChallenge || u.Query().Get("link") == "" {
		t.Fatalf("link URL %q", start)
	}
	if plain := startLink(t, env, p, "corp"); strings.Contains(plain, "codeChallenge") {
		t.Fatalf("a link without a challenge names one: %q", plain)
	}
	before := countIdentityState(t, env)
	bad := "S256"
	_, err = env.Service.StartIdentityLink(bg, p.User.ID, "google", "https://app.example.com/settings", &bad)
	wantCode(t, err, auth.CodeBadUserInput)
	wantUnchanged(t, env, before)

	// /start carries the challenge to the callback, which binds the code.
	code, err := env.Service.IssueAuthCode(bg, google("g-1", "", false), u.Query().Get("link"), u.Query().Get("codeChallenge"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Service.ExchangeAuthCode(bg, code, nil, nil)
	wantCode(t, err, auth.CodeInvalidAuthCode)
	code, err = env.Service.IssueAuthCode(bg, google("g-1", "", false), linkToken(t, startLink(t, env, p, "google")), appChallenge)
	if err != nil {
		t.Fatal(err)
	}
	verifier := appVerifier
	got, err := env.Service.ExchangeAuthCode(bg, code, &verifier, nil)
	if err != nil || got.User.ID != p.User.ID {
		t.Fatalf("the link's sign-in: %v %+v", err, got)
	}
}

// The attack PKCE stops: the attacker's own code (its flow started with the
// attacker's challenge, or none) reaches the victim's page, whose app sends
// the verifier it keeps for its own flow. Refused, and nobody is signed in.
func TestAnAttackersCodeDoesNotSignInWithTheVictimsVerifier(t *testing.T) {
	env := providerEnv(t)
	attackerChallenge := auth.CodeChallengeS256(otherVerifier)
	victimVerifier := appVerifier
	for _, challenge := range []string{attackerChallenge, ""} {
		code, err := env.Service.IssueAuthCode(bg, google("g-attacker", "mallory@example.com", true), "", challenge)
		if err != nil {
			t.Fatal(err)
		}
		_, err = env.Service.ExchangeAuthCode(bg, code, &victimVerifier, nil)
		wantCode(t, err, auth.CodeInvalidAuthCode)
	}
	if n := countIdentityState(t, env).Sessions; n != 0 {
		t.Fatalf("%d sessions", n)
	}
	if n := countAuditEvents(t, env, string(auth.EventLoginFailed), userOfIdentity(t, env, "g-attacker")); n != 2 {
		t.Fatalf("%d login_failed rows on the attacker's account, want 2", n)
	}
}

// An exchange with the right verifier and one with a wrong one, at once:
// both wait for the test's lock on the code's row; once let go, one spends
// the code. Whichever it is, at most the right one signs in.
func TestRightAndWrongVerifiersRacingSpendTheCodeOnce(t *testing.T) {
	env := providerEnv(t)
	code, err := env.Service.IssueAuthCode(bg, google("g-1", "a@example.com", true), "", appChallenge)
	if err != nil {
		t.Fatal(err)
	}
	end := heldRow(t, env, `SELECT 1 FROM auth.one_time_tokens WHERE purpose = 'auth_code' FOR UPDATE`)
	type result struct {
		right bool
		err   error
	}
	results := make(chan result, 2)
	for _, v := range []string{appVerifier, otherVerifier} {
		go func() {
			_, err := env.Service.ExchangeAuthCode(bg, code, &v, nil)
			results <- result{v == appVerifier, err}
		}()
	}
	waitForLockWaiters(t, env, 2, "the racing exchanges")
	end(true)
	won := 0
	for range 2 {
		r := <-results
		switch {
		case r.err == nil && r.right:
			won++
		case auth.CodeOf(r.err) == auth.CodeInvalidAuthCode:
		default:
			t.Fatalf("right verifier %v: %v", r.right, r.err)
		}
	}
	if sessions := countIdentityState(t, env).Sessions; won > 1 || sessions != won {
		t.Fatalf("%d signed in, %d sessions", won, sessions)
	}
}
