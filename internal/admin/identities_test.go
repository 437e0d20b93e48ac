package admin_test

import (
	"testing"

	"authgate/internal/admin"
	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// The admin API's user lists its identities; a user made by a provider
// (without a password) reads like any other.
func TestAdminUserListsIdentities(t *testing.T) {
	cfg := authtest.DefaultConfig()
	cfg.Providers = []string{"google"}
	env := authtest.New(t, cfg)
	if _, err := env.Service.SignInWithIdentity(bg, auth.ExternalIdentity{Provider: "google", Subject: "g-1", Email: "a@example.com", EmailVerified: true}, nil); err != nil {
		t.Fatal(err)
	}
	s := serve(t, env, admin.Access{Secret: adminSecret})
	var u struct {
		User struct {
			Email         string
			EmailVerified bool
			Identities    []struct {
				Provider, Subject string
				Email             *string
			}
		}
	}
	s.call(t, asSecret, `{ user(email: "a@example.com") { email emailVerified identities { provider subject email createdAt } } }`, nil).decode(t, &u)
	ids := u.User.Identities
	if u.User.Email != "a@example.com" || !u.User.EmailVerified || len(ids) != 1 || ids[0].Provider != "google" || ids[0].Subject != "g-1" ||
		ids[0].Email == nil || *ids[0].Email != "a@example.com" {
		t.Fatalf("user %+v", u.User)
	}
}
