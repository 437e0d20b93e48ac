package auth_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// Issue 11 item 6, the follow attack: after each legitimate rotation a thief
// replays the retired token within the grace window (timed by the session's
// last activity), from elsewhere. The first attempt ends the session.
func TestTheFollowAttackEndsTheSession(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p, err := env.Service.Signup(browser, "victim@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	stolen := p.RefreshToken // the thief holds the first token
	env.Clock.Advance(time.Minute)
	next := mustRefreshFrom(t, browser, env, stolen) // the victim rotates
	env.Clock.Advance(time.Second)                   // the thief sees lastActivityAt move
	_, err = env.Service.Refresh(thief, stolen)
	wantCode(t, err, auth.CodeRefreshTokenReused)
	// The victim's live token is dead too: the thief followed nothing.
	_, err = env.Service.Refresh(browser, next.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
	if reason := lastReuseReason(t, env); reason != "another client" {
		t.Fatalf("reuse recorded with reason %q, want \"another client\"", reason)
	}
}

// Two tabs of one browser refreshing at once, round after round, on real
// goroutines: one rotates, the other replays, both get the same successor,
// and the session never ends.
func TestTwoTabsOfOneBrowserNeverEndTheSession(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p, err := env.Service.Signup(browser, "tabs@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := p.RefreshToken
	for round := range 20 {
		env.Clock.Advance(time.Minute)
		results, errs := refreshAtOnce(env, browser, tok, 2)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, tab %d: %v", round, i, err)
			}
		}
		if results[0].RefreshToken != results[1].RefreshToken || !env.Current(t, results[0].RefreshToken) {
			t.Fatalf("round %d: the tabs got different tokens, or not the session's", round)
		}
		tok = results[0].RefreshToken
	}
}

// A replay within grace from the browser's own network (same user agent,
// another address in its IPv4 /24 or IPv6 /64) is the same client.
func TestReplayFromTheSameNetworkIsTheSameClient(t *testing.T) {
	for _, tc := range []struct{ rotate, replay string }{
		{"198.51.100.7", "198.51.100.200"},
		{"2001:db8:1:2::7", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"},
		{"::ffff:198.51.100.7", "198.51.100.9"},
	} {
		env := authtest.New(t, auth.Config{})
		from := func(ip string) context.Context { return auth.WithClient(bg, auth.Client{IP: ip, UserAgent: "app/1"}) }
		p := env.Signup(t, "net@example.com", "correct horse")
		first := mustRefreshFrom(t, from(tc.rotate), env, p.RefreshToken)
		again := mustRefreshFrom(t, from(tc.replay), env, p.RefreshToken)
		if again.RefreshToken != first.RefreshToken {
			t.Fatalf("%s then %s: another successor", tc.rotate, tc.replay)
		}
	}
}

// Replays the rule refuses end the session, each with its reason in the
// audit trail: another network, another user agent, the replays of one
// rotation used up, the grace window over.
func TestReplaysTheRuleRefusesAreReuse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replay  auth.Client
		before  int // allowed replays first
		advance time.Duration
		reason  string
	}{
		{"from another IPv4 /24", auth.Client{IP: "198.51.101.7", UserAgent: ua}, 0, 0, "another client"},
		{"from another IPv6 /64", auth.Client{IP: "2001:db8:1:3::7", UserAgent: ua}, 0, 0, "another client"},
		{"from another user agent", auth.Client{IP: "198.51.100.7", UserAgent: "curl/8.0"}, 0, 0, "another client"},
		{"after the limit's replays", auth.Client{IP: "198.51.100.7", UserAgent: ua}, 3, 0, "replays exhausted"},
		{"after the grace window", auth.Client{IP: "198.51.100.7", UserAgent: ua}, 1, 10 * time.Second, "after grace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := authtest.New(t, auth.Config{})
			client := auth.WithClient(bg, auth.Client{IP: "198.51.100.7", UserAgent: ua})
			p := env.Signup(t, "rule@example.com", "correct horse")
			next := mustRefreshFrom(t, client, env, p.RefreshToken)
			for i := range tc.before {
				if again := mustRefreshFrom(t, client, env, p.RefreshToken); again.RefreshToken != next.RefreshToken {
					t.Fatalf("allowed replay %d gave another successor", i)
				}
			}
			env.Clock.Advance(tc.advance)
			_, err := env.Service.Refresh(auth.WithClient(bg, tc.replay), p.RefreshToken)
			wantCode(t, err, auth.CodeRefreshTokenReused)
			_, err = env.Service.Refresh(client, next.RefreshToken)
			wantCode(t, err, auth.CodeInvalidRefreshToken)
			if reason := lastReuseReason(t, env); reason != tc.reason {
				t.Fatalf("reason %q, want %q", reason, tc.reason)
			}
		})
	}
}

// With a replay limit of 0 the grace window replays nothing.
func TestAReplayLimitOfZeroAllowsNoReplay(t *testing.T) {
	cfg := authtest.DefaultConfig()
	cfg.RefreshReplayLimit = 0
	env := authtest.New(t, cfg)
	p := env.Signup(t, "strict@example.com", "correct horse")
	mustRefresh(t, env, p.RefreshToken)
	_, err := env.Service.Refresh(bg, p.RefreshToken)
	wantCode(t, err, auth.CodeRefreshTokenReused)
}

// More simultaneous refreshes of one token than the limit allows: one
// rotates, the limit's worth replay, the next ends the session and any after
// it find the session dead. Nothing forks: every success got the one
// successor.
func TestMoreSimultaneousRefreshesThanTheLimitEndTheSession(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "many@example.com", "correct horse")
	n := env.Config.RefreshReplayLimit + 3
	results, errs := refreshAtOnce(env, browser, p.RefreshToken, n)
	ok, reused, dead := 0, 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			if results[i].RefreshToken != env.Successor(t, p.RefreshToken) {
				t.Fatalf("refresh %d forked the session", i)
			}
		case auth.CodeOf(err) == auth.CodeRefreshTokenReused:
			reused++
		case auth.CodeOf(err) == auth.CodeInvalidRefreshToken:
			dead++
		default:
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
	if ok != env.Config.RefreshReplayLimit+1 || reused != 1 || dead != 1 {
		t.Fatalf("%d successes, %d reuses, %d dead; want %d, 1, 1", ok, reused, dead, env.Config.RefreshReplayLimit+1)
	}
}

func TestReplayClientIsTheUserAgentAndTheAddressPrefix(t *testing.T) {
	same := func(a, b auth.Client) bool { return bytes.Equal(auth.ReplayClient(a), auth.ReplayClient(b)) }
	c := func(ip, ua string) auth.Client { return auth.Client{IP: ip, UserAgent: ua} }
	for _, tc := range []struct {
		a, b auth.Client
		want bool
	}{
		{c("203.0.113.5", "x"), c("203.0.113.250", "x"), true},
		{c("203.0.113.5", "x"), c("203.0.114.5", "x"), false},
		{c("203.0.113.5", "x"), c("203.0.113.5", "y"), false},
		{c("2001:db8:0:1::1", "x"), c("2001:db8:0:1:ffff::9", "x"), true},
		{c("2001:db8:0:1::1", "x"), c("2001:db8:0:2::1", "x"), false},
		{c("::ffff:203.0.113.5", "x"), c("203.0.113.6", "x"), true},
		{c("", ""), c("", ""), true},
		{c("", "x"), c("203.0.113.5", "x"), false},
		{c("not an address", "x"), c("not an address", "x"), true},
	} {
		if got := same(tc.a, tc.b); got != tc.want {
			t.Errorf("%+v and %+v: same client %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

const ua = "Mozilla/5.0 (Android 15) Chrome/139"

// lastReuseReason is detail.reason of the newest refresh_token_reused event.
func lastReuseReason(t *testing.T, env *authtest.Env) string {
	t.Helper()
	var reason string
	if err := env.Store.DB().Get(&reason, `SELECT detail->>'reason' FROM auth.audit_events
		WHERE event = 'refresh_token_reused' ORDER BY id DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	return reason
}
