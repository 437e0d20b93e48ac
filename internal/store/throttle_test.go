package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/pgtest"
	"authgate/internal/store"
)

var throttleT0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func openThrottleStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), pgtest.NewDatabase(t), store.PoolConfig{MaxConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func loginAttempt(account, address string, now time.Time) auth.LoginAttempt {
	return auth.LoginAttempt{Account: account, Address: address, Now: now, Policy: auth.DefaultThrottle()}
}

// recordFailure reserves an attempt and settles it as a failure, as a
// wrong password does.
func recordFailure(t *testing.T, st *store.Store, a auth.LoginAttempt) {
	t.Helper()
	if err := failAttempt(st, a); err != nil {
		t.Fatal(err)
	}
}

func failAttempt(st *store.Store, a auth.LoginAttempt) error {
	c, err := st.ReserveLoginAttempt(context.Background(), a)
	if err != nil {
		return err
	}
	a.Reserved = c.Reserved
	return st.RecordLoginFailure(context.Background(), a, auth.AuditEvent{At: a.Now, Event: auth.EventLoginFailed})
}

func heldUntil(t *testing.T, st *store.Store, a auth.LoginAttempt) time.Time {
	t.Helper()
	u, err := st.ThrottledUntil(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestThrottleWindowStartsAgainAfterItHasPassed(t *testing.T) {
	st := openThrottleStore(t)
	d := auth.DefaultThrottle()
	now := throttleT0
	for i := 0; i < d.FreeFailures+1; i++ {
		recordFailure(t, st, loginAttempt("a@example.com", "", now))
	}
	if got := heldUntil(t, st, loginAttempt("a@example.com", "", now)); !got.Equal(now.Add(d.BackoffBase)) {
		t.Fatalf("held until %v, want %v", got, now.Add(d.BackoffBase))
	}
	// The back-off ends, and the subject is free; other subjects never were.
	if got := heldUntil(t, st, loginAttempt("a@example.com", "", now.Add(d.BackoffBase))); !got.IsZero() {
		t.Fatalf("held until %v after the back-off", got)
	}
	if got := heldUntil(t, st, loginAttempt("b@example.com", "192.0.2.1", now)); !got.IsZero() {
		t.Fatalf("another subject held until %v", got)
	}
	// A failure after the window starts a new one: free again.
	now = now.Add(d.Window)
	recordFailure(t, st, loginAttempt("a@example.com", "", now))
	if got := heldUntil(t, st, loginAttempt("a@example.com", "", now)); !got.IsZero() {
		t.Fatalf("held until %v in a fresh window", got)
	}
}

// Failures on crossing subjects (one account from many addresses, many
// accounts from one address) run at once without deadlocks or lost counts.
func TestConcurrentFailuresOnCrossingSubjects(t *testing.T) {
	st := openThrottleStore(t)
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		for _, a := range []auth.LoginAttempt{
			loginAttempt("shared@example.com", fmt.Sprintf("192.0.2.%d", i), throttleT0),
			loginAttempt(fmt.Sprintf("u%d@example.com", i), "198.51.100.1", throttleT0),
		} {
			// Limits high enough that every attempt is counted.
			a.Policy.FreeFailures, a.Policy.IPFreeFailures = 1000, 1000
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- failAttempt(st, a)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var account, address int
	if err := st.DB().Get(&account, `SELECT failures FROM auth.login_throttle WHERE scope = 'account' AND subject = 'shared@example.com'`); err != nil {
		t.Fatal(err)
	}
	if err := st.DB().Get(&address, `SELECT failures FROM auth.login_throttle WHERE scope = 'address' AND subject = '198.51.100.1'`); err != nil {
		t.Fatal(err)
	}
	if account != n || address != n {
		t.Fatalf("account %d, address %d failures, want %d each", account, address, n)
	}
}

func TestPurgeDeletesOldAuditEventsInBoundedBatches(t *testing.T) {
	st := openThrottleStore(t)
	if _, err := st.DB().Exec(`INSERT INTO auth.audit_events (at, event)
		SELECT $1::timestamptz - i * interval '1 second', 'login' FROM generate_series(1, 2500) i`, throttleT0.Add(-31*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordAudit(context.Background(), auth.AuditEvent{At: throttleT0, Event: auth.EventLogin}); err != nil {
		t.Fatal(err)
	}
	res, err := st.Purge(context.Background(), auth.PurgePolicy{Now: throttleT0, BatchSize: 1000, AuditRetention: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.AuditEvents != 2500 {
		t.Fatalf("purged %d audit events, want 2500", res.AuditEvents)
	}
	// A policy without a retention deletes none.
	res, err = st.Purge(context.Background(), auth.PurgePolicy{Now: throttleT0.Add(time.Hour), BatchSize: 1000})
	if err != nil || res.AuditEvents != 0 || res.LoginThrottles != 0 {
		t.Fatalf("purge without retentions = %+v, %v", res, err)
	}
	var left int
	if err := st.DB().Get(&left, `SELECT count(*) FROM auth.audit_events`); err != nil || left != 1 {
		t.Fatalf("%d events left (%v), want 1", left, err)
	}
}
