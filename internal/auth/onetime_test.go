package auth_test

import (
	"crypto/rand"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/onetime"
)

func issue(t *testing.T, env *authtest.Env, r auth.OneTimeRequest) auth.IssuedOneTimeToken {
	t.Helper()
	if r.TTL == 0 {
		r.TTL = time.Hour
	}
	tok, err := env.Service.IssueOneTimeToken(bg, r)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAOneTimeTokenIsUsedOnceForItsPurposeUntilItExpires(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	u := env.Signup(t, "owner@example.com", "correct horse").User
	data := json.RawMessage(`{"redirect": "https://app.example.com/"}`)
	tok := issue(t, env, auth.OneTimeRequest{Purpose: onetime.Reset, UserID: u.ID, Email: u.Email, Data: data})

	// Another purpose: refused, and the token is still good for its own.
	for _, p := range []onetime.Purpose{onetime.Verify, onetime.SignIn, onetime.MFATicket} {
		_, err := env.Service.ConsumeOneTimeToken(bg, p, tok.Token)
		want := auth.CodeInvalidEmailToken
		if p == onetime.MFATicket {
			want = auth.CodeInvalidMFACode // a flow with its own code (issue 16)
		}
		wantCode(t, err, want)
	}
	if _, err := env.Service.PeekOneTimeToken(bg, onetime.Reset, tok.Token); err != nil {
		t.Fatalf("peek: %v", err)
	}
	got, err := env.Service.ConsumeOneTimeToken(from("198.51.100.7"), onetime.Reset, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != u.ID || got.Email != u.Email || got.Purpose != onetime.Reset || !got.ExpiresAt.Equal(authtest.Start.Add(time.Hour)) {
		t.Errorf("consumed %+v", got)
	}
	var d map[string]string
	if err := json.Unmarshal(got.Data, &d); err != nil || d["redirect"] != "https://app.example.com/" {
		t.Errorf("data %s", got.Data)
	}
	// Used: every later use, and a peek, reads like an unknown token.
	for _, use := range []func() error{
		func() error { _, err := env.Service.ConsumeOneTimeToken(bg, onetime.Reset, tok.Token); return err },
		func() error { _, err := env.Service.PeekOneTimeToken(bg, onetime.Reset, tok.Token); return err },
	} {
		wantCode(t, use(), auth.CodeInvalidEmailToken)
	}
	// Unknown and malformed tokens: the same answer.
	other, _ := onetime.NewToken(randReader{})
	for _, bad := range []string{other, "", "not a token", tok.Token[:20]} {
		_, err := env.Service.ConsumeOneTimeToken(bg, onetime.Reset, bad)
		wantCode(t, err, auth.CodeInvalidEmailToken)
	}
	// The use is in the audit trail, with the purpose and the client, never the token.
	events, err := env.Service.AuditTrail(bg, u.Email, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(events, func(e auth.AuditEvent) bool { return e.Event == auth.EventOneTimeTokenUsed })
	if i < 0 || events[i].Detail["purpose"] != "reset" || events[i].IP != "198.51.100.7" || events[i].UserID != u.ID {
		t.Errorf("audit trail %+v", events)
	}

	// Expiry, by the fake clock: valid up to the last instant, then dead.
	late := issue(t, env, auth.OneTimeRequest{Purpose: onetime.Verify, UserID: u.ID, Email: u.Email, TTL: time.Minute})
	env.Clock.Advance(time.Minute - time.Microsecond)
	if _, err := env.Service.PeekOneTimeToken(bg, onetime.Verify, late.Token); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	env.Clock.Advance(time.Microsecond)
	_, err = env.Service.ConsumeOneTimeToken(bg, onetime.Verify, late.Token)
	wantCode(t, err, auth.CodeInvalidEmailToken)
}

// randReader is crypto/rand for onetime.NewToken in table literals.
type randReader struct{}

func (randReader) Read(b []byte) (int, error) { return cryptoRand(b) }

func TestRacingUsesOfOneTokenHaveOneWinner(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	u := env.Signup(t, "racer@example.com", "correct horse").User
	for round := range 5 {
		tok := issue(t, env, auth.OneTimeRequest{Purpose: onetime.SignIn, UserID: u.ID, Email: u.Email})
		const n = 16
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			won   = make(chan string, n)
			lost  = make(chan error, n)
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got, err := env.Service.ConsumeOneTimeToken(bg, onetime.SignIn, tok.Token)
				if err != nil {
					lost <- err
					return
				}
				won <- got.ID
			}()
		}
		close(start)
		wg.Wait()
		close(won)
		close(lost)
		if len(won) != 1 {
			t.Errorf("round %d: %d uses won", round, len(won))
		}
		for err := range lost {
			if auth.CodeOf(err) != auth.CodeInvalidEmailToken {
				t.Errorf("round %d: a losing use answered %v", round, err)
			}
		}
	}
}

func TestANewerTokenOfAnExclusivePurposeKillsTheOlder(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	u := env.Signup(t, "twice@example.com", "correct horse").User
	older := issue(t, env, auth.OneTimeRequest{Purpose: onetime.Reset, UserID: u.ID, Email: u.Email})
	verify := issue(t, env, auth.OneTimeRequest{Purpose: onetime.Verify, UserID: u.ID, Email: u.Email})
	newer := issue(t, env, auth.OneTimeRequest{Purpose: onetime.Reset, UserID: u.ID, Email: u.Email})
	_, err := env.Service.ConsumeOneTimeToken(bg, onetime.Reset, older.Token)
	wantCode(t, err, auth.CodeInvalidEmailToken)
	if _, err := env.Service.ConsumeOneTimeToken(bg, onetime.Verify, verify.Token); err != nil {
		t.Errorf("another purpose's token died: %v", err)
	}
	if _, err := env.Service.ConsumeOneTimeToken(bg, onetime.Reset, newer.Token); err != nil {
		t.Errorf("the newer token: %v", err)
	}
	// An address without an account is its own subject.
	a := issue(t, env, auth.OneTimeRequest{Purpose: onetime.SignIn, Email: "new@example.com"})
	b := issue(t, env, auth.OneTimeRequest{Purpose: onetime.SignIn, Email: "new@example.com"})
	_, err = env.Service.ConsumeOneTimeToken(bg, onetime.SignIn, a.Token)
	wantCode(t, err, auth.CodeInvalidEmailToken)
	if got, err := env.Service.ConsumeOneTimeToken(bg, onetime.SignIn, b.Token); err != nil || got.UserID != "" {
		t.Errorf("the newer sign-in token of an address: %+v, %v", got, err)
	}
	// Not exclusive: two MFA tickets of one user live side by side.
	t1 := issue(t, env, auth.OneTimeRequest{Purpose: onetime.MFATicket, UserID: u.ID, TTL: 5 * time.Minute})
	t2 := issue(t, env, auth.OneTimeRequest{Purpose: onetime.MFATicket, UserID: u.ID, TTL: 5 * time.Minute})
	for _, tk := range []auth.IssuedOneTimeToken{t1, t2} {
		if _, err := env.Service.ConsumeOneTimeToken(bg, onetime.MFATicket, tk.Token); err != nil {
			t.Errorf("an MFA ticket died: %v", err)
		}
	}
}

func TestEveryWrongCodeCountsAndTheFifthKillsTheCode(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	u := env.Signup(t, "coder@example.com", "correct horse").User
	tok := issue(t, env, auth.OneTimeRequest{Purpose: onetime.SignIn, UserID: u.ID, Email: u.Email, WithCode: true})
	if !onetime.WellFormedCode(tok.Code) {
		t.Fatalf("code %q", tok.Code)
	}
	wrong := "000000"
	if tok.Code == wrong {
		wrong = "111111"
	}
	// The right code for another purpose or address does not match, and counts.
	_, err := env.Service.ConsumeOneTimeCode(bg, onetime.Verify, u.Email, tok.Code)
	wantCode(t, err, auth.CodeInvalidEmailToken)
	_, err = env.Service.ConsumeOneTimeCode(bg, onetime.SignIn, "other@example.com", tok.Code)
	wantCode(t, err, auth.CodeInvalidEmailToken)
	for range 4 {
		_, err := env.Service.ConsumeOneTimeCode(bg, onetime.SignIn, u.Email, wrong)
		wantCode(t, err, auth.CodeInvalidEmailToken)
	}
	// Four wrong codes: the fifth try, right, still works (the address is
	// matched case-insensitively, as everywhere).
	got, err := env.Service.ConsumeOneTimeCode(bg, onetime.SignIn, "Coder@Example.com", tok.Code)
	if err != nil || got.UserID != u.ID {
		t.Fatalf("the right code on the fifth try: %+v, %v", got, err)
	}
	// Used with its code: the link is dead too.
	_, err = env.Service.ConsumeOneTimeToken(bg, onetime.SignIn, tok.Token)
	wantCode(t, err, auth.CodeInvalidEmailToken)

	// Five wrong codes: the right one is refused after them.
	tok = issue(t, env, auth.OneTimeRequest{Purpose: onetime.SignIn, UserID: u.ID, Email: u.Email, WithCode: true})
	for _, c := range []string{wrong, wrong, "12345", "abcdef", wrong} {
		_, err := env.Service.ConsumeOneTimeCode(bg, onetime.SignIn, u.Email, c)
		wantCode(t, err, auth.CodeInvalidEmailToken)
	}
	_, err = env.Service.ConsumeOneTimeCode(bg, onetime.SignIn, u.Email, tok.Code)
	wantCode(t, err, auth.CodeInvalidEmailToken)

	// Racing tries of the right code: one wins.
	tok = issue(t, env, auth.OneTimeRequest{Purpose: onetime.SignIn, UserID: u.ID, Email: u.Email, WithCode: true})
	var wg sync.WaitGroup
	wins := make(chan struct{}, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := env.Service.ConsumeOneTimeCode(bg, onetime.SignIn, u.Email, tok.Code); err == nil {
				wins <- struct{}{}
			}
		}()
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Errorf("%d racing right codes won", len(wins))
	}
}

func TestTheMailThrottleHoldsBackAndLeavesTheOlderTokenValid(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	u := env.Signup(t, "busy@example.com", "correct horse").User
	r := auth.OneTimeRequest{Purpose: onetime.Reset, UserID: u.ID, Email: u.Email, TTL: time.Hour, Throttle: &auth.DefaultMailThrottle}
	first := issue(t, env, r)
	env.Clock.Advance(59 * time.Second)
	if _, err := env.Service.IssueOneTimeToken(bg, r); auth.CodeOf(err) != auth.CodeRateLimited {
		t.Fatalf("a second request within the minute: %v", err)
	}
	if _, err := env.Service.PeekOneTimeToken(bg, onetime.Reset, first.Token); err != nil {
		t.Errorf("the throttled request killed the older token: %v", err)
	}
	// Another purpose has its own count.
	issue(t, env, auth.OneTimeRequest{Purpose: onetime.Verify, UserID: u.ID, Email: u.Email, Throttle: &auth.DefaultMailThrottle})
	// 10 a day: the 11th within the day is held back however far apart.
	for i := 2; i <= 10; i++ {
		env.Clock.Advance(time.Minute)
		issue(t, env, r)
	}
	env.Clock.Advance(time.Hour)
	if _, err := env.Service.IssueOneTimeToken(bg, r); auth.CodeOf(err) != auth.CodeRateLimited {
		t.Fatalf("an 11th request within the day: %v", err)
	}
	env.Clock.Advance(24 * time.Hour)
	issue(t, env, r)
}

func TestAVerifiedSignInOpensASessionOnlyForAUserInGoodStanding(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "good@example.com", "correct horse")
	v := auth.VerifiedSignIn{Method: "email_link", AMR: []string{"email"}, VerifyEmail: "good@example.com"}
	got, err := env.Service.SignInVerified(from("192.0.2.5"), p.User.ID, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.User.ID != p.User.ID || got.SessionID == "" || got.RefreshToken == "" {
		t.Fatalf("payload %+v", got)
	}
	mustRefresh(t, env, got.RefreshToken)
	var verified bool
	if err := env.Store.DB().Get(&verified, `SELECT email_verified_at IS NOT NULL FROM auth.users WHERE id = $1`, p.User.ID); err != nil || !verified {
		t.Errorf("the address is not marked verified (%v)", err)
	}
	events, _ := env.Service.AuditTrail(bg, "good@example.com", time.Time{})
	i := slices.IndexFunc(events, func(e auth.AuditEvent) bool { return e.Event == auth.EventLogin })
	if i < 0 || events[i].Detail["method"] != "email_link" || events[i].SessionID != got.SessionID {
		t.Errorf("login audit %+v", events)
	}

	// A user who is gone, disabled or banned gets nothing.
	_, err = env.Service.SignInVerified(bg, "00000000-0000-0000-0000-000000000000", v, nil)
	wantCode(t, err, auth.CodeInvalidCredentials)
	if err := env.Service.SetUserDisabled(bg, "good@example.com", true); err != nil {
		t.Fatal(err)
	}
	_, err = env.Service.SignInVerified(bg, p.User.ID, v, nil)
	wantCode(t, err, auth.CodeUserDisabled)
}

// A verified sign-in that read its user before one of the revoking events
// and opens its session after it must not survive it: the rule of issue 11
// item 1, for every sign-in without a password.
func TestAVerifiedSignInRacingARevocationLeavesNoLiveSession(t *testing.T) {
	for _, tc := range revokingEvents {
		t.Run(tc.name, func(t *testing.T) {
			env := authtest.New(t, auth.Config{})
			victim := env.Signup(t, "victim@example.com", "correct horse")
			paused := &pausingStore{Store: env.Store, reached: make(chan struct{}), release: make(chan struct{})}
			racer := auth.New(paused, env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, randReader{}, env.Config)
			done := make(chan error, 1)
			go func() {
				_, err := racer.SignInVerified(bg, victim.User.ID, auth.VerifiedSignIn{Method: "email_link"}, nil)
				done <- err
			}()
			<-paused.reached
			alive := tc.event(t, env, victim)
			close(paused.release)
			if err := <-done; err == nil {
				t.Fatal("the sign-in overtaken by the event opened a session")
			}
			if got := liveSessions(t, env, victim.User.ID); !slices.Equal(got, alive) {
				t.Errorf("live sessions %v, want %v", got, alive)
			}
		})
	}
}

func cryptoRand(b []byte) (int, error) { return rand.Read(b) }

func TestThePurgeDeletesExpiredOneTimeTokens(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	u := env.Signup(t, "purged@example.com", "correct horse").User
	issue(t, env, auth.OneTimeRequest{Purpose: onetime.Verify, UserID: u.ID, Email: u.Email, TTL: time.Minute})
	live := issue(t, env, auth.OneTimeRequest{Purpose: onetime.Reset, UserID: u.ID, Email: u.Email, TTL: time.Hour})
	env.Clock.Advance(2 * time.Minute)
	res, err := env.Service.Purge(bg)
	if err != nil {
		t.Fatal(err)
	}
	if res.OneTimeTokens != 1 {
		t.Errorf("purged %d one-time tokens, want 1", res.OneTimeTokens)
	}
	if _, err := env.Service.ConsumeOneTimeToken(bg, onetime.Reset, live.Token); err != nil {
		t.Errorf("the live token: %v", err)
	}
}

func TestATokenWithoutACodeStoresNoCodeHash(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	u := env.Signup(t, "nocode@example.com", "correct horse").User
	issue(t, env, auth.OneTimeRequest{Purpose: onetime.SignIn, UserID: u.ID, Email: u.Email})
	var n int
	if err := env.Store.DB().Get(&n, `SELECT count(*) FROM auth.one_time_tokens WHERE code_hash IS NULL AND length(token_hash) = 32`); err != nil || n != 1 {
		t.Fatalf("%d tokens with a hash and no code hash (%v)", n, err)
	}
}
