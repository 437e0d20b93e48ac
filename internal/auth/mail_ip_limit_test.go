package auth_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// mailRequests are the four mutations that send mail on a caller's word,
// each a func of the client context and the address it names; changeEmail
// is the caller's own.
func mailRequests(t *testing.T, env *authtest.Env, p *auth.AuthPayload) map[string]func(context.Context, string) error {
	t.Helper()
	caller, err := auth.PrincipalFrom(authtest.As(p))
	if err != nil {
		t.Fatal(err)
	}
	svc := env.Service
	plain := func(f func(context.Context, auth.EmailRequest) (bool, error)) func(context.Context, string) error {
		return func(ctx context.Context, email string) error {
			_, err := f(ctx, auth.EmailRequest{Email: email})
			return err
		}
	}
	return map[string]func(context.Context, string) error{
		"sendVerificationEmail": plain(svc.SendVerificationEmail),
		"requestPasswordReset":  plain(svc.RequestPasswordReset),
		"requestEmailSignIn":    plain(svc.RequestEmailSignIn),
		"changeEmail": func(ctx context.Context, email string) error {
			_, err := svc.ChangeEmail(auth.WithPrincipal(ctx, caller), auth.EmailChangeRequest{NewEmail: email})
			return err
		},
	}
}

// nth is the i-th distinct address of a test's requests.
func nth(i int) string { return fmt.Sprintf("someone%d@example.com", i) }

// AUTHGATE_EMAIL_IP_LIMIT: every mutation that mails counts against the
// client address's hour, changeEmail included; a refused one answers
// RATE_LIMITED with the wait and queues no mail; bad input is refused as
// such and costs nothing; other addresses are not held back.
func TestMailRequestsAreThrottledPerClientAddress(t *testing.T) {
	cfg := mailConfig(t)
	cfg.EmailIPLimit = 4
	env := authtest.New(t, cfg)
	p := env.Signup(t, "owner@example.com", "correct horse")
	requests := mailRequests(t, env, p)
	ctx := from("198.51.100.7")

	for name, request := range requests {
		if err := request(ctx, "not an address"); auth.CodeOf(err) != auth.CodeBadUserInput {
			t.Fatalf("%s of bad input: %v", name, err)
		}
	}
	if err := requests["changeEmail"](ctx, "OWNER@example.com"); auth.CodeOf(err) != auth.CodeBadUserInput {
		t.Fatalf("changeEmail to the own address: %v", err)
	}
	i := 0
	for name, request := range requests {
		i++
		if err := request(ctx, nth(i)); err != nil {
			t.Fatalf("%s within the limit: %v", name, err)
		}
	}
	queued := tableRows(t, env, "mail_outbox")
	env.Clock.Advance(15 * time.Minute)
	for name, request := range requests {
		i++
		if wait := retryAfter(t, request(ctx, nth(i))); wait != 45*time.Minute {
			t.Fatalf("%s over the limit waits %v, want the 45 minutes left of the hour", name, wait)
		}
	}
	if got := tableRows(t, env, "mail_outbox"); got != queued {
		t.Fatalf("refused requests queued %d mails", got-queued)
	}
	if err := requests["changeEmail"](from("198.51.100.8"), nth(99)); err != nil {
		t.Fatalf("another address: %v", err)
	}
	env.Clock.Advance(45 * time.Minute)
	if err := requests["requestEmailSignIn"](ctx, nth(100)); err != nil {
		t.Fatalf("after the hour: %v", err)
	}
}

// A burst of mail requests from one address, all at once: exactly the
// limit get through, whichever mutation each is.
func TestABurstOfMailRequestsStopsAtTheLimit(t *testing.T) {
	const limit, burst = 5, 24
	cfg := mailConfig(t)
	cfg.EmailIPLimit = limit
	env := authtest.New(t, cfg)
	p := env.Signup(t, "owner@example.com", "correct horse")
	requests := mailRequests(t, env, p)
	names := []string{"sendVerificationEmail", "requestPasswordReset", "requestEmailSignIn", "changeEmail"}
	ctx := from("203.0.113.5")

	var passed, limited atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			switch err := requests[names[i%len(names)]](ctx, nth(i)); {
			case err == nil:
				passed.Add(1)
			case auth.CodeOf(err) == auth.CodeRateLimited:
				limited.Add(1)
			default:
				t.Errorf("request %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if passed.Load() != limit || limited.Load() != burst-limit {
		t.Fatalf("%d passed, %d limited; want %d and %d", passed.Load(), limited.Load(), limit, burst-limit)
	}
}
