package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/lib/pq"
)

// A serialization failure (SQLSTATE 40001) or a deadlock (40P01) means that
// Postgres rolled the whole statement or transaction back and that running
// it again is likely to succeed. Every write is retried here, in one place:
// single statements by the connection wrapper (conn.go), transactions by
// withTx. After maxAttempts the error stands, and mapError reports it as
// UNAVAILABLE.
const (
	maxAttempts  = 5
	retryBackoff = 5 * time.Millisecond   // before the 2nd attempt; doubles after
	retryMaxWait = 100 * time.Millisecond // cap of one wait
)

// isRetryable reports whether err, however wrapped, is a serialization
// failure or a deadlock.
func isRetryable(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Code == "40001" || pqErr.Code == "40P01")
}

// retry runs fn until it succeeds, fails with an error that is not a
// serialization failure or a deadlock, or has run maxAttempts times, and
// returns fn's last error. Between attempts it waits a short jittered
// back-off; when ctx ends during a wait it stops and returns fn's last error.
// fn must be safe to run again after it failed with a retryable error: it
// always is for one statement or one transaction, which Postgres rolled back.
func retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == maxAttempts || !isRetryable(err) {
			return err
		}
		wait := time.NewTimer(backoff(attempt))
		select {
		case <-ctx.Done():
			wait.Stop()
			return err
		case <-wait.C:
		}
	}
}

// backoff is the wait after the given failed attempt: between half and all
// of an exponentially growing step, so that clients that collided once do
// not collide again in lockstep. The jitter needs no secrecy, so it comes
// from math/rand rather than an injected crypto source.
func backoff(attempt int) time.Duration {
	step := retryBackoff << (attempt - 1)
	if step > retryMaxWait || step <= 0 {
		step = retryMaxWait
	}
	return step/2 + rand.N(step/2+1)
}
