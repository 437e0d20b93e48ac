package auth_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// burstStore lets no failure be recorded until every attempt of a burst
// has been through the throttle's check: the widest window a burst can
// get, in which the old check-then-count code let all of it through.
type burstStore struct {
	auth.Store
	n          int64
	checked    atomic.Int64
	allChecked chan struct{}
}

func newBurstStore(st auth.Store, n int) *burstStore {
	return &burstStore{Store: st, n: int64(n), allChecked: make(chan struct{})}
}

func (b *burstStore) ReserveLoginAttempt(ctx context.Context, a auth.LoginAttempt) (auth.LoginCandidate, error) {
	c, err := b.Store.ReserveLoginAttempt(ctx, a)
	if b.checked.Add(1) == b.n {
		close(b.allChecked)
	}
	return c, err
}

func (b *burstStore) RecordLoginFailure(ctx context.Context, a auth.LoginAttempt, e auth.AuditEvent) error {
	<-b.allChecked
	return b.Store.RecordLoginFailure(ctx, a, e)
}

// N concurrent wrong passwords against a limit of K < N: exactly K are
// hashed and answer INVALID_CREDENTIALS, the rest answer RATE_LIMITED,
// whether the limit is the account's maximum, the start of its back-off,
// or the client address's.
func TestABurstOfWrongPasswordsIsHashedAtMostUpToTheLimit(t *testing.T) {
	const n, k = 30, 5
	for _, tc := range []struct {
		name    string
		policy  func(*auth.ThrottleConfig)
		attempt func(i int) (context.Context, string)
	}{
		{"account maximum", func(p *auth.ThrottleConfig) { p.FreeFailures, p.MaxFailures = 1000, k },
			func(i int) (context.Context, string) { return from(fmt.Sprintf("192.0.2.%d", i)), "a@example.com" }},
		{"account back-off", func(p *auth.ThrottleConfig) { p.FreeFailures = k - 1 },
			func(i int) (context.Context, string) { return from(fmt.Sprintf("192.0.2.%d", i)), "a@example.com" }},
		{"address maximum", func(p *auth.ThrottleConfig) { p.IPFreeFailures, p.IPMaxFailures = 1000, k },
			func(i int) (context.Context, string) { return from("198.51.100.7"), fmt.Sprintf("v%d@example.com", i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := authtest.DefaultConfig()
			cfg.Throttle = auth.DefaultThrottle()
			cfg.Throttle.FreeFailures, cfg.Throttle.MaxFailures = 1000, 1000
			cfg.Throttle.IPFreeFailures, cfg.Throttle.IPMaxFailures = 1000, 1000
			tc.policy(&cfg.Throttle)
			env := authtest.New(t, cfg)
			env.Signup(t, "a@example.com", "correct horse")
			svc := auth.New(newBurstStore(env.Store, n), env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, cfg)
			hashes := env.Hasher.Hashes()
			var wg sync.WaitGroup
			var wrong, limited atomic.Int64
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, identifier := tc.attempt(i)
					_, err := svc.Login(ctx, identifier, "wrong horse", nil)
					switch auth.CodeOf(err) {
					case auth.CodeInvalidCredentials:
						wrong.Add(1)
					case auth.CodeRateLimited:
						limited.Add(1)
					default:
						t.Errorf("unexpected %v", err)
					}
				}()
			}
			wg.Wait()
			if hashed := env.Hasher.Hashes() - hashes; hashed != k || wrong.Load() != k || limited.Load() != n-k {
				t.Fatalf("%d hashed, %d INVALID_CREDENTIALS, %d RATE_LIMITED; want %d, %d, %d", hashed, wrong.Load(), limited.Load(), k, k, n-k)
			}
			if got := countEvents(t, env, auth.EventLoginFailed); got != k {
				t.Fatalf("%d login_failed events, want %d", got, k)
			}
			if got := countEvents(t, env, auth.EventLockout); got != 1 {
				t.Fatalf("%d lockout events, want 1", got)
			}
		})
	}
}

// changePassword's old-password check is reserved the same way: a burst
// through a stolen access token is hashed at most up to the limit.
func TestABurstOfWrongOldPasswordsIsHashedAtMostUpToTheLimit(t *testing.T) {
	const n, k = 20, 4
	cfg := authtest.DefaultConfig()
	cfg.Throttle = auth.DefaultThrottle()
	cfg.Throttle.FreeFailures, cfg.Throttle.MaxFailures = 1000, k
	env := authtest.New(t, cfg)
	p := env.Signup(t, "a@example.com", "correct horse")
	svc := auth.New(newBurstStore(env.Store, n), env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, cfg)
	hashes := env.Hasher.Hashes()
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := auth.WithClient(authtest.As(p), auth.Client{IP: fmt.Sprintf("192.0.2.%d", i)})
			_, err := svc.ChangePassword(ctx, "wrong horse", "battery staple")
			if auth.CodeOf(err) == auth.CodeInvalidCredentials {
				wrong.Add(1)
			} else if auth.CodeOf(err) != auth.CodeRateLimited {
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	wg.Wait()
	if hashed := env.Hasher.Hashes() - hashes; hashed != k || wrong.Load() != k {
		t.Fatalf("%d old passwords hashed, %d INVALID_CREDENTIALS, want %d each", hashed, wrong.Load(), k)
	}
}

// cancellingStore ends the request's context right after its attempt was
// reserved, as a client that gives up while waiting for a hashing slot.
type cancellingStore struct {
	auth.Store
	cancel context.CancelFunc
}

func (c *cancellingStore) ReserveLoginAttempt(ctx context.Context, a auth.LoginAttempt) (auth.LoginCandidate, error) {
	cand, err := c.Store.ReserveLoginAttempt(ctx, a)
	c.cancel()
	return cand, err
}

// A reserved attempt whose password was never checked (no hashing slot in
// time) is given back: it counts against neither the account nor the
// address.
func TestAnAttemptThatWasNeverHashedIsGivenBack(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithCancel(from("192.0.2.1"))
		svc := auth.New(&cancellingStore{Store: env.Store, cancel: cancel}, env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, env.Config)
		_, err := svc.Login(ctx, "a@example.com", "wrong horse", nil)
		wantCode(t, err, auth.CodeRateLimited)
	}
	if a, ip := throttleRow(t, env, "account", "a@example.com"), throttleRow(t, env, "address", "192.0.2.1"); a != 0 || ip != 0 {
		t.Fatalf("unchecked attempts still count: account %d, address %d", a, ip)
	}
	// And the account's free failures are all there.
	for i := 0; i < auth.DefaultThrottle().FreeFailures+1; i++ {
		_, err := env.Service.Login(from("192.0.2.1"), "a@example.com", "wrong horse", nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
}

// waitForLockWaiter returns once a statement on env's database waits for a
// row lock (so its snapshot has been taken), failing the test if none does.
func waitForLockWaiter(t *testing.T, env *authtest.Env, what string) {
	t.Helper()
	for i := 0; ; i++ {
		var waiting int
		if err := env.Store.DB().Get(&waiting, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		if i > 20000 {
			t.Fatalf("%s never waited for a row lock", what)
		}
	}
}

// An attempt whose snapshot found the account free, but which a concurrent
// attempt (committed before it got the account's row lock) put in its
// back-off, is refused as a whole: RATE_LIMITED with the wait, no hash,
// and the address it had already counted gets that count back.
func TestAnAttemptOvertakenByAConcurrentFailureCountsNothing(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	free := auth.DefaultThrottle().FreeFailures
	for i := 0; i < free; i++ {
		_, err := env.Service.Login(from("192.0.2.1"), "a@example.com", "wrong horse", nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	tx, err := env.Store.DB().Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT 1 FROM auth.login_throttle WHERE scope = 'account' AND subject = 'a@example.com' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	hashes := env.Hasher.Hashes()
	done := make(chan error, 1)
	go func() {
		_, err := env.Service.Login(from("198.51.100.9"), "a@example.com", "correct horse", nil)
		done <- err
	}()
	waitForLockWaiter(t, env, "the login's reservation")
	// The concurrent attempt: one more failure starts the back-off.
	if _, err := tx.Exec(`UPDATE auth.login_throttle SET failures = failures + 1, last_failure_at = $1
		WHERE scope = 'account' AND subject = 'a@example.com'`, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if wait := retryAfter(t, <-done); wait != auth.DefaultThrottle().BackoffBase {
		t.Fatalf("wait %v, want the back-off's %v", wait, auth.DefaultThrottle().BackoffBase)
	}
	if got := env.Hasher.Hashes(); got != hashes {
		t.Fatalf("the refused attempt was hashed")
	}
	if a, ip := throttleRow(t, env, "account", "a@example.com"), throttleRow(t, env, "address", "198.51.100.9"); a != free+1 || ip != 0 {
		t.Fatalf("account %d (want %d), address %d (want 0)", a, free+1, ip)
	}
}
