package auth_test

import (
	"testing"

	"authgate/internal/auth"
)

// Identity-link CSRF: an attacker asks for a link to their own account and
// has a victim's browser open it (a victim signed in at the provider comes
// straight back). The link only works from the network that asked for it
// (IPv4 /24, IPv6 /64), so the victim's identity is not linked to the
// attacker's account: refused at /start and, had the flow begun anyway, at
// the callback, where the token is spent.
func TestAnIdentityLinkOnlyWorksFromTheNetworkThatAskedForIt(t *testing.T) {
	env := providerEnv(t)
	attacker := env.Signup(t, "mallory@example.com", "correct horse")
	link := func(ip string) string {
		t.Helper()
		u, err := env.Service.StartIdentityLink(from(ip), attacker.User.ID, "google", "https://app.example.com/settings", nil)
		if err != nil {
			t.Fatal(err)
		}
		return linkToken(t, u)
	}

	token := link("198.51.100.20")
	_, err := env.Service.CheckIdentityLink(from("203.0.113.9"), token)
	wantCode(t, err, auth.CodeInvalidAuthCode)
	_, err = env.Service.IssueAuthCode(from("203.0.113.9"), google("victim-1", "victim@example.com", true), token, "")
	wantCode(t, err, auth.CodeInvalidAuthCode)
	if ids, err := env.Service.Identities(bg, attacker.User.ID); err != nil || len(ids) != 0 {
		t.Fatalf("the attacker's account holds %v (%v)", ids, err)
	}
	// Spent by the refused callback: not even its own network can use it now.
	_, err = env.Service.CheckIdentityLink(from("198.51.100.20"), token)
	wantCode(t, err, auth.CodeInvalidAuthCode)

	// The network that asked: another address of its /24 (a NAT pool), and
	// an IPv6 client within its /64 (privacy addresses change the rest).
	token = link("198.51.100.20")
	if p, err := env.Service.CheckIdentityLink(from("198.51.100.77"), token); err != nil || p != "google" {
		t.Fatalf("the same /24: %q, %v", p, err)
	}
	if _, err := env.Service.IssueAuthCode(from("198.51.100.77"), google("own-1", "mallory@example.com", true), token, ""); err != nil {
		t.Fatalf("the callback from the same /24: %v", err)
	}
	attacker2 := env.Signup(t, "mallory2@example.com", "correct horse")
	u, err := env.Service.StartIdentityLink(from("2001:db8:1:2::10"), attacker2.User.ID, "google", "https://app.example.com/settings", nil)
	if err != nil {
		t.Fatal(err)
	}
	token = linkToken(t, u)
	if _, err := env.Service.CheckIdentityLink(from("2001:db8:1:3::10"), token); auth.CodeOf(err) != auth.CodeInvalidAuthCode {
		t.Fatalf("another /64: %v", err)
	}
	if _, err := env.Service.IssueAuthCode(from("2001:db8:1:2:aaaa::1"), google("own-2", "mallory2@example.com", true), token, ""); err != nil {
		t.Fatalf("the callback from the same /64: %v", err)
	}
}
