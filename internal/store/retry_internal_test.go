package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"authgate/internal/auth"
)

// For the external tests: MaxAttempts to count attempts, MapError to see
// how a failure is reported.
const MaxAttempts = maxAttempts

var MapError = mapError

func TestRetryRunsAgainOnlyOnSerializationFailuresAndDeadlocks(t *testing.T) {
	t.Parallel()
	conflict := &pq.Error{Code: "40001"}
	deadlock := &pq.Error{Code: "40P01"}
	cases := []struct {
		name      string
		errs      []error // fn's answers, in order; nil after the list
		wantCalls int
		wantErr   error
	}{
		{"success runs once", nil, 1, nil},
		{"a conflict then success", []error{conflict}, 2, nil},
		{"a deadlock then success", []error{deadlock}, 2, nil},
		{"a conflict wrapped in UNAVAILABLE is still one", []error{auth.Unavailable(conflict)}, 2, nil},
		{"conflicts up to the last attempt, then success", repeat(conflict, maxAttempts-1), maxAttempts, nil},
		{"conflicts every time stop after maxAttempts", repeat(conflict, maxAttempts+3), maxAttempts, conflict},
		{"a unique violation is not retried", []error{&pq.Error{Code: "23505"}}, 1, &pq.Error{Code: "23505"}},
		{"a domain error is not retried", []error{auth.ErrNotFound}, 1, auth.ErrNotFound},
		{"a lost connection is not retried here", []error{errResultLost}, 1, errResultLost},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			err := retry(context.Background(), func() error {
				calls++
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			})
			if calls != tc.wantCalls {
				t.Errorf("fn ran %d times, want %d", calls, tc.wantCalls)
			}
			if fmt.Sprint(err) != fmt.Sprint(tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestRetryStopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := retry(ctx, func() error {
		calls++
		cancel()
		return &pq.Error{Code: "40001"}
	})
	if calls != 1 || !isRetryable(err) {
		t.Fatalf("after the context ended: %d calls, err %v; want 1 call and the conflict", calls, err)
	}
	if code := auth.CodeOf(mapError(err)); code != auth.CodeUnavailable {
		t.Errorf("the conflict maps to %s, want UNAVAILABLE", code)
	}
}

func TestRetryGivesUpQuickly(t *testing.T) {
	t.Parallel()
	start := time.Now()
	_ = retry(context.Background(), func() error { return &pq.Error{Code: "40P01"} })
	// The waits add up to at most retryMaxWait per attempt.
	if took := time.Since(start); took > time.Duration(maxAttempts)*retryMaxWait {
		t.Errorf("retrying took %s", took)
	}
}

func TestBackoffIsJitteredAndCapped(t *testing.T) {
	t.Parallel()
	for attempt := 1; attempt <= 70; attempt++ {
		step := min(retryBackoff<<(attempt-1), retryMaxWait)
		if retryBackoff<<(attempt-1) <= 0 {
			step = retryMaxWait
		}
		seen := map[time.Duration]bool{}
		for range 50 {
			d := backoff(attempt)
			if d < step/2 || d > step {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, d, step/2, step)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("backoff(%d) is not jittered: %v", attempt, seen)
		}
	}
}

func TestConnectTimeoutDefaultsWithoutOverridingTheUser(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, dsn  string
		envTimeout bool
		want       string // connect_timeout lib/pq ends up with
	}{
		{"URL without one", "postgres://u@db.example:5433/app?sslmode=disable", false, "5"},
		{"postgresql URL without one", "postgresql://u@db.example/app", false, "5"},
		{"URL with one", "postgres://u@db.example/app?connect_timeout=2&sslmode=disable", false, "2"},
		{"URL with 0 (wait for ever)", "postgres://u@db.example/app?connect_timeout=0", false, "0"},
		{"key=value without one", "host=db.example user=u dbname=app", false, "5"},
		{"key=value with one", "host=db.example connect_timeout=3 user=u", false, "3"},
		{"PGCONNECT_TIMEOUT set", "postgres://u@db.example/app", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn, err := withConnectTimeout(tc.dsn, tc.envTimeout)
			if err != nil {
				t.Fatal(err)
			}
			if got := lastSetting(dsn, "connect_timeout"); got != tc.want {
				t.Errorf("%q became %q: connect_timeout %q, want %q", tc.dsn, dsn, got, tc.want)
			}
			if _, err := pq.NewConnector(dsn); err != nil {
				t.Errorf("lib/pq refuses %q: %v", dsn, err)
			}
		})
	}
}

func TestMalformedDatabaseURLIsRefusedWithoutShowingIt(t *testing.T) {
	t.Parallel()
	_, err := Open(context.Background(), "postgres://ann:s3cret@db.example:notaport/app", PoolConfig{})
	if err == nil || !strings.HasPrefix(err.Error(), "DATABASE_URL: ") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v, want a DATABASE_URL error without the password", err)
	}
}

// lastSetting is the value lib/pq gives key in a key=value DSN whose values
// hold no spaces: the last one wins.
func lastSetting(dsn, key string) string {
	value := ""
	for _, field := range strings.Fields(dsn) {
		if k, v, ok := strings.Cut(field, "="); ok && k == key {
			value = strings.Trim(v, "'")
		}
	}
	return value
}

func repeat(err error, n int) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

func TestMapErrorSortsFailuresByCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want auth.Code
	}{
		{&pq.Error{Code: "57P01"}, auth.CodeUnavailable}, // admin shutdown
		{&pq.Error{Code: "57P03"}, auth.CodeUnavailable}, // cannot connect now
		{&pq.Error{Code: "08006"}, auth.CodeUnavailable},
		{&pq.Error{Code: "53300"}, auth.CodeUnavailable}, // too many connections
		{&pq.Error{Code: "58030"}, auth.CodeUnavailable}, // I/O error
		{&pq.Error{Code: "40001"}, auth.CodeUnavailable},
		{&pq.Error{Code: "40P01"}, auth.CodeUnavailable},
		{&pq.Error{Code: "40003"}, auth.CodeUnavailable},
		{&pq.Error{Code: "55P03"}, auth.CodeUnavailable},
		{&pq.Error{Code: "22021"}, auth.CodeBadUserInput},
		{&pq.Error{Code: "22P05"}, auth.CodeBadUserInput},
		{&pq.Error{Code: "22001"}, auth.CodeBadUserInput},
		{&pq.Error{Code: "42P01"}, auth.CodeInternal}, // undefined table: a bug
		{errResultLost, auth.CodeUnavailable},
		{context.DeadlineExceeded, auth.CodeUnavailable},
		{fmt.Errorf("x: %w", context.Canceled), auth.CodeUnavailable},
		{errors.New("something else"), auth.CodeInternal},
	}
	for _, tc := range cases {
		if got := auth.CodeOf(mapError(tc.err)); got != tc.want {
			t.Errorf("mapError(%v) has code %s, want %s", tc.err, got, tc.want)
		}
	}
}
