package auth_test

import (
	"context"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

func TestCustomClaimsReachEveryIssueAndRefresh(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	set, err := env.Service.SetUserClaims(bg, "A@example.com", map[string]string{"X-Hasura-Org-Id": "7", "x-hasura-team": "blue"})
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 2 || set["x-hasura-org-id"] != "7" {
		t.Fatalf("set claims = %v", set)
	}
	check := func(what, accessToken string, want map[string]string) {
		t.Helper()
		v, err := env.Issuer.Verify(accessToken)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Custom) != len(want) {
			t.Fatalf("%s: custom claims %v, want %v", what, v.Custom, want)
		}
		for k, val := range want {
			if v.Custom[k] != val {
				t.Fatalf("%s: custom claims %v, want %v", what, v.Custom, want)
			}
		}
	}
	next := mustRefresh(t, env, p.RefreshToken)
	check("refresh", next.AccessToken, map[string]string{"x-hasura-org-id": "7", "x-hasura-team": "blue"})
	l, err := env.Service.Login(bg, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	check("login", l.AccessToken, map[string]string{"x-hasura-org-id": "7", "x-hasura-team": "blue"})
	if me, _ := env.Service.Me(authtest.As(l)); me.Claims["x-hasura-team"] != "blue" {
		t.Fatalf("me.claims = %v", me.Claims)
	}
	// Replacing, not merging.
	if _, err := env.Service.SetUserClaims(bg, "a@example.com", map[string]string{"x-hasura-org-id": "8"}); err != nil {
		t.Fatal(err)
	}
	check("after replace", mustRefresh(t, env, next.RefreshToken).AccessToken, map[string]string{"x-hasura-org-id": "8"})
}

func TestReservedAndMalformedClaimNamesAreRefused(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	if _, err := env.Service.SetUserClaims(bg, "a@example.com", map[string]string{"x-hasura-org-id": "7"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"x-hasura-user-id", "X-Hasura-Default-Role", "x-hasura-allowed-roles", "x-hasura-session-id",
		"x-hasura-role", "org-id", "x-hasura-", "x-hasura-a b", "sub",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := env.Service.SetUserClaims(bg, "a@example.com", map[string]string{name: "1"})
			wantCode(t, err, auth.CodeBadUserInput)
		})
	}
	_, err := env.Service.SetUserClaims(bg, "nobody@example.com", map[string]string{"x-hasura-org-id": "7"})
	wantCode(t, err, auth.CodeNotFound)
	// The refused calls changed nothing.
	u, err := env.Store.UserByEmail(bg, "a@example.com")
	if err != nil || len(u.Claims) != 1 || u.Claims["x-hasura-org-id"] != "7" {
		t.Fatalf("claims after refusals = %v, %v", u.Claims, err)
	}
}

// fakeCarrier is a RefreshTokenCarrier that remembers what it was told.
type fakeCarrier struct {
	incoming  string
	delivered string
	cleared   bool
}

func (f *fakeCarrier) Incoming() string                    { return f.incoming }
func (f *fakeCarrier) Deliver(tok string, _ time.Duration) { f.delivered = tok }
func (f *fakeCarrier) Clear()                              { f.cleared = true }

func TestCarrierDeliversAndSuppliesTheRefreshToken(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	c := &fakeCarrier{}
	ctx := auth.WithRefreshTokenCarrier(context.Background(), c)
	p, err := env.Service.Signup(ctx, "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The carrier, and only the carrier, gets it (issue 11.5).
	if c.delivered == "" || p.RefreshToken != "" || p.RefreshTokenInBody() != nil {
		t.Fatalf("signup delivered %q to the carrier and %q in the payload; want it in the carrier only", c.delivered, p.RefreshToken)
	}
	// An empty argument means the carrier's token.
	c2 := &fakeCarrier{incoming: c.delivered}
	next, err := env.Service.Refresh(auth.WithRefreshTokenCarrier(bg, c2), "")
	if err != nil {
		t.Fatal(err)
	}
	if c2.delivered == "" || c2.delivered == c.delivered || next.RefreshToken != "" {
		t.Fatal("refresh did not deliver the successor to the carrier alone")
	}
	// Without a carrier an empty token is just invalid.
	_, err = env.Service.Refresh(bg, "")
	wantCode(t, err, auth.CodeInvalidRefreshToken)

	c3 := &fakeCarrier{incoming: c2.delivered}
	if ok, err := env.Service.Revoke(auth.WithRefreshTokenCarrier(bg, c3), ""); !ok || err != nil || !c3.cleared {
		t.Fatalf("revoke via carrier: %v %v cleared=%v", ok, err, c3.cleared)
	}
	_, err = env.Service.Refresh(bg, c2.delivered)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
}
