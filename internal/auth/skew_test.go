package auth_test

import (
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/clock"
)

// skewed is an instance's system clock, off from the true time by skew.
type skewed struct {
	base clock.Clock
	skew time.Duration
}

func (s skewed) Now() time.Time { return s.base.Now().Add(s.skew) }

// alignedClock is the production clock of a machine whose system clock is
// off by skew: that clock aligned with the database's.
func alignedClock(t *testing.T, env *authtest.Env, skew time.Duration) *clock.Aligned {
	t.Helper()
	c := clock.NewAligned(skewed{env.Clock, skew})
	if err := c.Align(bg, env.Store.DatabaseNow); err != nil {
		t.Fatal(err)
	}
	return c
}

// Issue 11 item 13: two instances whose system clocks are 10 minutes fast
// and 10 minutes slow share a database. A revocation made through either
// kills the tokens the other issued before it and spares those issued after
// it, on both, on instances that start later, and after pruning.
func TestSkewedInstancesAgreeWhenARevocationHappened(t *testing.T) {
	const skew = 10 * time.Minute
	for _, tc := range []struct {
		name    string
		revoker int // index into {fast, slow}
	}{
		{"revoked through the fast instance", 0},
		{"revoked through the slow instance", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := authtest.New(t, auth.Config{})
			// Both are aligned at once: the fake clock they are built on
			// stands still while the database's moves on.
			fastClock, slowClock := alignedClock(t, env, skew), alignedClock(t, env, -skew)
			on := func(c clock.Clock) *authtest.Env { return env.InstanceWith(t, authtest.InstanceOptions{Clock: c}) }
			fast, slow := on(fastClock), on(slowClock)
			revoker, other := []*authtest.Env{fast, slow}[tc.revoker], []*authtest.Env{fast, slow}[1-tc.revoker]

			before := other.Signup(t, "a@example.com", "correct horse")
			env.Clock.Advance(2 * time.Second)
			if _, err := revoker.Service.RevokeAllSessions(authtest.As(before)); err != nil {
				t.Fatal(err)
			}
			env.Clock.Advance(2 * time.Second)
			after, err := other.Service.Login(bg, "a@example.com", "correct horse", nil)
			if err != nil {
				t.Fatalf("login through the other instance after the revocation: %v", err)
			}
			ownAfter, err := revoker.Service.Login(bg, "a@example.com", "correct horse", nil)
			if err != nil {
				t.Fatalf("login through the revoking instance after the revocation: %v", err)
			}
			waitUntil(t, other.Revocations, time.Second, func() bool { return other.Revocations.SessionRevoked(before.SessionID) })

			check := func(when string, instances ...*authtest.Env) {
				t.Helper()
				for i, inst := range instances {
					if _, err := inst.Service.Authenticate(bg, before.AccessToken); auth.CodeOf(err) != auth.CodeUnauthenticated {
						t.Errorf("%s, instance %d: the token issued before the revocation: %v, want UNAUTHENTICATED", when, i, err)
					}
					for _, p := range []*auth.AuthPayload{after, ownAfter} {
						if _, err := inst.Service.Authenticate(bg, p.AccessToken); err != nil {
							t.Errorf("%s, instance %d: a token issued after the revocation: %v", when, i, err)
						}
					}
				}
			}
			// Instances started now, on either machine, load the same verdicts.
			check("at once", fast, slow, on(fastClock), on(slowClock))
			// The sessions opened after the revocation live on.
			mustRefresh(t, other, after.RefreshToken)
			mustRefresh(t, revoker, ownAfter.RefreshToken)

			// Five minutes on (tokens live 15), after the prune every feed
			// makes, and on instances that start only now.
			env.Clock.Advance(5 * time.Minute)
			for _, inst := range []*authtest.Env{fast, slow} {
				if err := inst.Feed.Prune(bg); err != nil {
					t.Fatal(err)
				}
			}
			check("five minutes on", fast, slow, on(fastClock), on(slowClock))
		})
	}
}
