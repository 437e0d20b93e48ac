package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"authgate/internal/admin"
	"authgate/internal/auth"
)

const statsQuery = `{ stats { users liveSessions } }`

// Every kind of caller, and what it gets.
func TestWhoMayCallTheAdminAPI(t *testing.T) {
	s := newServer(t, admin.Access{Secret: adminSecret, Roles: []string{"admin", "ops"}})
	root := s.user(t, "root@example.com", "admin")
	ops := s.user(t, "ops@example.com", "user", "ops")
	plain := s.user(t, "plain@example.com", "user")
	ended := s.user(t, "ended@example.com", "admin")
	if err := s.env.Service.EndSession(bg, ended.SessionID); err != nil {
		t.Fatal(err)
	}
	demoted := s.user(t, "demoted@example.com", "admin")
	if err := s.env.Service.SetUserRoles(bg, "demoted@example.com", "user", nil); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		headers []string
		status  int
		code    string
	}{
		{"the admin secret", asSecret, http.StatusOK, ""},
		{"a wrong admin secret", []string{admin.SecretHeader, adminSecret + "x"}, http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"an empty admin secret", []string{admin.SecretHeader, ""}, http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"a wrong secret beside an admin token", append([]string{admin.SecretHeader, "nope"}, bearer(root.AccessToken)...), http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"no credentials", nil, http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"a token that is not one", bearer("not.a.token"), http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"an admin's token", bearer(root.AccessToken), http.StatusOK, ""},
		{"an admin's token acting as admin", bearer(root.AccessToken, "X-Hasura-Role", "admin"), http.StatusOK, ""},
		{"an admin's token acting as a role it lacks", bearer(root.AccessToken, "X-Hasura-Role", "ops"), http.StatusForbidden, "FORBIDDEN"},
		{"a token asking for an admin role it has", bearer(ops.AccessToken, "X-Hasura-Role", "ops"), http.StatusOK, ""},
		{"that token with its default role", bearer(ops.AccessToken), http.StatusForbidden, "FORBIDDEN"},
		{"that token asking for a non-admin role it has", bearer(ops.AccessToken, "X-Hasura-Role", "user"), http.StatusForbidden, "FORBIDDEN"},
		{"a user's token", bearer(plain.AccessToken), http.StatusForbidden, "FORBIDDEN"},
		{"a user's token asking for admin", bearer(plain.AccessToken, "X-Hasura-Role", "admin"), http.StatusForbidden, "FORBIDDEN"},
		{"an admin token of a revoked session", bearer(ended.AccessToken), http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"a demoted admin's unexpired token", bearer(demoted.AccessToken), http.StatusForbidden, "FORBIDDEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.call(t, tc.headers, statsQuery, nil)
			if r.Status != tc.status || r.code() != tc.code {
				t.Fatalf("status %d code %q, want %d %q: %s", r.Status, r.code(), tc.status, tc.code, r.Body)
			}
		})
	}

	t.Run("an admin token of a revoked session, by reason", func(t *testing.T) {
		r := s.call(t, bearer(ended.AccessToken), statsQuery, nil)
		if reason := r.Errors[0].Extensions["reason"]; reason != auth.ReasonRevoked {
			t.Fatalf("reason %v, want %s", reason, auth.ReasonRevoked)
		}
	})
}

func TestTheSecretPathIsOffWithoutASecret(t *testing.T) {
	s := newServer(t, admin.Access{})
	r := s.call(t, []string{admin.SecretHeader, adminSecret}, statsQuery, nil)
	if r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" || !strings.Contains(r.Errors[0].Message, "AUTHGATE_ADMIN_SECRET") {
		t.Fatalf("secret with none configured: %d %s", r.Status, r.Body)
	}
	root := s.user(t, "root@example.com", "admin")
	if r := s.call(t, bearer(root.AccessToken), statsQuery, nil); r.Status != http.StatusOK || r.code() != "" {
		t.Fatalf("admin token with no secret configured: %d %s", r.Status, r.Body)
	}
}

// The admin operations exist only on /admin/graphql: not on /graphql, not
// through Hasura's /actions, and /admin/graphql takes no GET.
func TestTheAdminAPIIsReachableOnlyOnItsOwnPath(t *testing.T) {
	s := newServer(t, admin.Access{Secret: adminSecret})
	root := s.user(t, "root@example.com", "admin")
	if r := s.post(t, "/graphql", bearer(root.AccessToken), `{ stats { users } }`, nil); r.code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("stats on /graphql: %d %s", r.Status, r.Body)
	}
	for _, action := range []string{"deleteUser", "users", "banUser", "stats"} {
		body := map[string]any{"action": map[string]any{"name": action}, "input": map[string]any{"id": root.User.ID},
			"session_variables": map[string]any{"x-hasura-role": "admin", "x-hasura-user-id": root.User.ID}}
		req, _ := http.NewRequest(http.MethodPost, s.url+"/actions", strings.NewReader(mustJSON(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Action-Secret", actionSecret)
		req.Header.Set(admin.SecretHeader, adminSecret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode < 400 {
			t.Errorf("/actions %s answered %d", action, res.StatusCode)
		}
	}
	if _, err := s.env.Service.User(bg, root.User.ID, ""); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(s.url + "/admin/graphql?query=%7Bstats%7Busers%7D%7D")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode < 400 {
		t.Fatalf("GET /admin/graphql answered %d", res.StatusCode)
	}
	var users int
	if err := s.env.Store.DB().Get(&users, `SELECT count(*) FROM auth.users`); err != nil || users != 1 {
		t.Fatalf("%d users (%v): an action deleted one", users, err)
	}

}
