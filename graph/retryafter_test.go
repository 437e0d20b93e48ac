package graph_test

import (
	"context"
	"testing"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// A throttled login answers RATE_LIMITED with extensions.retryAfter, the
// whole seconds to wait.
func TestThrottledLoginCarriesRetryAfter(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	h := graph.NewServer(env.Service, graph.Options{})
	ctx := auth.WithClient(context.Background(), auth.Client{IP: "192.0.2.1"})
	login := query(`mutation { login(identifier: "a@example.com", password: "wrong horse") { accessToken } }`)
	d := auth.DefaultThrottle()
	for i := 0; i < d.FreeFailures+2; i++ { // the free failures, one more, and one more again after its wait
		if i > 0 {
			env.Clock.Advance(d.BackoffBase)
		}
		_, r := post(t, h, ctx, login)
		if codes := r.codes(); len(codes) != 1 || codes[0] != "INVALID_CREDENTIALS" {
			t.Fatalf("attempt %d: %v", i+1, codes)
		}
	}
	env.Clock.Advance(d.BackoffBase / 2)
	_, r := post(t, h, ctx, login)
	if codes := r.codes(); len(codes) != 1 || codes[0] != "RATE_LIMITED" {
		t.Fatalf("codes %v, want RATE_LIMITED", codes)
	}
	// 2 s of back-off, half a second gone: 1.5 s, rounded up.
	if got, ok := r.Errors[0].Extensions["retryAfter"].(float64); !ok || got != 2 {
		t.Fatalf("extensions %v, want retryAfter 2", r.Errors[0].Extensions)
	}
	_, r = post(t, h, ctx, query(`mutation { login(identifier: "nobody@example.com", password: "wrong horse") { accessToken } }`))
	if _, ok := r.Errors[0].Extensions["retryAfter"]; ok {
		t.Fatalf("an INVALID_CREDENTIALS answer carries retryAfter: %v", r.Errors[0].Extensions)
	}
}
