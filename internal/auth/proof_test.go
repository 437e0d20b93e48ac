package auth_test

import (
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/onetime"
)

// corpUnverified is an identity whose provider does not vouch for the
// address (a provider without email_verified, or Microsoft, which never
// sends it).
func corpUnverified(subject, email string) auth.ExternalIdentity {
	return auth.ExternalIdentity{Provider: "corp", Subject: subject, Email: email}
}

func identityProviders(t *testing.T, env *authtest.Env, userID string) []string {
	t.Helper()
	ids, err := env.Service.Identities(bg, userID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, id := range ids {
		out = append(out, id.Provider)
	}
	return out
}

func unlinkedRows(t *testing.T, env *authtest.Env, userID, provider string) int {
	t.Helper()
	var n int
	if err := env.Store.DB().Get(&n, `SELECT count(*) FROM auth.audit_events WHERE event = 'identity_unlinked'
		AND user_id = $1 AND detail->>'provider' = $2 AND detail->>'by' = 'email_proof'`, userID, provider); err != nil {
		t.Fatal(err)
	}
	return n
}

// proofs are the ways the address's owner proves it by mail; each returns
// the owner's session when the proof signs in (nil otherwise).
var proofs = []struct {
	name  string
	prove func(t *testing.T, env *authtest.Env, userID, email string) *auth.AuthPayload
}{
	{"verifyEmail", func(t *testing.T, env *authtest.Env, userID, email string) *auth.AuthPayload {
		tok := issue(t, env, auth.OneTimeRequest{Purpose: onetime.Verify, UserID: userID, Email: email})
		if ok, err := env.Service.VerifyEmail(bg, tok.Token); err != nil || !ok {
			t.Fatalf("verifyEmail: %v %v", ok, err)
		}
		return nil
	}},
	{"resetPassword", func(t *testing.T, env *authtest.Env, userID, email string) *auth.AuthPayload {
		tok := issue(t, env, auth.OneTimeRequest{Purpose: onetime.Reset, UserID: userID, Email: email})
		p, err := env.Service.ResetPassword(bg, tok.Token, "owner's own password", nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}},
	{"email sign-in link", func(t *testing.T, env *authtest.Env, userID, email string) *auth.AuthPayload {
		tok := issue(t, env, auth.OneTimeRequest{Purpose: onetime.SignIn, UserID: userID, Email: email})
		p, err := env.Service.SignInWithEmailToken(bg, tok.Token, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}},
	{"email sign-in code", func(t *testing.T, env *authtest.Env, userID, email string) *auth.AuthPayload {
		tok := issue(t, env, auth.OneTimeRequest{Purpose: onetime.SignIn, UserID: userID, Email: email, WithCode: true})
		p, err := env.Service.SignInWithEmailCode(bg, email, tok.Code, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}},
}

// The attack: someone signs in with a provider that does not verify
// addresses, asserting the victim's; an (unverified) account is made with
// the attacker's identity. When the victim proves the address by mail, the
// attacker's identity is removed in the statement that marks the address
// verified (audited, naming the provider), the sessions it opened end, and
// it no longer signs in to the account. An identity whose provider vouched
// for this very address stays.
func TestProvingTheAddressRemovesIdentitiesThatDidNotProveIt(t *testing.T) {
	for _, proof := range proofs {
		t.Run(proof.name, func(t *testing.T) {
			env := providerEnv(t)
			attacker, err := env.Service.SignInWithIdentity(bg, corpUnverified("evil", "victim@example.com"), nil)
			if err != nil {
				t.Fatal(err)
			}
			victimID := attacker.User.ID
			if attacker.User.EmailVerified {
				t.Fatal("an unverified provider address made a verified account")
			}

			owner := proof.prove(t, env, victimID, "victim@example.com")

			if got := identityProviders(t, env, victimID); len(got) != 0 {
				t.Fatalf("identities after the proof: %v", got)
			}
			if n := unlinkedRows(t, env, victimID, "corp"); n != 1 {
				t.Fatalf("%d identity_unlinked rows naming corp, want 1", n)
			}
			wantCode(t, refreshErr(env, attacker.RefreshToken), auth.CodeInvalidRefreshToken)
			again, err := env.Service.SignInWithIdentity(bg, corpUnverified("evil", "victim@example.com"), nil)
			if err == nil && again.User.ID == victimID {
				t.Fatal("the attacker's identity still signs in to the victim's account")
			}
			wantCode(t, err, auth.CodeAccountExists)
			if owner != nil {
				mustRefresh(t, env, owner.RefreshToken)
			}
		})
	}

	t.Run("an identity the provider verified for this address stays", func(t *testing.T) {
		env := providerEnv(t)
		p := env.Signup(t, "a@example.com", "correct horse") // unverified
		if _, err := env.Service.IssueAuthCode(bg, google("g-1", "a@example.com", true), linkToken(t, startLink(t, env, p, "google")), ""); err != nil {
			t.Fatal(err)
		}
		// Verified by its provider, but for another address: it proves
		// nothing about this one.
		if _, err := env.Service.IssueAuthCode(bg, auth.ExternalIdentity{Provider: "corp", Subject: "c-1", Email: "other@example.com", EmailVerified: true},
			linkToken(t, startLink(t, env, p, "corp")), ""); err != nil {
			t.Fatal(err)
		}
		proofs[0].prove(t, env, p.User.ID, "a@example.com")
		if got := identityProviders(t, env, p.User.ID); len(got) != 1 || got[0] != "google" {
			t.Fatalf("identities after the proof: %v, want [google]", got)
		}
		if _, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil); err != nil {
			t.Fatalf("the verified identity no longer signs in: %v", err)
		}
	})
}

// Pre-registration: a squatter signs up with the victim's address and a
// password and keeps the session. The victim's first emailed sign-in
// (link or code) proves the address and signs the owner in: the
// squatter's password and passkey are removed and the squatter's sessions
// end. A
// verification link alone keeps the password (the sign-up's own owner
// clicks it), and a later proof changes nothing.
func TestAFirstEmailSignInClearsAPasswordSetBeforeTheAddressWasProven(t *testing.T) {
	for _, proof := range proofs[2:] {
		t.Run(proof.name, func(t *testing.T) {
			env := providerEnv(t)
			squatter := env.Signup(t, "victim@example.com", "squatter's password")
			key := registerPasskey(t, env, squatter)
			owner := proof.prove(t, env, squatter.User.ID, "victim@example.com")
			_, err := passkeySignIn(env, key, nil)
			wantCode(t, err, auth.CodeInvalidPasskey)
			_, err = env.Service.Login(bg, "victim@example.com", "squatter's password", nil)
			wantCode(t, err, auth.CodeInvalidCredentials)
			wantCode(t, refreshErr(env, squatter.RefreshToken), auth.CodeInvalidRefreshToken)
			mustRefresh(t, env, owner.RefreshToken)
			var cleared int
			if err := env.Store.DB().Get(&cleared, `SELECT count(*) FROM auth.audit_events WHERE event = 'email_verified'
				AND user_id = $1 AND (detail->>'password_cleared')::boolean`, squatter.User.ID); err != nil || cleared != 1 {
				t.Fatalf("%d email_verified rows saying the password was cleared (%v), want 1", cleared, err)
			}
		})
	}
	t.Run("a verification link keeps the password", func(t *testing.T) {
		env := providerEnv(t)
		p := env.Signup(t, "a@example.com", "correct horse")
		proofs[0].prove(t, env, p.User.ID, "a@example.com")
		mustLogin(t, env, "a@example.com", "correct horse")
		mustRefresh(t, env, p.RefreshToken) // nothing was removed: no session ended
		// Once proven, an emailed sign-in takes nothing away.
		proofs[2].prove(t, env, p.User.ID, "a@example.com")
		mustLogin(t, env, "a@example.com", "correct horse")
	})
}

// A sign-in link mailed to an address without an account, while someone
// makes the account meanwhile with an unverified provider identity: the
// link signs in to that account and proves the address, which removes the
// identity.
func TestAFirstEmailSignInMeetingAnAccountAProviderMadeMeanwhile(t *testing.T) {
	env := providerEnv(t)
	tok := issue(t, env, auth.OneTimeRequest{Purpose: onetime.SignIn, Email: "victim@example.com"})
	attacker, err := env.Service.SignInWithIdentity(bg, corpUnverified("evil", "victim@example.com"), nil)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := env.Service.SignInWithEmailToken(bg, tok.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	if owner.User.ID != attacker.User.ID || !owner.User.EmailVerified {
		t.Fatalf("owner %+v", owner.User)
	}
	if got := identityProviders(t, env, owner.User.ID); len(got) != 0 {
		t.Fatalf("identities after the proof: %v", got)
	}
	wantCode(t, refreshErr(env, attacker.RefreshToken), auth.CodeInvalidRefreshToken)
}

// A squatter who started linking a provider before the owner's proof
// cannot finish after it: the proof ended every session before it, and
// the link (made by one of them) dies with them.
func TestALinkStartedBeforeTheProofDiesWithIt(t *testing.T) {
	env := providerEnv(t)
	squatter := env.Signup(t, "victim@example.com", "squatter's password")
	link := linkToken(t, startLink(t, env, squatter, "corp"))
	env.Clock.Advance(time.Second)
	proofs[2].prove(t, env, squatter.User.ID, "victim@example.com")
	_, err := env.Service.IssueAuthCode(bg, corpUnverified("evil", "evil@example.com"), link, "")
	wantCode(t, err, auth.CodeInvalidAuthCode)
	if got := identityProviders(t, env, squatter.User.ID); len(got) != 0 {
		t.Fatalf("identities: %v", got)
	}
}

// The proof and a link racing: both wait for the test's lock on the user's
// row and are granted it in the order they asked (Postgres queues row-lock
// waiters), so each order is run. Link first: the proof sees the new
// identity and removes it. Proof first: the link finds the cut-off the
// proof made after the link was asked for, and is refused. Either way no
// identity the proof would have removed is left on the proven account.
func TestAProofRacingALinkLeavesNoUnverifiedIdentity(t *testing.T) {
	for _, linkFirst := range []bool{true, false} {
		name := "the proof first"
		if linkFirst {
			name = "the link first"
		}
		t.Run(name, func(t *testing.T) {
			env := providerEnv(t)
			squatter := env.Signup(t, "victim@example.com", "squatter's password")
			link := linkToken(t, startLink(t, env, squatter, "corp"))
			env.Clock.Advance(time.Second)
			signIn := issue(t, env, auth.OneTimeRequest{Purpose: onetime.SignIn, UserID: squatter.User.ID, Email: "victim@example.com"})
			end := heldRow(t, env, `SELECT 1 FROM auth.users WHERE id = $1 FOR UPDATE`, squatter.User.ID)
			var wg sync.WaitGroup
			var proofErr, linkErr error
			proof := func() {
				defer wg.Done()
				_, proofErr = env.Service.SignInWithEmailToken(bg, signIn.Token, nil)
			}
			linking := func() {
				defer wg.Done()
				_, linkErr = env.Service.IssueAuthCode(bg, corpUnverified("evil", "evil@example.com"), link, "")
			}
			first, second := proof, linking
			if linkFirst {
				first, second = linking, proof
			}
			wg.Add(2)
			go first()
			waitForLockWaiters(t, env, 1, "the first")
			go second()
			waitForLockWaiters(t, env, 2, "the second")
			end(true)
			wg.Wait()
			if proofErr != nil {
				t.Fatal(proofErr)
			}
			if linkFirst && linkErr != nil || !linkFirst && auth.CodeOf(linkErr) != auth.CodeInvalidAuthCode {
				t.Fatalf("link: %v", linkErr)
			}
			if got := identityProviders(t, env, squatter.User.ID); len(got) != 0 {
				t.Fatalf("identities left on the proven account: %v", got)
			}
			if linkFirst && unlinkedRows(t, env, squatter.User.ID, "corp") != 1 {
				t.Fatal("the proof did not remove the identity linked just before it")
			}
		})
	}
}

// A code the attacker's identity got from the browser flow just before the
// proof is worth nothing after it: the proof cut the user off, and a code
// made before a cut-off dies with the sessions.
func TestAnAuthCodeMadeBeforeTheProofDiesWithIt(t *testing.T) {
	env := providerEnv(t)
	attacker, err := env.Service.SignInWithIdentity(bg, corpUnverified("evil", "victim@example.com"), nil)
	if err != nil {
		t.Fatal(err)
	}
	code, err := env.Service.IssueAuthCode(bg, corpUnverified("evil", "victim@example.com"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Second)
	proofs[0].prove(t, env, attacker.User.ID, "victim@example.com")
	_, err = env.Service.ExchangeAuthCode(bg, code, nil, nil)
	wantCode(t, err, auth.CodeInvalidCredentials)
}
