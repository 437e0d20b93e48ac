package auth_test

import (
	"context"
	"crypto/rand"
	"net/url"
	"slices"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/onetime"
	"authgate/internal/redirect"
)

// providerEnv is a service with two identity providers, "google" and
// "corp", and the app at https://app.example.com.
func providerEnv(t *testing.T, change ...func(*auth.Config)) *authtest.Env {
	t.Helper()
	cfg := authtest.DefaultConfig()
	cfg.Providers = []string{"google", "corp"}
	cfg.PublicURL = "https://auth.example.com"
	allow, err := redirect.New([]string{"https://app.example.com"}, "https://app.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Redirects = allow
	for _, c := range change {
		c(&cfg)
	}
	return authtest.New(t, cfg)
}

func google(subject, email string, verified bool) auth.ExternalIdentity {
	return auth.ExternalIdentity{Provider: "google", Subject: subject, Email: email, EmailVerified: verified}
}

// identityCounts is what the database holds of users, identities,
// sessions and one-time tokens: a refused sign-in changes none of them.
type identityCounts struct{ Users, Identities, Sessions, Tokens int }

func countIdentityState(t *testing.T, env *authtest.Env) identityCounts {
	t.Helper()
	var c identityCounts
	if err := env.Store.DB().QueryRow(`SELECT (SELECT count(*) FROM auth.users), (SELECT count(*) FROM auth.identities),
		(SELECT count(*) FROM auth.sessions), (SELECT count(*) FROM auth.one_time_tokens WHERE used_at IS NULL)`).
		Scan(&c.Users, &c.Identities, &c.Sessions, &c.Tokens); err != nil {
		t.Fatal(err)
	}
	return c
}

func wantUnchanged(t *testing.T, env *authtest.Env, before identityCounts) {
	t.Helper()
	if after := countIdentityState(t, env); after != before {
		t.Fatalf("the refused request changed the database: %+v → %+v", before, after)
	}
}

// verifiedAccount signs up email with a password and marks its address verified.
func verifiedAccount(t *testing.T, env *authtest.Env, email string) *auth.AuthPayload {
	t.Helper()
	p := env.Signup(t, email, "correct horse")
	if _, err := env.Service.MarkEmailVerified(bg, email); err != nil {
		t.Fatal(err)
	}
	return p
}

func auditCount(t *testing.T, env *authtest.Env, event, userID string) int {
	t.Helper()
	var n int
	if err := env.Store.DB().Get(&n, `SELECT count(*) FROM auth.audit_events WHERE event = $1 AND user_id = $2 AND detail->>'provider' = 'google'`,
		event, userID); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAFirstProviderSignInCreatesAPasswordlessUserAndTheNextSignsItIn(t *testing.T) {
	env := providerEnv(t)
	first, err := env.Service.SignInWithIdentity(bg, google("g-1", "New@Example.com", true), nil)
	if err != nil {
		t.Fatal(err)
	}
	u := first.User
	if u.Email != "new@example.com" || !u.EmailVerified || u.DefaultRole != "user" || !slices.Equal(u.AllowedRoles, []string{"user"}) {
		t.Fatalf("created user %+v", u)
	}
	var hash *string
	if err := env.Store.DB().Get(&hash, `SELECT password_hash FROM auth.users WHERE id = $1`, u.ID); err != nil || hash != nil {
		t.Fatalf("password_hash %v (%v), want null", hash, err)
	}
	v, err := env.Issuer.Verify(first.AccessToken)
	if err != nil || !slices.Equal(v.AMR, []string{auth.AMRProvider}) || v.AuthLevel != 1 {
		t.Fatalf("amr %v level %d (%v)", v.AMR, v.AuthLevel, err)
	}
	// The address may change at the provider: the subject decides.
	again, err := env.Service.SignInWithIdentity(bg, google("g-1", "other@example.com", false), nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.User.ID != u.ID || again.SessionID == first.SessionID {
		t.Fatalf("second sign-in: user %s session %s", again.User.ID, again.SessionID)
	}
	ids, err := env.Service.Identities(bg, u.ID)
	if err != nil || len(ids) != 1 || ids[0].Provider != "google" || ids[0].Subject != "g-1" || ids[0].Email == nil || *ids[0].Email != "new@example.com" {
		t.Fatalf("identities %+v (%v)", ids, err)
	}
	if n := auditCount(t, env, "signup", u.ID); n != 1 {
		t.Errorf("%d signup rows with the provider, want 1", n)
	}
	if n := auditCount(t, env, "login", u.ID); n != 2 {
		t.Errorf("%d login rows with the provider, want 2", n)
	}
}

func TestAnUnverifiedProviderAddressMakesAnUnverifiedUser(t *testing.T) {
	env := providerEnv(t)
	p, err := env.Service.SignInWithIdentity(bg, google("g-1", "new@example.com", false), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.User.EmailVerified {
		t.Fatal("an address the provider did not verify is verified")
	}
}

// A new identity is linked to the account with its address only when the
// provider asserts the address verified and the account's is verified
// too; every other match is ACCOUNT_EXISTS and changes nothing.
func TestANewIdentityMeetingAnAccountLinksOnlyWhenBothAddressesAreVerified(t *testing.T) {
	cases := []struct {
		name                            string
		providerVerified, accountVerfed bool
		otherGoogleIdentity             bool
		want                            auth.Code // "" links
	}{
		{name: "both verified: linked", providerVerified: true, accountVerfed: true},
		{name: "unverified account (pre-hijacking): refused", providerVerified: true, accountVerfed: false, want: auth.CodeAccountExists},
		{name: "unverified provider address meeting an account: refused", providerVerified: false, accountVerfed: true, want: auth.CodeAccountExists},
		{name: "neither verified: refused", want: auth.CodeAccountExists},
		{name: "the account has another identity of the provider: refused", providerVerified: true, accountVerfed: true, otherGoogleIdentity: true, want: auth.CodeAccountExists},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := providerEnv(t)
			acct := env.Signup(t, "a@example.com", "correct horse")
			if tc.accountVerfed {
				if _, err := env.Service.MarkEmailVerified(bg, "a@example.com"); err != nil {
					t.Fatal(err)
				}
			}
			if tc.otherGoogleIdentity {
				link := startLink(t, env, acct, "google")
				if _, err := env.Service.IssueAuthCode(bg, google("g-old", "", false), linkToken(t, link), ""); err != nil {
					t.Fatal(err)
				}
			}
			before := countIdentityState(t, env)
			p, err := env.Service.SignInWithIdentity(bg, google("g-1", "A@example.com", tc.providerVerified), nil)
			if tc.want != "" {
				wantCode(t, err, tc.want)
				wantUnchanged(t, env, before)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.User.ID != acct.User.ID {
				t.Fatalf("signed in %s, want the account %s", p.User.ID, acct.User.ID)
			}
			if n := auditCount(t, env, "identity_linked", acct.User.ID); n != 1 {
				t.Errorf("%d identity_linked rows, want 1", n)
			}
			// The password still works.
			if _, err := env.Service.Login(bg, "a@example.com", "correct horse", nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestProviderSignInRefusals(t *testing.T) {
	env := providerEnv(t)
	verifiedAccount(t, env, "a@example.com")
	off := env.Config
	off.SignupEnabled = false
	env.Service = auth.New(env.Store, env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, off)
	cases := []struct {
		name string
		id   auth.ExternalIdentity
		want auth.Code
	}{
		{"sign-up off and no account", google("g-1", "new@example.com", true), auth.CodeForbidden},
		{"sign-up off and no address", google("g-1", "", true), auth.CodeForbidden},
		{"an unconfigured provider", auth.ExternalIdentity{Provider: "github", Subject: "1", Email: "a@example.com", EmailVerified: true}, auth.CodeUnknownProvider},
		{"an empty subject", google("", "a@example.com", true), auth.CodeBadUserInput},
		{"a subject with a NUL", google("g\x00", "a@example.com", true), auth.CodeBadUserInput},
		{"a subject too long", google(string(make([]byte, 300)), "a@example.com", true), auth.CodeBadUserInput},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := countIdentityState(t, env)
			_, err := env.Service.SignInWithIdentity(bg, tc.id, nil)
			wantCode(t, err, tc.want)
			_, err = env.Service.IssueAuthCode(bg, tc.id, "", "")
			wantCode(t, err, tc.want)
			wantUnchanged(t, env, before)
		})
	}
	// A bad description is refused before anything is looked up.
	long := string(make([]byte, 500))
	_, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), &long)
	wantCode(t, err, auth.CodeBadUserInput)

	// With sign-up off, linking by a verified address and signing in with
	// a linked identity still work.
	p, err := env.Service.SignInWithIdentity(bg, google("g-2", "a@example.com", true), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Service.SignInWithIdentity(bg, google("g-2", "", false), nil); err != nil {
		t.Fatalf("a linked identity while sign-up is off: %v", err)
	}
	_ = p
}

func TestANewIdentityWithoutAnAddressIsRefusedWhileSignupIsOn(t *testing.T) {
	env := providerEnv(t)
	before := countIdentityState(t, env)
	_, err := env.Service.SignInWithIdentity(bg, google("g-1", "", true), nil)
	wantCode(t, err, auth.CodeBadUserInput)
	_, err = env.Service.SignInWithIdentity(bg, google("g-1", "not an address", true), nil)
	wantCode(t, err, auth.CodeBadUserInput)
	wantUnchanged(t, env, before)
}

func TestADisabledUsersIdentitySignsNothingIn(t *testing.T) {
	env := providerEnv(t)
	p, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Service.SetUserDisabled(bg, "a@example.com", true); err != nil {
		t.Fatal(err)
	}
	before := countIdentityState(t, env)
	_, err = env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
	wantCode(t, err, auth.CodeUserDisabled)
	_, err = env.Service.IssueAuthCode(bg, google("g-1", "a@example.com", true), "", "")
	wantCode(t, err, auth.CodeUserDisabled)
	wantUnchanged(t, env, before)

	// A code issued before the disable is refused at the exchange.
	if err := env.Service.SetUserDisabled(bg, "a@example.com", false); err != nil {
		t.Fatal(err)
	}
	code, err := env.Service.IssueAuthCode(bg, google("g-1", "a@example.com", true), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Service.SetUserDisabled(bg, "a@example.com", true); err != nil {
		t.Fatal(err)
	}
	_, err = env.Service.ExchangeAuthCode(bg, code, nil, nil)
	wantCode(t, err, auth.CodeUserDisabled)
	_ = p
}

func TestAProviderSignInOfATOTPUserNeedsTheSecondStep(t *testing.T) {
	env := providerEnv(t)
	p, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := enableTOTP(t, env, p)
	_, err = env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
	wantCode(t, err, auth.CodeMFARequired)

	code, err := env.Service.IssueAuthCode(bg, google("g-1", "a@example.com", true), "", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Service.ExchangeAuthCode(bg, code, nil, nil)
	wantCode(t, err, auth.CodeMFARequired)
	ticket := err.(*auth.Error).Ticket
	otp := totpCode(t, env, secret, 0)
	done, err := env.Service.CompleteMFA(bg, ticket, &otp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := env.Issuer.Verify(done.AccessToken)
	if !slices.Equal(v.AMR, []string{auth.AMRProvider, auth.AMRTOTP}) || v.AuthLevel != 2 {
		t.Fatalf("amr %v level %d", v.AMR, v.AuthLevel)
	}
	var provider string
	if err := env.Store.DB().Get(&provider, `SELECT detail->>'provider' FROM auth.audit_events WHERE event = 'login' AND session_id = $1`, done.SessionID); err != nil || provider != "google" {
		t.Fatalf("the login row's provider %q (%v)", provider, err)
	}
}

func TestAnAuthCodeIsExchangedOnceWithinItsMinute(t *testing.T) {
	env := providerEnv(t)
	code, err := env.Service.IssueAuthCode(bg, google("g-1", "a@example.com", true), "", "")
	if err != nil {
		t.Fatal(err)
	}
	desc := "phone"
	p, err := env.Service.ExchangeAuthCode(bg, code, nil, &desc)
	if err != nil {
		t.Fatal(err)
	}
	if p.User.Email != "a@example.com" {
		t.Fatalf("signed in %s", p.User.Email)
	}
	before := countIdentityState(t, env)
	_, err = env.Service.ExchangeAuthCode(bg, code, nil, nil)
	wantCode(t, err, auth.CodeInvalidAuthCode)

	late, err := env.Service.IssueAuthCode(bg, google("g-1", "a@example.com", true), "", "")
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(auth.AuthCodeTTL + time.Second)
	before = countIdentityState(t, env)
	_, err = env.Service.ExchangeAuthCode(bg, late, nil, nil)
	wantCode(t, err, auth.CodeInvalidAuthCode)
	for _, bad := range []string{"", "short", code + "x", string(make([]byte, 43))} {
		_, err = env.Service.ExchangeAuthCode(bg, bad, nil, nil)
		wantCode(t, err, auth.CodeInvalidAuthCode)
	}
	// A link token is no auth code.
	link := startLink(t, env, p, "corp")
	_, err = env.Service.ExchangeAuthCode(bg, linkToken(t, link), nil, nil)
	wantCode(t, err, auth.CodeInvalidAuthCode)
	before.Tokens++ // the link
	wantUnchanged(t, env, before)
}

// heldRow runs stmt in a transaction of its own that the test ends with
// the returned function (commit or rollback): the racing statements wait
// for the row it locked or wrote.
func heldRow(t *testing.T, env *authtest.Env, stmt string, args ...any) (end func(commit bool)) {
	t.Helper()
	tx, err := env.Store.DB().Beginx()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(stmt, args...); err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	done := false
	t.Cleanup(func() {
		if !done {
			_ = tx.Rollback()
		}
	})
	return func(commit bool) {
		done = true
		var err error
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Two first sign-ins of one identity racing: both decide, on their
// snapshots, that the identity and its user do not exist; the test holds
// an uncommitted row of that identity so that both wait inside their
// statements, then lets them go. One makes the user and the identity; the
// other loses at the unique index, looks again, and signs in to it.
func TestTwoRacingFirstSignInsOfOneIdentityMakeOneUser(t *testing.T) {
	env := providerEnv(t)
	other := env.Signup(t, "other@example.com", "correct horse")
	end := heldRow(t, env, `INSERT INTO auth.identities (user_id, provider, subject, created_at) VALUES ($1, 'google', 'g-1', now())`, other.User.ID)
	type result struct {
		p   *auth.AuthPayload
		err error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			p, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
			results <- result{p, err}
		}()
	}
	waitForLockWaiters(t, env, 2, "the racing statements")
	end(false)
	var users []string
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		users = append(users, r.p.User.ID)
	}
	if users[0] != users[1] {
		t.Fatalf("two users %v", users)
	}
	var nUsers, nIdentities int
	if err := env.Store.DB().QueryRow(`SELECT (SELECT count(*) FROM auth.users WHERE email = 'a@example.com'),
		(SELECT count(*) FROM auth.identities WHERE provider = 'google' AND subject = 'g-1')`).Scan(&nUsers, &nIdentities); err != nil {
		t.Fatal(err)
	}
	if nUsers != 1 || nIdentities != 1 {
		t.Fatalf("%d users, %d identities; want 1 and 1", nUsers, nIdentities)
	}
}

// startLink asks for p's user's link to provider and returns its URL.
func startLink(t *testing.T, env *authtest.Env, p *auth.AuthPayload, provider string) string {
	t.Helper()
	u, err := env.Service.StartIdentityLink(bg, p.User.ID, provider, "https://app.example.com/settings", nil)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// linkToken reads the link token out of a StartIdentityLink URL.
func linkToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("link")
}

func TestLinkingAnIdentityToTheSignedInUser(t *testing.T) {
	env := providerEnv(t)
	a := env.Signup(t, "a@example.com", "correct horse") // unverified: a link needs no address match
	link := startLink(t, env, a, "google")
	u, _ := url.Parse(link)
	if u.Scheme != "https" || u.Host != "auth.example.com" || u.Path != "/auth/google/start" ||
		u.Query().Get("redirectTo") != "https://app.example.com/settings" {
		t.Fatalf("link URL %s", link)
	}
	token := linkToken(t, link)
	provider, err := env.Service.CheckIdentityLink(bg, token)
	if err != nil || provider != "google" {
		t.Fatalf("CheckIdentityLink: %q, %v", provider, err)
	}
	// A link token made for google ends no corp flow, and is used up by trying.
	_, err = env.Service.IssueAuthCode(bg, auth.ExternalIdentity{Provider: "corp", Subject: "c-1"}, token, "")
	wantCode(t, err, auth.CodeInvalidAuthCode)
	_, err = env.Service.CheckIdentityLink(bg, token)
	wantCode(t, err, auth.CodeInvalidAuthCode)

	token = linkToken(t, startLink(t, env, a, "google"))
	code, err := env.Service.IssueAuthCode(bg, google("g-1", "someone.else@example.com", false), token, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := env.Service.ExchangeAuthCode(bg, code, nil, nil)
	if err != nil || p.User.ID != a.User.ID {
		t.Fatalf("exchange: %v, %v", p, err)
	}
	if n := auditCount(t, env, "identity_linked", a.User.ID); n != 1 {
		t.Errorf("%d identity_linked rows, want 1", n)
	}
	// The token worked once.
	_, err = env.Service.IssueAuthCode(bg, google("g-1", "", false), token, "")
	wantCode(t, err, auth.CodeInvalidAuthCode)
	// Now the identity signs in to a.
	again, err := env.Service.SignInWithIdentity(bg, google("g-1", "", false), nil)
	if err != nil || again.User.ID != a.User.ID {
		t.Fatalf("sign-in with the linked identity: %v", err)
	}

	// Another user cannot link it; a second google identity cannot be linked to a.
	b := env.Signup(t, "b@example.com", "correct horse")
	before := countIdentityState(t, env)
	_, err = env.Service.IssueAuthCode(bg, google("g-1", "", false), linkToken(t, startLink(t, env, b, "google")), "")
	wantCode(t, err, auth.CodeAccountExists)
	_, err = env.Service.IssueAuthCode(bg, google("g-2", "", false), linkToken(t, startLink(t, env, a, "google")), "")
	wantCode(t, err, auth.CodeBadUserInput)
	wantUnchanged(t, env, before)

	// Bad link requests.
	_, err = env.Service.StartIdentityLink(bg, a.User.ID, "github", "https://app.example.com/", nil)
	wantCode(t, err, auth.CodeUnknownProvider)
	for _, bad := range []string{"https://app.example.com.evil.net/", "https://app.example.com@evil.net/", "javascript:alert(1)"} {
		_, err = env.Service.StartIdentityLink(bg, a.User.ID, "google", bad, nil)
		wantCode(t, err, auth.CodeBadUserInput)
	}
	_, err = env.Service.CheckIdentityLink(bg, "nonsense")
	wantCode(t, err, auth.CodeInvalidAuthCode)
	_, err = env.Service.StartMyIdentityLink(bg, "google", "https://app.example.com/", nil)
	wantCode(t, err, auth.CodeUnauthenticated)
	wantUnchanged(t, env, before)
}

// Two users linking the same identity at once: both statements find it
// free on their snapshots and wait (for the test's uncommitted row of it);
// once let go, one links it and the other answers ACCOUNT_EXISTS.
func TestTwoRacingLinksOfOneIdentityLinkItOnce(t *testing.T) {
	env := providerEnv(t)
	a := env.Signup(t, "a@example.com", "correct horse")
	b := env.Signup(t, "b@example.com", "correct horse")
	c := env.Signup(t, "c@example.com", "correct horse")
	tokens := []string{linkToken(t, startLink(t, env, a, "google")), linkToken(t, startLink(t, env, b, "google"))}
	end := heldRow(t, env, `INSERT INTO auth.identities (user_id, provider, subject, created_at) VALUES ($1, 'google', 'g-1', now())`, c.User.ID)
	errs := make(chan error, 2)
	for _, tok := range tokens {
		go func() {
			_, err := env.Service.IssueAuthCode(bg, google("g-1", "", false), tok, "")
			errs <- err
		}()
	}
	waitForLockWaiters(t, env, 2, "the racing statements")
	end(false)
	var won, refused int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			won++
		case auth.CodeOf(err) == auth.CodeAccountExists:
			refused++
		default:
			t.Fatal(err)
		}
	}
	var owners []string
	if err := env.Store.DB().Select(&owners, `SELECT user_id::text FROM auth.identities WHERE provider = 'google' AND subject = 'g-1'`); err != nil {
		t.Fatal(err)
	}
	if won != 1 || refused != 1 || len(owners) != 1 || (owners[0] != a.User.ID && owners[0] != b.User.ID) {
		t.Fatalf("won %d, refused %d, owners %v", won, refused, owners)
	}
}

// Two exchanges of one code at once: both wait for the test's lock on the
// code's row; once let go, exactly one opens a session.
func TestTwoRacingExchangesOfOneCodeOpenOneSession(t *testing.T) {
	env := providerEnv(t)
	code, err := env.Service.IssueAuthCode(bg, google("g-1", "a@example.com", true), "", "")
	if err != nil {
		t.Fatal(err)
	}
	end := heldRow(t, env, `SELECT 1 FROM auth.one_time_tokens WHERE purpose = 'auth_code' FOR UPDATE`)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := env.Service.ExchangeAuthCode(bg, code, nil, nil)
			errs <- err
		}()
	}
	waitForLockWaiters(t, env, 2, "the racing statements")
	end(true)
	var won, refused int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			won++
		case auth.CodeOf(err) == auth.CodeInvalidAuthCode:
			refused++
		default:
			t.Fatal(err)
		}
	}
	var sessions int
	if err := env.Store.DB().Get(&sessions, `SELECT count(*) FROM auth.sessions`); err != nil {
		t.Fatal(err)
	}
	if won != 1 || refused != 1 || sessions != 1 {
		t.Fatalf("won %d, refused %d, %d sessions", won, refused, sessions)
	}
}

func TestUnlinkNeverRemovesTheLastWayToSignIn(t *testing.T) {
	env := providerEnv(t, func(c *auth.Config) { c.MFA.Passkeys = nil })
	p, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
	if err != nil {
		t.Fatal(err)
	}
	before := countIdentityState(t, env)
	_, err = env.Service.UnlinkMyIdentity(authtest.As(p), "google")
	wantCode(t, err, auth.CodeBadUserInput)
	_, err = env.Service.UnlinkMyIdentity(authtest.As(p), "corp")
	wantCode(t, err, auth.CodeNotFound)
	_, err = env.Service.UnlinkMyIdentity(authtest.As(p), "bad\x00")
	wantCode(t, err, auth.CodeNotFound)
	_, err = env.Service.UnlinkMyIdentity(bg, "google")
	wantCode(t, err, auth.CodeUnauthenticated)
	_, err = env.Service.UnlinkIdentity(bg, "not-a-uuid", "google")
	wantCode(t, err, auth.CodeNotFound)
	if ids, err := env.Service.Identities(bg, "not-a-uuid"); err != nil || len(ids) != 0 {
		t.Fatalf("identities of no user: %v %v", ids, err)
	}
	wantUnchanged(t, env, before)

	// A second identity is a way in: either may go, not both.
	code, err := env.Service.IssueAuthCode(bg, auth.ExternalIdentity{Provider: "corp", Subject: "c-1"}, linkToken(t, startLink(t, env, p, "corp")), "")
	if err != nil || code == "" {
		t.Fatal(err)
	}
	if ok, err := env.Service.UnlinkMyIdentity(authtest.As(p), "google"); err != nil || !ok {
		t.Fatalf("unlink google: %v %v", ok, err)
	}
	_, err = env.Service.UnlinkMyIdentity(authtest.As(p), "corp")
	wantCode(t, err, auth.CodeBadUserInput)
	if n := auditCount(t, env, "identity_unlinked", p.User.ID); n != 1 {
		t.Errorf("%d identity_unlinked rows, want 1", n)
	}
	// The unlinked identity is a stranger now: it makes a new account…
	// except that its address is taken (and verified), so it links to it
	// again by the rule; a new subject at corp for another address makes a
	// new user.
	ids, _ := env.Service.Identities(bg, p.User.ID)
	if len(ids) != 1 || ids[0].Provider != "corp" {
		t.Fatalf("identities %+v", ids)
	}
}

func TestAPasswordOrAPasskeyLetsTheLastIdentityGo(t *testing.T) {
	t.Run("password", func(t *testing.T) {
		env := providerEnv(t)
		verifiedAccount(t, env, "a@example.com")
		p, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := env.Service.UnlinkIdentity(bg, p.User.ID, "google"); err != nil || !ok {
			t.Fatalf("unlink: %v %v", ok, err)
		}
	})
	t.Run("passkey, while passkeys sign in", func(t *testing.T) {
		env := providerEnv(t)
		p, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
		if err != nil {
			t.Fatal(err)
		}
		registerPasskey(t, env, p)
		if ok, err := env.Service.UnlinkIdentity(bg, p.User.ID, "google"); err != nil || !ok {
			t.Fatalf("unlink: %v %v", ok, err)
		}
	})
	t.Run("passkey, while passkeys are off", func(t *testing.T) {
		env := providerEnv(t)
		p, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
		if err != nil {
			t.Fatal(err)
		}
		registerPasskey(t, env, p)
		off := env.Config
		off.MFA.Passkeys = nil
		svc := auth.New(env.Store, env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, off)
		_, err = svc.UnlinkIdentity(bg, p.User.ID, "google")
		wantCode(t, err, auth.CodeBadUserInput)
	})
}

// Two unlinks of a passwordless user's two identities at once: each alone
// would leave the other; both wait for the test's lock on the user's row,
// then run one after the other, and the second finds the first's unlink
// and refuses.
func TestTwoRacingUnlinksLeaveOneWayIn(t *testing.T) {
	env := providerEnv(t, func(c *auth.Config) { c.MFA.Passkeys = nil })
	p, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Service.IssueAuthCode(bg, auth.ExternalIdentity{Provider: "corp", Subject: "c-1"}, linkToken(t, startLink(t, env, p, "corp")), ""); err != nil {
		t.Fatal(err)
	}
	unlink := func(provider string) func() error {
		return func() error {
			_, err := env.Service.UnlinkIdentity(bg, p.User.ID, provider)
			return err
		}
	}
	raceRemovals(t, env, p.User.ID, unlink("google"), unlink("corp"))
	if ids, _ := env.Service.Identities(bg, p.User.ID); len(ids) != 1 {
		t.Fatalf("identities %+v, want 1", ids)
	}
}

// A user made by a provider has no password: a login with any password
// fails like a wrong one (and counts like one), changePassword says to use
// the reset flow, and a reset gives it a password.
func TestAUserWithoutAPasswordCannotLogInWithOne(t *testing.T) {
	env := providerEnv(t)
	p, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "correct horse"} {
		_, err = env.Service.Login(from("203.0.113.9"), "a@example.com", pw, nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	var failures int
	if err := env.Store.DB().Get(&failures, `SELECT count(*) FROM auth.audit_events WHERE event = 'login_failed' AND user_id = $1`, p.User.ID); err != nil || failures != 2 {
		t.Fatalf("%d login_failed rows (%v), want 2", failures, err)
	}
	before := countIdentityState(t, env)
	_, err = env.Service.ChangePassword(authtest.As(p), "", "battery staple")
	wantCode(t, err, auth.CodeBadUserInput)
	wantUnchanged(t, env, before)

	// The reset flow's token (as its mail would carry it) sets one.
	reset, err := env.Service.IssueOneTimeToken(bg, auth.OneTimeRequest{Purpose: onetime.Reset, UserID: p.User.ID, Email: "a@example.com", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Service.ResetPassword(bg, reset.Token, "battery staple", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Service.Login(bg, "a@example.com", "battery staple", nil); err != nil {
		t.Fatal(err)
	}

}

// The users made by a first emailed sign-in before this migration had ”
// for no password; every user without one now has null, and the admin
// list reads them.
func TestUsersWithoutAPasswordAreListed(t *testing.T) {
	env := providerEnv(t)
	if _, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil); err != nil {
		t.Fatal(err)
	}
	users, _, err := env.Service.ListUsers(context.Background(), "a@")
	if err != nil || len(users) != 1 {
		t.Fatalf("ListUsers: %v %v", users, err)
	}
	if _, err := env.Store.DB().Exec(`UPDATE auth.users SET password_hash = '' WHERE email = 'a@example.com'`); err == nil {
		t.Fatal("an empty password hash was stored")
	}
}

// A first sign-in that links by address to an account being deleted: its
// statement found the account on its snapshot and waits (for the test's
// uncommitted delete) at the foreign key; once the delete commits it
// fails there, looks again, and makes a new account for the address.
func TestAFirstSignInRacingTheDeletionOfItsAccountMakesANewOne(t *testing.T) {
	env := providerEnv(t)
	gone := verifiedAccount(t, env, "a@example.com")
	end := heldRow(t, env, `DELETE FROM auth.users WHERE id = $1`, gone.User.ID)
	type result struct {
		p   *auth.AuthPayload
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
		done <- result{p, err}
	}()
	waitForLockWaiters(t, env, 1, "the sign-in")
	end(true)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.p.User.ID == gone.User.ID || r.p.User.Email != "a@example.com" {
		t.Fatalf("signed in %+v", r.p.User)
	}
}
