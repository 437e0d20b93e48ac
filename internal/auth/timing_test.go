package auth_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/password"
)

// Timing-test settings. Two paths may differ by less than half a password
// hash, measured alongside under the same load: a missing dummy hash makes a
// path a whole hash quicker, twice the tolerance, while the real differences
// between the paths are a few percent of a hash. Rounds are added, up to
// timingMaxRounds, while the verdict is "apart": a machine busy enough to
// blur a few hundred rounds is given more, and a missing hash only grows
// clearer with them.
const (
	timingRounds    = 200
	timingMaxRounds = 600
	timingTolerance = 0.5 // of a hash
)

// timingParams are the real default argon2id parameters, with and without
// the race detector: the hash's working memory is reused and its inner loop
// is assembly, so -race hardly slows it (24 against 23 ms here). A cheaper
// hash would shrink the yardstick below the noise of the database work.
func timingParams() password.Params { return password.DefaultParams() }

// TestFailedLoginsTakeTheSameTime measures, interleaved round by round, a
// wrong password for an existing account, an unknown email, an identifier
// that is no email, an account without a password (made by a provider),
// and one bare password verification (the yardstick).
// Each account has failed before and sits in the throttle's back-off (it has
// passed), so the throttled-but-not-locked path is the one measured. The
// test fails when the medians, or the median of the paired differences, of
// an unknown-account path and the wrong-password path are half a hash apart.
func TestFailedLoginsTakeTheSameTime(t *testing.T) {
	cfg := authtest.DefaultConfig()
	cfg.Throttle = auth.DefaultThrottle()
	cfg.Throttle.MaxFailures = 1 << 20 // accounts: back-off, but never the lockout
	// The one client address takes every round's three failures: counted,
	// never held.
	cfg.Throttle.IPFreeFailures, cfg.Throttle.IPMaxFailures = 1<<20, 1<<20
	cfg.Providers = []string{"google"}
	env := authtest.New(t, cfg)
	params := timingParams()
	hasher := password.New(params, 4, rand.Reader)
	svc := auth.New(env.Store, env.Revocations, env.Issuer, hasher, env.Keys, env.Clock, rand.Reader, cfg)
	ctx := auth.WithClient(context.Background(), auth.Client{IP: "192.0.2.10", UserAgent: "timing/1.0"})
	if _, err := svc.Signup(ctx, "known@example.com", "correct horse", nil); err != nil {
		t.Fatal(err)
	}
	// A user made by a provider has no password (password_hash null).
	if _, err := svc.SignInWithIdentity(ctx, auth.ExternalIdentity{Provider: "google", Subject: "g-1", Email: "nopassword@example.com", EmailVerified: true}, nil); err != nil {
		t.Fatal(err)
	}
	stored, err := hasher.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	login := func(identifier string) func() {
		return func() {
			if _, err := svc.Login(ctx, identifier, "wrong horse", nil); auth.CodeOf(err) != auth.CodeInvalidCredentials {
				t.Fatalf("%s: %v, want INVALID_CREDENTIALS", identifier, err)
			}
		}
	}
	paths := []struct {
		name string
		run  func()
	}{
		{"wrong password", login("known@example.com")},
		{"unknown email", login("unknown@example.com")},
		{"no email", login("known-at-example.com")},
		{"no password", login("nopassword@example.com")},
		{"one hash", func() { _, _, _ = hasher.Verify(ctx, stored, "wrong horse") }},
	}
	const ref, yardstick = 0, 4
	samples := make([][]time.Duration, len(paths))
	measure := func(i int) time.Duration {
		start := time.Now()
		paths[i].run()
		return time.Since(start)
	}
	for i := range paths { // warm up: connections, caches, the first failures
		for range 3 {
			measure(i)
		}
	}

	t.Logf("argon2id m=%d KiB t=%d p=%d", params.MemoryKiB, params.Iterations, params.Parallelism)
	for rounds, target := 0, timingRounds; ; target += timingRounds {
		for ; rounds < target; rounds++ {
			// Past any back-off the last round started: every account is
			// throttled but not held.
			env.Clock.Advance(cfg.Throttle.BackoffMax)
			for k := range paths {
				i := (rounds + k) % len(paths) // rotate the order: no path always goes first
				samples[i] = append(samples[i], measure(i))
			}
		}
		hash := median(samples[yardstick])
		tolerance := time.Duration(timingTolerance * float64(hash))
		var report, apart []string
		for i, p := range paths {
			s := samples[i]
			report = append(report, fmt.Sprintf("%-14s median %8v  p25 %8v  p75 %8v", p.name,
				median(s).Round(time.Microsecond), quantile(s, 0.25).Round(time.Microsecond), quantile(s, 0.75).Round(time.Microsecond)))
			if i == ref || i == yardstick {
				continue
			}
			medianGap := median(s) - median(samples[ref])
			diffs := make([]time.Duration, len(s))
			for k := range s {
				diffs[k] = s[k] - samples[ref][k]
			}
			shift := median(diffs)
			report[i] += fmt.Sprintf("  vs wrong password: medians %+.0f%%, median paired difference %+.0f%% of a hash",
				100*float64(medianGap)/float64(hash), 100*float64(shift)/float64(hash))
			if medianGap.Abs() > tolerance || shift.Abs() > tolerance {
				apart = append(apart, p.name)
			}
		}
		t.Logf("after %d rounds:\n%s", rounds, strings.Join(report, "\n"))
		if len(apart) == 0 {
			return
		}
		if rounds >= timingMaxRounds {
			t.Fatalf("%s can be told apart from a wrong password by timing (more than %.0f%% of a hash)",
				strings.Join(apart, " and "), 100*timingTolerance)
		}
	}
}

func median(d []time.Duration) time.Duration { return quantile(d, 0.5) }

// quantile is the q-quantile of d (nearest rank).
func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}
