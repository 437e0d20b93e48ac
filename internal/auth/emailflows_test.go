package auth_test

import (
	"context"
	"crypto/rand"
	"sort"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/pgtest"
	"authgate/internal/redirect"
	"authgate/internal/sealbox"
	"authgate/internal/store"
)

// mailConfig is DefaultConfig with mail delivered and the allow-list of
// app.example.com.
func mailConfig(t *testing.T) auth.Config {
	t.Helper()
	box, err := sealbox.New("mail outbox", []byte(authtest.RefreshSecret))
	if err != nil {
		t.Fatal(err)
	}
	allow, err := redirect.New([]string{"https://app.example.com"}, "https://app.example.com/auth")
	if err != nil {
		t.Fatal(err)
	}
	cfg := authtest.DefaultConfig()
	cfg.Mail = auth.MailConfig{Sealer: box, Delivered: true}
	cfg.Redirects = allow
	return cfg
}

// An unknown address costs the request mutations what a known one does:
// the same database round trips (the mail is written by the same one
// statement that counts the address's throttle), and about the same time.
func TestRequestsForUnknownAddressesDoTheSameWork(t *testing.T) {
	env := authtest.New(t, mailConfig(t))
	db, counter := pgtest.CountingDB(t, env.DatabaseURL)
	svc := auth.New(store.New(db), env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, env.Config)
	env.Signup(t, "known@example.com", "correct horse")
	requests := map[string]func(context.Context, auth.EmailRequest) (bool, error){
		"requestPasswordReset": svc.RequestPasswordReset,
		"requestEmailSignIn":   svc.RequestEmailSignIn,
	}
	for name, request := range requests {
		cost := func(email string) (int64, time.Duration) {
			var times []time.Duration
			var trips int64
			for i := range 9 {
				env.Clock.Advance(time.Hour) // past the address's throttle
				before := counter.Load()
				start := time.Now()
				ok, err := request(from("192.0.2.9"), auth.EmailRequest{Email: email})
				times = append(times, time.Since(start))
				if err != nil || !ok {
					t.Fatalf("%s(%s): %v, %v", name, email, ok, err)
				}
				if i == 0 {
					trips = counter.Load() - before
				}
			}
			sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
			return trips, times[len(times)/2]
		}
		knownTrips, knownTime := cost("known@example.com")
		unknownTrips, unknownTime := cost("unknown@example.com")
		if knownTrips != unknownTrips {
			t.Errorf("%s: %d round trips for a known address, %d for an unknown one", name, knownTrips, unknownTrips)
		}
		t.Logf("%s: %d round trips; median %v known, %v unknown", name, knownTrips, knownTime, unknownTime)
	}
}
