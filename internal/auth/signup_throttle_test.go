package auth_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// Sign-ups are limited per client address and hour, whether they succeed
// or find the address taken (the answer that tells an account exists); a
// refused one answers RATE_LIMITED with the wait, before any hashing, and
// writes nothing.
func TestSignupsAreThrottledPerClientAddress(t *testing.T) {
	const limit = 3
	cfg := authtest.DefaultConfig()
	cfg.SignupIPLimit = limit
	env := authtest.New(t, cfg)
	env.Signup(t, "taken@example.com", "correct horse") // no client address: not counted
	ctx := from("198.51.100.1")
	for i := 0; i < limit-1; i++ {
		if _, err := env.Service.Signup(ctx, fmt.Sprintf("new%d@example.com", i), "correct horse", nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := env.Service.Signup(ctx, "taken@example.com", "correct horse", nil)
	wantCode(t, err, auth.CodeEmailTaken)

	hashes, users := env.Hasher.Hashes(), tableRows(t, env, "users")
	env.Clock.Advance(10 * time.Minute)
	for range 2 {
		_, err := env.Service.Signup(ctx, "more@example.com", "correct horse", nil)
		if wait := retryAfter(t, err); wait != 50*time.Minute {
			t.Fatalf("wait %v, want the 50 minutes left of the hour", wait)
		}
	}
	_, err = env.Service.Signup(ctx, "taken@example.com", "correct horse", nil)
	retryAfter(t, err) // no EMAIL_TAKEN either: nothing tells whether the address exists
	if env.Hasher.Hashes() != hashes || tableRows(t, env, "users") != users {
		t.Fatal("a refused sign-up hashed or wrote")
	}

	// Other addresses are not held back; an IPv6 client counts by its /64.
	if _, err := env.Service.Signup(from("198.51.100.2"), "other@example.com", "correct horse", nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < limit; i++ {
		if _, err := env.Service.Signup(from(fmt.Sprintf("2001:db8:5:6::%x", i+1)), fmt.Sprintf("six%d@example.com", i), "correct horse", nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err = env.Service.Signup(from("2001:db8:5:6:ffff::1"), "six9@example.com", "correct horse", nil)
	retryAfter(t, err)

	// The hour ends: the address may sign up again.
	env.Clock.Advance(50 * time.Minute)
	if _, err := env.Service.Signup(ctx, "later@example.com", "correct horse", nil); err != nil {
		t.Fatalf("after the hour: %v", err)
	}
}

// Input that is refused anyway costs no sign-up of the address's hour.
func TestRefusedSignupInputIsNotCounted(t *testing.T) {
	cfg := authtest.DefaultConfig()
	cfg.SignupIPLimit = 1
	env := authtest.New(t, cfg)
	ctx := from("198.51.100.1")
	for _, tc := range []struct{ email, pw string }{{"not an email", "correct horse"}, {"a@example.com", "short"}} {
		_, err := env.Service.Signup(ctx, tc.email, tc.pw, nil)
		if code := auth.CodeOf(err); code != auth.CodeBadUserInput && code != auth.CodeWeakPassword {
			t.Fatalf("%v", err)
		}
	}
	if _, err := env.Service.Signup(ctx, "a@example.com", "correct horse", nil); err != nil {
		t.Fatal(err)
	}
}

// A burst of concurrent sign-ups from one address creates exactly the
// limit's worth of accounts and hashes no more passwords.
func TestABurstOfSignupsStopsAtTheLimit(t *testing.T) {
	const n, limit = 20, 4
	cfg := authtest.DefaultConfig()
	cfg.SignupIPLimit = limit
	env := authtest.New(t, cfg)
	hashes := env.Hasher.Hashes()
	var wg sync.WaitGroup
	var created, limited atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := env.Service.Signup(from("203.0.113.5"), fmt.Sprintf("s%d@example.com", i), "correct horse", nil)
			switch auth.CodeOf(err) {
			case auth.CodeRateLimited:
				limited.Add(1)
			default:
				if err != nil {
					t.Errorf("unexpected %v", err)
				}
				created.Add(1)
			}
		}()
	}
	wg.Wait()
	if created.Load() != limit || limited.Load() != n-limit || env.Hasher.Hashes()-hashes != limit {
		t.Fatalf("%d created, %d refused, %d hashed; want %d, %d, %d", created.Load(), limited.Load(), env.Hasher.Hashes()-hashes, limit, n-limit, limit)
	}
}
