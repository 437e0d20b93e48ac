package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
)

// Behind a trusted proxy (a load balancer, or one in front of Hasura), the client address is
// whatever X-Forwarded-For says, so an attacker can claim a new one with
// every request. The per-account limits do not depend on it: through both
// doors, with a fresh claimed address (IPv4 and IPv6) for every guess, the
// account is held back after its free failures, the right password too,
// while no single address ever reaches its own limit.
func TestPerAccountLimitsHoldWhateverAddressIsClaimed(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "vic@example.com", "correct horse battery")
	// One proxy appends the client's address: in front of authgate on
	// /graphql, in front of Hasura on /actions.
	s := serve(t, env, httpapi.Config{ActionSecret: actionSecret, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		TrustedProxyHops: 1}, nil, nil)
	claimed := func(i int) []string {
		if i%2 == 0 {
			return []string{"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i)}
		}
		return []string{"X-Forwarded-For", fmt.Sprintf("2001:db8:%x::1", i)}
	}
	// login tries pw through /graphql (even i) or /actions (odd i) and
	// returns the code and the wait in seconds.
	login := func(i int, pw string) (auth.Code, int) {
		vars := map[string]any{"identifier": "vic@example.com", "password": pw}
		if i%2 == 0 {
			r := s.graphql(t, loginMutation, vars, claimed(i)...)
			wait, _ := r.Errors[0].Extensions["retryAfter"].(float64)
			return auth.Code(r.code(t)), int(wait)
		}
		resp := s.send(t, http.MethodPost, "/actions", actionBody(t, "login", vars, nil),
			append([]string{"Content-Type", "application/json", "X-Action-Secret", actionSecret}, claimed(i)...)...)
		defer resp.Body.Close()
		var body struct {
			Extensions struct{ Code auth.Code } `json:"extensions"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if body.Extensions.Code == auth.CodeRateLimited && resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("/actions answered RATE_LIMITED with %d, want 429", resp.StatusCode)
		}
		return body.Extensions.Code, wait
	}

	free := auth.DefaultThrottle().FreeFailures
	i := 0
	for ; i <= free; i++ {
		if code, _ := login(i, "wrong guess"); code != auth.CodeInvalidCredentials {
			t.Fatalf("guess %d from a fresh address: %s, want INVALID_CREDENTIALS", i, code)
		}
	}
	for end := i + 10; i < end; i++ {
		for _, pw := range []string{"wrong guess", "correct horse battery"} {
			if code, wait := login(i, pw); code != auth.CodeRateLimited || wait < 1 {
				t.Fatalf("attempt %d from a fresh address: %s (retry after %d s), want RATE_LIMITED with a wait", i, code, wait)
			}
		}
	}
	var busiest int
	if err := env.Store.DB().Get(&busiest, `SELECT COALESCE(max(failures), 0) FROM auth.login_throttle WHERE scope = 'address'`); err != nil {
		t.Fatal(err)
	}
	if busiest > 1 {
		t.Fatalf("an address counted %d failures: the addresses did not rotate", busiest)
	}
}
