package auth_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/pgtest"
	"authgate/internal/store"
)

// from returns a context of a request from ip.
func from(ip string) context.Context {
	return auth.WithClient(context.Background(), auth.Client{IP: ip, UserAgent: "test-agent/1.0"})
}

// retryAfter is the wait of a RATE_LIMITED error; it fails the test for
// any other outcome.
func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Code != auth.CodeRateLimited || ae.RetryAfter <= 0 {
		t.Fatalf("got %v, want RATE_LIMITED with a wait", err)
	}
	return ae.RetryAfter
}

// throttleRow is an account's or address's failure count, 0 when none.
func throttleRow(t *testing.T, env *authtest.Env, scope, subject string) int {
	t.Helper()
	var n int
	err := env.Store.DB().Get(&n, `SELECT COALESCE((SELECT failures FROM auth.login_throttle WHERE scope = $1 AND subject = $2), 0)`, scope, subject)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// countEvents counts the audit events of one kind.
func countEvents(t *testing.T, env *authtest.Env, event auth.AuditEventKind) int {
	t.Helper()
	var n int
	if err := env.Store.DB().Get(&n, `SELECT count(*) FROM auth.audit_events WHERE event = $1`, string(event)); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestThrottleBacksOffExponentiallyAndACorrectPasswordAfterTheWaitWorks(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	ctx := from("198.51.100.7")
	d := auth.DefaultThrottle()

	for i := 1; i <= d.FreeFailures+1; i++ {
		_, err := env.Service.Login(ctx, "a@example.com", "wrong horse", nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	// Each further failure doubles the wait, up to the maximum.
	for _, want := range []time.Duration{1, 2, 4, 8, 16, 30, 30} {
		want *= time.Second
		_, err := env.Service.Login(ctx, "a@example.com", "correct horse", nil)
		if got := retryAfter(t, err); got != want {
			t.Fatalf("wait %v, want %v", got, want)
		}
		env.Clock.Advance(want - time.Millisecond)
		_, err = env.Service.Login(ctx, "a@example.com", "correct horse", nil)
		retryAfter(t, err) // not a moment early, even with the right password
		env.Clock.Advance(time.Millisecond)
		_, err = env.Service.Login(ctx, "a@example.com", "wrong horse", nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	_, err := env.Service.Login(ctx, "a@example.com", "correct horse", nil)
	env.Clock.Advance(retryAfter(t, err))
	if _, err := env.Service.Login(ctx, "a@example.com", "correct horse", nil); err != nil {
		t.Fatalf("a correct password after the wait: %v", err)
	}
	// The success reset the account: its free failures are back.
	if n := throttleRow(t, env, "account", "a@example.com"); n != 0 {
		t.Fatalf("account count after a success = %d, want 0", n)
	}
	for i := 1; i <= d.FreeFailures; i++ {
		_, err := env.Service.Login(from("203.0.113.9"), "a@example.com", "wrong horse", nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	if n := countEvents(t, env, auth.EventLockout); n != 1 {
		t.Fatalf("%d lockout events, want 1 (the back-off started once)", n)
	}
}

func TestLockoutAtTheMaximumEndsWithItsWindowWhateverTheAttackerDoes(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	d := auth.DefaultThrottle()
	start := env.Clock.Now()

	// An attacker guesses as fast as the throttle lets it, from a new
	// address each time.
	failures, lockedFor := 0, time.Duration(0)
	for i := 0; lockedFor == 0; i++ {
		if i > 10*d.MaxFailures {
			t.Fatalf("%d attempts, %d failures, and no lockout", i, failures)
		}
		ctx := from(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		_, err := env.Service.Login(ctx, "a@example.com", "wrong horse", nil)
		if auth.CodeOf(err) == auth.CodeInvalidCredentials {
			failures++
			continue
		}
		wait := retryAfter(t, err)
		if wait > d.BackoffMax {
			lockedFor = wait
			break
		}
		env.Clock.Advance(wait)
	}
	if failures != d.MaxFailures {
		t.Fatalf("locked out after %d failures, want %d", failures, d.MaxFailures)
	}
	windowEnd := start.Add(d.Window)
	if got := env.Clock.Now().Add(lockedFor); !got.Equal(windowEnd) {
		t.Fatalf("locked until %v, want the window's end %v", got, windowEnd)
	}
	// Hammering during the lockout, with the right password too, neither
	// gets through nor extends it.
	for env.Clock.Now().Before(windowEnd) {
		for _, pw := range []string{"wrong horse", "correct horse"} {
			_, err := env.Service.Login(from("192.0.2.1"), "a@example.com", pw, nil)
			if got, want := retryAfter(t, err), windowEnd.Sub(env.Clock.Now()); got != want {
				t.Fatalf("wait %v, want %v (the lockout must not move)", got, want)
			}
		}
		env.Clock.Advance(5 * time.Minute)
	}
	env.Clock.Set(windowEnd)
	if _, err := env.Service.Login(from("192.0.2.1"), "a@example.com", "correct horse", nil); err != nil {
		t.Fatalf("the lockout is over, yet a correct password fails: %v", err)
	}
	if n := countEvents(t, env, auth.EventLockout); n != 2 {
		t.Fatalf("%d lockout events, want 2 (back-off started, maximum reached)", n)
	}
	if n := countEvents(t, env, auth.EventLoginFailed); n != d.MaxFailures {
		t.Fatalf("%d login_failed events, want %d (refused attempts are no password check)", n, d.MaxFailures)
	}
}

func TestThrottleTreatsUnknownAccountsTheSame(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "known@example.com", "correct horse")
	trace := func(email string) []string {
		var out []string
		for i := 0; i < 12; i++ {
			_, err := env.Service.Login(from("192.0.2."+fmt.Sprint(i)), email, "wrong horse", nil)
			var ae *auth.Error
			errors.As(err, &ae)
			out = append(out, fmt.Sprintf("%s/%v", auth.CodeOf(err), ae.RetryAfter))
			if i%3 == 2 {
				env.Clock.Advance(time.Second)
			}
		}
		return out
	}
	start := env.Clock.Now()
	known := trace("known@example.com")
	env.Clock.Set(start)
	unknown := trace("nobody@example.com")
	if fmt.Sprint(known) != fmt.Sprint(unknown) {
		t.Fatalf("the throttle tells accounts apart:\nknown   %v\nunknown %v", known, unknown)
	}
}

func TestSpoofedAddressesNeitherDodgeNorResetTheAccountLimit(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	free := auth.DefaultThrottle().FreeFailures
	for i := 0; i <= free; i++ {
		_, err := env.Service.Login(from(fmt.Sprintf("203.0.113.%d", i)), "a@example.com", "wrong horse", nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	// Whatever address the next attempts claim (an X-Forwarded-For the
	// server does not trust never even gets here), the account is held.
	for i := 0; i < 50; i++ {
		_, err := env.Service.Login(from(fmt.Sprintf("2001:db8:%x::1", i)), "a@example.com", "wrong horse", nil)
		retryAfter(t, err)
	}
	_, err := env.Service.Login(context.Background(), "a@example.com", "correct horse", nil)
	retryAfter(t, err)
}

func TestAddressLimitHoldsAcrossAccountsAndASuccessDoesNotResetIt(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "mine@example.com", "correct horse")
	d := auth.DefaultThrottle()
	attacker := from("198.51.100.66")
	for i := 0; i <= d.IPFreeFailures; i++ {
		_, err := env.Service.Login(attacker, fmt.Sprintf("victim%d@example.com", i), "guess", nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	_, err := env.Service.Login(attacker, "fresh@example.com", "guess", nil)
	if got := retryAfter(t, err); got != d.BackoffBase {
		t.Fatalf("address wait %v, want %v", got, d.BackoffBase)
	}
	// Other clients are not held back.
	_, err = env.Service.Login(from("198.51.100.67"), "fresh@example.com", "guess", nil)
	wantCode(t, err, auth.CodeInvalidCredentials)

	// Signing in to its own account does not launder the address.
	env.Clock.Advance(d.BackoffBase)
	if _, err := env.Service.Login(attacker, "mine@example.com", "correct horse", nil); err != nil {
		t.Fatal(err)
	}
	_, err = env.Service.Login(attacker, "victim99@example.com", "guess", nil)
	wantCode(t, err, auth.CodeInvalidCredentials)
	_, err = env.Service.Login(attacker, "victim100@example.com", "guess", nil)
	if got := retryAfter(t, err); got != 2*d.BackoffBase {
		t.Fatalf("address wait after a success %v, want %v (the count goes on)", got, 2*d.BackoffBase)
	}
}

func TestIPv6AddressesCountByTheirSlash64(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	free := auth.DefaultThrottle().IPFreeFailures
	for i := 0; i <= free; i++ {
		_, err := env.Service.Login(from(fmt.Sprintf("2001:db8:1:2::%x", i+1)), fmt.Sprintf("v%d@example.com", i), "guess", nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	_, err := env.Service.Login(from("2001:db8:1:2:ffff::1"), "other@example.com", "guess", nil)
	retryAfter(t, err)
	_, err = env.Service.Login(from("2001:db8:1:3::1"), "other@example.com", "guess", nil)
	wantCode(t, err, auth.CodeInvalidCredentials)
}

func TestMalformedIdentifiersCountAgainstTheAddress(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	free := auth.DefaultThrottle().IPFreeFailures
	// People type their password into the email field.
	const typed = "Tr0ub4dor&3"
	for i := 0; i <= free; i++ {
		_, err := env.Service.Login(from("192.0.2.50"), typed, "guess", nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	_, err := env.Service.Login(from("192.0.2.50"), typed, "guess", nil)
	retryAfter(t, err)
	var leaked int
	err = env.Store.DB().Get(&leaked, `SELECT count(*) FROM auth.audit_events WHERE strpos(detail::text, $1) > 0 OR strpos(detail::text, 'guess') > 0`, typed)
	if err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Fatalf("the audit trail holds the typed identifier or the password")
	}
	if n := countEvents(t, env, auth.EventLoginFailed); n != free+1 {
		t.Fatalf("%d login_failed events, want %d", n, free+1)
	}
}

// N parallel wrong guesses each count: the counter is an UPSERT under the
// row lock, so no increment is lost.
func TestConcurrentWrongGuessesAllCount(t *testing.T) {
	cfg := authtest.DefaultConfig()
	cfg.Throttle = auth.DefaultThrottle()
	cfg.Throttle.FreeFailures, cfg.Throttle.MaxFailures = 1000, 1000
	cfg.Throttle.IPFreeFailures, cfg.Throttle.IPMaxFailures = 1000, 1000
	env := authtest.New(t, cfg)
	env.Signup(t, "a@example.com", "correct horse")

	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := env.Service.Login(from("198.51.100.1"), "a@example.com", "wrong horse", nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	if got := throttleRow(t, env, "account", "a@example.com"); got != n {
		t.Fatalf("account failures = %d, want %d", got, n)
	}
	if got := throttleRow(t, env, "address", "198.51.100.1"); got != n {
		t.Fatalf("address failures = %d, want %d", got, n)
	}
	if got := countEvents(t, env, auth.EventLoginFailed); got != n {
		t.Fatalf("%d login_failed events, want %d", got, n)
	}
}

// With the default limits, a burst is partly refused, and every password
// that was checked is counted.
func TestEveryCheckedPasswordOfABurstIsCounted(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	const n = 40
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		checked, refused int
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := env.Service.Login(from(fmt.Sprintf("192.0.2.%d", i)), "a@example.com", "wrong horse", nil)
			mu.Lock()
			defer mu.Unlock()
			switch auth.CodeOf(err) {
			case auth.CodeInvalidCredentials:
				checked++
			case auth.CodeRateLimited:
				refused++
			default:
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	wg.Wait()
	if got := throttleRow(t, env, "account", "a@example.com"); got != checked || checked+refused != n {
		t.Fatalf("%d checked, %d refused, %d counted", checked, refused, got)
	}
	if checked <= auth.DefaultThrottle().FreeFailures {
		t.Fatalf("only %d passwords checked", checked)
	}
}

func TestWrongOldPasswordsCountAgainstTheThrottle(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	ctx := auth.WithClient(authtest.As(p), auth.Client{IP: "192.0.2.1"})
	for i := 0; i <= auth.DefaultThrottle().FreeFailures; i++ {
		_, err := env.Service.ChangePassword(ctx, "wrong horse", "battery staple")
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	_, err := env.Service.ChangePassword(ctx, "correct horse", "battery staple")
	wait := retryAfter(t, err)
	// A stolen access token is no way around the login throttle either way.
	_, err = env.Service.Login(from("192.0.2.2"), "a@example.com", "correct horse", nil)
	retryAfter(t, err)
	env.Clock.Advance(wait)
	if _, err := env.Service.ChangePassword(ctx, "correct horse", "battery staple"); err != nil {
		t.Fatal(err)
	}
	if n := throttleRow(t, env, "account", "a@example.com"); n != 0 {
		t.Fatalf("a proven old password left the count at %d", n)
	}
	if n := countEvents(t, env, auth.EventPasswordChangeFailed); n != auth.DefaultThrottle().FreeFailures+1 {
		t.Fatalf("%d password_change_failed events", n)
	}
}

func TestDisabledUserLoginIsAuditedButNotCounted(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "off@example.com", "correct horse")
	if err := env.Service.SetUserDisabled(bg, "off@example.com", true); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		_, err := env.Service.Login(bg, "off@example.com", "correct horse", nil)
		wantCode(t, err, auth.CodeUserDisabled)
	}
	if n := throttleRow(t, env, "account", "off@example.com"); n != 0 {
		t.Fatalf("a correct password was counted as a failure (%d)", n)
	}
	if n := countEvents(t, env, auth.EventLoginFailed); n != 10 {
		t.Fatalf("%d login_failed events, want 10", n)
	}
}

// The login's hot path: one statement reads the user and the throttle, one
// writes the outcome (the session, or the failure).
func TestLoginIsTwoRoundTrips(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	db, counter := pgtest.CountingDB(t, env.DatabaseURL)
	svc := auth.New(store.New(db), env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, env.Config)
	if err := svc.RecordAccessTokenLifetime(bg); err != nil { // as serve does before it serves
		t.Fatal(err)
	}
	env.Signup(t, "a@example.com", "correct horse")
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, id, pw string }{
		{"success", "a@example.com", "correct horse"},
		{"wrong password", "a@example.com", "wrong horse"},
		{"unknown email", "nobody@example.com", "wrong horse"},
		{"identifier that is no email", "nobody", "wrong horse"},
	} {
		before := counter.Load()
		_, _ = svc.Login(from("192.0.2.1"), tc.id, tc.pw, nil)
		if n := counter.Load() - before; n != 2 {
			t.Errorf("%s: %d round trips, want 2", tc.name, n)
		}
	}
}

func TestRetryAfterSecondsRoundsUp(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{{0, 0}, {-time.Second, 0}, {time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {90 * time.Second, 90}} {
		if got := (&auth.Error{RetryAfter: tc.d}).RetryAfterSeconds(); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.d, got, tc.want)
		}
	}
}
