package auth_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/mfa"
)

// totpCode is the code of secret at the env's clock, offset by steps.
func totpCode(t *testing.T, env *authtest.Env, secret string, steps int64) string {
	t.Helper()
	code, err := mfa.TOTPCode(secret, mfa.TOTPStep(env.Clock.Now())+steps)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// nextStep moves the clock to the start of the next TOTP step.
func nextStep(env *authtest.Env) {
	now := env.Clock.Now()
	env.Clock.Set(time.Unix((mfa.TOTPStep(now)+1)*mfa.TOTPPeriod, 0).UTC())
}

// enableTOTP turns TOTP on for p's user and returns the secret and the
// recovery codes; the clock ends on a fresh step.
func enableTOTP(t *testing.T, env *authtest.Env, p *auth.AuthPayload) (string, []string) {
	t.Helper()
	e, err := env.Service.EnrollTOTP(authtest.As(p))
	if err != nil {
		t.Fatal(err)
	}
	codes, err := env.Service.ConfirmTOTP(authtest.As(p), totpCode(t, env, e.Secret, 0))
	if err != nil {
		t.Fatal(err)
	}
	nextStep(env)
	return e.Secret, codes
}

func TestTOTPEnrolmentConfirmsWithItsFirstCodeAndShowsTenRecoveryCodes(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	ctx := authtest.As(p)
	e, err := env.Service.EnrollTOTP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Secret) != 32 || e.QRCodePNG == "" || e.OtpauthURL == "" {
		t.Fatalf("enrolment %+v", e)
	}
	if on, _, _ := env.Service.UserFactors(bg, p.User.ID); on {
		t.Fatal("TOTP is on before its first code")
	}
	// A wrong code leaves it waiting.
	_, err = env.Service.ConfirmTOTP(ctx, "000000")
	wantCode(t, err, auth.CodeInvalidMFACode)
	codes, err := env.Service.ConfirmTOTP(ctx, totpCode(t, env, e.Secret, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 || len(slices.Compact(slices.Sorted(slices.Values(codes)))) != 10 {
		t.Fatalf("recovery codes %v", codes)
	}
	if on, _, _ := env.Service.UserFactors(bg, p.User.ID); !on {
		t.Fatal("TOTP is not on after its first code")
	}
	// The secret is sealed in the database, never readable there.
	var sealed []byte
	if err := env.Store.DB().QueryRow(`SELECT secret_sealed FROM auth.user_totp`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if slices.Contains([]string{string(sealed)}, e.Secret) || containsBytes(sealed, []byte(e.Secret)) {
		t.Fatal("the TOTP secret is stored readable")
	}
	// A second enrolment is refused while TOTP is on.
	_, err = env.Service.EnrollTOTP(ctx)
	wantCode(t, err, auth.CodeForbidden)
}

func containsBytes(haystack, needle []byte) bool {
	for i := 0; i+len(needle) <= len(haystack); i++ {
		if string(haystack[i:i+len(needle)]) == string(needle) {
			return true
		}
	}
	return false
}

func TestDisableTOTPNeedsACurrentCodeEndsOtherSessionsKeepsTheCallers(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	other := mustLogin(t, env, "a@example.com", "correct horse")
	secret, _ := enableTOTP(t, env, p)

	// A code of a step before the last accepted one is refused.
	_, err := env.Service.DisableTOTP(authtest.As(p), totpCode(t, env, secret, -1))
	wantCode(t, err, auth.CodeInvalidMFACode)
	if ok, err := env.Service.DisableTOTP(authtest.As(p), totpCode(t, env, secret, 0)); err != nil || !ok {
		t.Fatalf("disable: %v %v", ok, err)
	}
	if on, _, _ := env.Service.UserFactors(bg, p.User.ID); on {
		t.Fatal("TOTP still on")
	}
	wantCode(t, refreshErr(env, other.RefreshToken), auth.CodeInvalidRefreshToken)
	mustRefresh(t, env, p.RefreshToken)
	trail := auditKinds(t, env, "a@example.com")
	if !slices.Contains(trail, string(auth.EventMFADisabled)) || !slices.Contains(trail, string(auth.EventMFAEnabled)) {
		t.Fatalf("audit trail %v", trail)
	}
}

func TestRecoveryCodesWorkOnceAndRegenerationReplacesThem(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	_, codes := enableTOTP(t, env, p)
	fresh, err := env.Service.RegenerateRecoveryCodes(authtest.As(p), " "+codes[0]+" ")
	if err != nil || len(fresh) != 10 {
		t.Fatalf("regenerate: %v %v", fresh, err)
	}
	// The code that regenerated is used; the rest of the old set is gone.
	for _, old := range codes[:2] {
		_, err = env.Service.RegenerateRecoveryCodes(authtest.As(p), old)
		wantCode(t, err, auth.CodeInvalidMFACode)
	}
	if !slices.Contains(auditKinds(t, env, "a@example.com"), string(auth.EventRecoveryCodesRegenerated)) {
		t.Fatal("regeneration not audited")
	}
	// A new code works once, typed loosely (upper case, no dash).
	loose := strings.ToUpper(strings.ReplaceAll(fresh[3], "-", ""))
	if _, err := env.Service.DisableTOTP(authtest.As(p), loose); err != nil {
		t.Fatal(err)
	}
	// Once TOTP is off, its recovery codes are gone with it.
	_, err = env.Service.DisableTOTP(authtest.As(p), fresh[4])
	wantCode(t, err, auth.CodeBadUserInput)
}

func TestOneRecoveryCodeRacingWinsOnce(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	_, codes := enableTOTP(t, env, p)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := env.Service.RegenerateRecoveryCodes(authtest.As(p), codes[5])
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won++
			} else if c := auth.CodeOf(err); c != auth.CodeInvalidMFACode && c != auth.CodeRateLimited {
				t.Errorf("a losing use answered %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d uses of one recovery code won", won)
	}
}

func TestOneTOTPCodeRacingWinsOnce(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	// Eight sessions of the user race to turn TOTP off with one code.
	sessions := make([]*auth.AuthPayload, 8)
	for i := range sessions {
		sessions[i] = mustLogin(t, env, "a@example.com", "correct horse")
	}
	secret, _ := enableTOTP(t, env, p)
	code := totpCode(t, env, secret, 0)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  int
		errs []error
	)
	for _, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := env.Service.DisableTOTP(authtest.As(s), code)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won++
			} else {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d uses of one code won; errors %v", won, errs)
	}
	for _, err := range errs {
		// RATE_LIMITED too: the losers' spent code counts as a wrong one, and
		// under load enough of them fail before the last ones reserve.
		if c := auth.CodeOf(err); c != auth.CodeInvalidMFACode && c != auth.CodeBadUserInput && c != auth.CodeUnauthenticated && c != auth.CodeRateLimited {
			t.Fatalf("a losing use answered %v", err)
		}
	}
}

func TestWrongTOTPCodesCountInTheLoginThrottle(t *testing.T) {
	cfg := authtest.DefaultConfig()
	cfg.Throttle = auth.DefaultThrottle()
	cfg.Throttle.FreeFailures = 3
	env := authtest.New(t, cfg)
	p := env.Signup(t, "a@example.com", "correct horse")
	secret, _ := enableTOTP(t, env, p)
	for i := 0; ; i++ {
		_, err := env.Service.DisableTOTP(authtest.As(p), "000000")
		if auth.CodeOf(err) == auth.CodeRateLimited {
			if i < 3 {
				t.Fatalf("held back after %d wrong codes, before the free ones were used", i)
			}
			break
		}
		wantCode(t, err, auth.CodeInvalidMFACode)
		if i > 5 {
			t.Fatal("wrong codes are never held back")
		}
	}
	_, err := env.Service.DisableTOTP(authtest.As(p), totpCode(t, env, secret, 0))
	wantCode(t, err, auth.CodeRateLimited)
	// The password login of the account is held back too.
	_, err = env.Service.Login(bg, "a@example.com", "correct horse", nil)
	wantCode(t, err, auth.CodeRateLimited)
}

func TestAccessTokensCarryAMRAndTheLevelThroughRefresh(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	check := func(what, tok string, amr []string, level int) {
		t.Helper()
		v, err := env.Issuer.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(v.AMR, amr) || v.AuthLevel != level {
			t.Fatalf("%s: amr %v level %d, want %v %d", what, v.AMR, v.AuthLevel, amr, level)
		}
	}
	check("signup", p.AccessToken, []string{"pwd"}, 1)
	check("refresh", mustRefresh(t, env, p.RefreshToken).AccessToken, []string{"pwd"}, 1)
	l := mustLogin(t, env, "a@example.com", "correct horse")
	check("login", l.AccessToken, []string{"pwd"}, 1)
	hs, err := env.Service.HasuraWebhookSession(bg, auth.WebhookRequest{AccessToken: l.AccessToken, TokenPresented: true}, auth.WebhookPolicy{MaxCache: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if hs.Variables["X-Hasura-Auth-Level"] != "1" {
		t.Fatalf("webhook variables %v", hs.Variables)
	}
}

func TestRequiredRolesAppearOnlyAtLevelTwo(t *testing.T) {
	cfg := authtest.DefaultConfig()
	cfg.MFA.RequiredRoles = []string{"admin"}
	env := authtest.New(t, cfg)
	env.Signup(t, "a@example.com", "correct horse")
	env.Signup(t, "b@example.com", "correct horse")
	if err := env.Service.SetUserRoles(bg, "a@example.com", "admin", []string{"admin", "user"}); err != nil {
		t.Fatal(err)
	}
	if err := env.Service.SetUserRoles(bg, "b@example.com", "admin", []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		email       string
		wantDefault string
		wantRoles   []string
	}{
		{"a@example.com", "user", []string{"user"}},
		{"b@example.com", auth.MFAPendingRole, []string{auth.MFAPendingRole}},
	} {
		l := mustLogin(t, env, c.email, "correct horse")
		v, err := env.Issuer.Verify(l.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if v.DefaultRole != c.wantDefault || !slices.Equal(v.AllowedRoles, c.wantRoles) {
			t.Fatalf("%s: level-1 token roles %s %v, want %s %v", c.email, v.DefaultRole, v.AllowedRoles, c.wantDefault, c.wantRoles)
		}
		// The pending user can still reach its own account, to add a factor.
		if _, err := env.Service.EnrollTOTP(authtest.As(l)); err != nil {
			t.Fatalf("%s: enrol: %v", c.email, err)
		}
	}
}

func mustLogin(t *testing.T, env *authtest.Env, email, pw string) *auth.AuthPayload {
	t.Helper()
	p, err := env.Service.Login(bg, email, pw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func refreshErr(env *authtest.Env, tok string) error {
	_, err := env.Service.Refresh(context.Background(), tok)
	return err
}

func auditKinds(t *testing.T, env *authtest.Env, email string) []string {
	t.Helper()
	events, err := env.Service.AuditTrail(bg, email, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		out = append(out, string(e.Event))
	}
	return out
}
