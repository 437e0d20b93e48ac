package auth_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// mfaTicket signs in with a password and returns the MFA_REQUIRED ticket.
func mfaTicket(t *testing.T, env *authtest.Env, email, pw string) string {
	t.Helper()
	_, err := env.Service.Login(bg, email, pw, nil)
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Code != auth.CodeMFARequired || ae.Ticket == "" ||
		!slices.Equal(ae.Methods, []string{"totp", "recovery_code"}) {
		t.Fatalf("login of a TOTP user: %v (%+v), want MFA_REQUIRED with a ticket", err, ae)
	}
	return ae.Ticket
}

func wantReason(t *testing.T, err error, code auth.Code, reason string) {
	t.Helper()
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Code != code || ae.Reason != reason {
		t.Fatalf("got %v, want %s (reason %s)", err, code, reason)
	}
}

func completeWithCode(env *authtest.Env, ticket, code string) (*auth.AuthPayload, error) {
	return env.Service.CompleteMFA(bg, ticket, &code, nil, nil)
}

func completeWithRecovery(env *authtest.Env, ticket, code string) (*auth.AuthPayload, error) {
	return env.Service.CompleteMFA(bg, ticket, nil, &code, nil)
}

func TestPasswordLoginOfATOTPUserNeedsTheSecondStep(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	secret, _ := enableTOTP(t, env, p)
	ticket := mfaTicket(t, env, "a@example.com", "correct horse")

	// A wrong code does not use up the ticket.
	_, err := completeWithCode(env, ticket, "000000")
	wantReason(t, err, auth.CodeInvalidMFACode, "code")
	done, err := completeWithCode(env, ticket, totpCode(t, env, secret, 0))
	if err != nil {
		t.Fatal(err)
	}
	v, err := env.Issuer.Verify(done.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.AMR, []string{"pwd", "otp"}) || v.AuthLevel != 2 {
		t.Fatalf("amr %v level %d, want [pwd otp] 2", v.AMR, v.AuthLevel)
	}
	// A refresh keeps the level.
	v, _ = env.Issuer.Verify(mustRefresh(t, env, done.RefreshToken).AccessToken)
	if !slices.Equal(v.AMR, []string{"pwd", "otp"}) || v.AuthLevel != 2 {
		t.Fatalf("after refresh: amr %v level %d", v.AMR, v.AuthLevel)
	}
	hs, err := env.Service.HasuraWebhookSession(bg, auth.WebhookRequest{AccessToken: done.AccessToken, TokenPresented: true}, auth.WebhookPolicy{MaxCache: time.Minute})
	if err != nil || hs.Variables["X-Hasura-Auth-Level"] != "2" {
		t.Fatalf("webhook: %v %v", hs.Variables, err)
	}
	// The ticket is used: a replay is dead, whatever the code.
	nextStep(env)
	_, err = completeWithCode(env, ticket, totpCode(t, env, secret, 0))
	wantReason(t, err, auth.CodeInvalidMFACode, "ticket")
}

func TestTOTPCodeIsAcceptedOncePerStepAndNeverForAnEarlierStep(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	secret, _ := enableTOTP(t, env, p)
	code := totpCode(t, env, secret, 0)
	if _, err := completeWithCode(env, mfaTicket(t, env, "a@example.com", "correct horse"), code); err != nil {
		t.Fatal(err)
	}
	// The same code again, still inside its window: refused, and the ticket
	// lives on for a good code.
	ticket := mfaTicket(t, env, "a@example.com", "correct horse")
	_, err := completeWithCode(env, ticket, code)
	wantReason(t, err, auth.CodeInvalidMFACode, "code")
	// The previous step's code is inside the ±1 window, but older than the
	// one used: refused too.
	_, err = completeWithCode(env, ticket, totpCode(t, env, secret, -1))
	wantReason(t, err, auth.CodeInvalidMFACode, "code")
	env.Clock.Advance(30 * time.Second)
	if _, err := completeWithCode(env, ticket, totpCode(t, env, secret, 0)); err != nil {
		t.Fatalf("the next step's code: %v", err)
	}
}

func TestRecoveryCodeFinishesASignInOnceAtLevelTwo(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	_, codes := enableTOTP(t, env, p)
	done, err := completeWithRecovery(env, mfaTicket(t, env, "a@example.com", "correct horse"), codes[0])
	if err != nil {
		t.Fatal(err)
	}
	v, _ := env.Issuer.Verify(done.AccessToken)
	if !slices.Equal(v.AMR, []string{"pwd", "rec"}) || v.AuthLevel != 2 {
		t.Fatalf("amr %v level %d", v.AMR, v.AuthLevel)
	}
	_, err = completeWithRecovery(env, mfaTicket(t, env, "a@example.com", "correct horse"), codes[0])
	wantReason(t, err, auth.CodeInvalidMFACode, "code")
}

func TestMFATicketAttacks(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	a := env.Signup(t, "a@example.com", "correct horse")
	b := env.Signup(t, "b@example.com", "battery staple")
	secretA, _ := enableTOTP(t, env, a)
	secretB, codesB := enableTOTP(t, env, b)

	t.Run("a ticket of another user takes only that user's codes", func(t *testing.T) {
		ticketA := mfaTicket(t, env, "a@example.com", "correct horse")
		_, err := completeWithCode(env, ticketA, totpCode(t, env, secretB, 0))
		wantReason(t, err, auth.CodeInvalidMFACode, "code")
		_, err = completeWithRecovery(env, ticketA, codesB[0])
		wantReason(t, err, auth.CodeInvalidMFACode, "code")
		done, err := completeWithCode(env, ticketA, totpCode(t, env, secretA, 0))
		if err != nil || done.User.ID != a.User.ID {
			t.Fatalf("ticket of a: %v", err)
		}
		nextStep(env)
	})
	t.Run("an expired ticket", func(t *testing.T) {
		ticket := mfaTicket(t, env, "a@example.com", "correct horse")
		env.Clock.Advance(auth.MFATicketTTL + time.Second)
		_, err := completeWithCode(env, ticket, totpCode(t, env, secretA, 0))
		wantReason(t, err, auth.CodeInvalidMFACode, "ticket")
	})
	t.Run("a forged or malformed ticket", func(t *testing.T) {
		for _, forged := range []string{"", "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			_, err := completeWithCode(env, forged, totpCode(t, env, secretA, 0))
			wantReason(t, err, auth.CodeInvalidMFACode, "ticket")
		}
	})
	t.Run("a password change kills the ticket", func(t *testing.T) {
		ticket := mfaTicket(t, env, "a@example.com", "correct horse")
		if _, err := env.Service.SetUserPassword(bg, "a@example.com", "a new password"); err != nil {
			t.Fatal(err)
		}
		_, err := completeWithCode(env, ticket, totpCode(t, env, secretA, 0))
		wantReason(t, err, auth.CodeInvalidMFACode, "ticket")
	})
	t.Run("revoking every session kills the ticket", func(t *testing.T) {
		ticket := mfaTicket(t, env, "b@example.com", "battery staple")
		env.Clock.Advance(time.Second)
		if _, err := env.Service.RevokeAllSessions(authtest.As(b)); err != nil {
			t.Fatal(err)
		}
		_, err := completeWithCode(env, ticket, totpCode(t, env, secretB, 0))
		wantReason(t, err, auth.CodeInvalidMFACode, "ticket")
	})
	t.Run("neither or both codes", func(t *testing.T) {
		ticket := mfaTicket(t, env, "b@example.com", "battery staple")
		_, err := env.Service.CompleteMFA(bg, ticket, nil, nil, nil)
		wantCode(t, err, auth.CodeBadUserInput)
		c, r := "123456", codesB[1]
		_, err = env.Service.CompleteMFA(bg, ticket, &c, &r, nil)
		wantCode(t, err, auth.CodeBadUserInput)
	})
}

func TestOneTicketRacingWinsOnce(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	secret, codes := enableTOTP(t, env, p)
	ticket := mfaTicket(t, env, "a@example.com", "correct horse")
	// Eight racers, each with a different valid proof: the TOTP code and
	// seven recovery codes. Exactly one sign-in opens, and the losers'
	// recovery codes are not spent.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		won      int
		wonProof string
	)
	proofs := append([]string{totpCode(t, env, secret, 0)}, codes[:7]...)
	for i, proof := range proofs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i == 0 {
				_, err = completeWithCode(env, ticket, proof)
			} else {
				_, err = completeWithRecovery(env, ticket, proof)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
				wonProof = proof
			case auth.CodeOf(err) != auth.CodeInvalidMFACode && auth.CodeOf(err) != auth.CodeRateLimited:
				t.Errorf("a losing use answered %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d completions of one ticket won", won)
	}
	unspent := 0
	for _, c := range codes[:7] {
		if c == wonProof {
			continue
		}
		ticket := mfaTicket(t, env, "a@example.com", "correct horse")
		if _, err := completeWithRecovery(env, ticket, c); err == nil {
			unspent++
		}
	}
	if unspent != 6 && !(wonProof == proofs[0] && unspent == 7) {
		t.Fatalf("%d of the losers' recovery codes still work; the loser's codes must not be spent", unspent)
	}
}

func TestOneTOTPCodeOnTwoTicketsWinsOnce(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	secret, _ := enableTOTP(t, env, p)
	tickets := make([]string, 6)
	for i := range tickets {
		tickets[i] = mfaTicket(t, env, "a@example.com", "correct horse")
	}
	code := totpCode(t, env, secret, 0)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won int
	)
	for _, ticket := range tickets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := completeWithCode(env, ticket, code)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won++
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("one TOTP code opened %d sessions", won)
	}
}

func TestAPasswordChangeKeepsTheLevelOfTheSessionThatMadeIt(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	secret, _ := enableTOTP(t, env, p)
	strong, err := completeWithCode(env, mfaTicket(t, env, "a@example.com", "correct horse"), totpCode(t, env, secret, 0))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := env.Service.ChangePassword(authtest.As(strong), "correct horse", "a better horse")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := env.Issuer.Verify(fresh.AccessToken)
	if !slices.Equal(v.AMR, []string{"pwd", "otp"}) || v.AuthLevel != 2 {
		t.Fatalf("after a password change: amr %v level %d", v.AMR, v.AuthLevel)
	}
	// The old ticket-free way in stays closed: the new password needs the code too.
	mfaTicket(t, env, "a@example.com", "a better horse")
}
