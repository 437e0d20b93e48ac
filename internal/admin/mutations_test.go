package admin_test

import (
	"fmt"
	"testing"
	"time"

	"authgate/internal/admin"
	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// Every mutation refuses what the command line's command refuses, with the
// same code: both call the same auth.Service method (the CLI names the
// user by email, the API by id).
func TestMutationsRefuseWhatTheCLIRefuses(t *testing.T) {
	s := newServer(t, admin.Access{Secret: adminSecret})
	ann := s.user(t, "ann@example.com", "user")
	s.user(t, "bob@example.com", "user")
	id := ann.User.ID
	missing := "00000000-0000-4000-8000-000000000000"
	past := authtest.Start.Add(-time.Hour).Format(time.RFC3339)
	future := authtest.Start.Add(time.Hour).Format(time.RFC3339)

	cases := []struct {
		name  string
		query string
		vars  map[string]any
		code  auth.Code
		// cli is what the command line's service call answers.
		cli func() error
	}{
		{"createUser with a taken email", `mutation($e: String!) { createUser(email: $e, password: "correct horse") { id } }`,
			map[string]any{"e": "ANN@example.com"}, auth.CodeEmailTaken,
			func() error { _, err := s.env.Service.AddUser(bg, "ANN@example.com", password, "", nil); return err }},
		{"createUser with a weak password", `mutation { createUser(email: "new@example.com", password: "short") { id } }`,
			nil, auth.CodeWeakPassword,
			func() error { _, err := s.env.Service.AddUser(bg, "new@example.com", "short", "", nil); return err }},
		{"createUser with a bad email", `mutation { createUser(email: "nobody", password: "correct horse") { id } }`,
			nil, auth.CodeBadUserInput,
			func() error { _, err := s.env.Service.AddUser(bg, "nobody", password, "", nil); return err }},
		{"createUser with a bad role", `mutation { createUser(email: "new@example.com", password: "correct horse", defaultRole: "a b") { id } }`,
			nil, auth.CodeBadUserInput,
			func() error { _, err := s.env.Service.AddUser(bg, "new@example.com", password, "a b", nil); return err }},
		{"updateUser of nobody", `mutation($id: ID!) { updateUser(id: $id, disabled: true) { id } }`,
			map[string]any{"id": missing}, auth.CodeNotFound,
			func() error { return s.env.Service.SetUserDisabled(bg, "nobody@example.com", true) }},
		{"updateUser with a bad role", `mutation($id: ID!) { updateUser(id: $id, defaultRole: "x;y") { id } }`,
			map[string]any{"id": id}, auth.CodeBadUserInput,
			func() error { return s.env.Service.SetUserRoles(bg, "ann@example.com", "x;y", nil) }},
		{"updateUser with a claim that is not x-hasura-*", `mutation($id: ID!, $c: JSON) { updateUser(id: $id, claims: $c) { id } }`,
			map[string]any{"id": id, "c": map[string]any{"org": "7"}}, auth.CodeBadUserInput,
			func() error {
				_, err := s.env.Service.SetUserClaims(bg, "ann@example.com", map[string]string{"org": "7"})
				return err
			}},
		{"updateUser with a reserved x-hasura claim", `mutation($id: ID!, $c: JSON) { updateUser(id: $id, claims: $c) { id } }`,
			map[string]any{"id": id, "c": map[string]any{"x-hasura-user-id": "7"}}, auth.CodeBadUserInput,
			func() error {
				_, err := s.env.Service.SetUserClaims(bg, "ann@example.com", map[string]string{"x-hasura-user-id": "7"})
				return err
			}},
		{"updateUser to a taken email", `mutation($id: ID!) { updateUser(id: $id, email: "bob@example.com") { id } }`,
			map[string]any{"id": id}, auth.CodeEmailTaken, nil},
		{"updateUser by email, not id", `mutation { updateUser(id: "ann@example.com", disabled: true) { id } }`,
			nil, auth.CodeNotFound, nil},
		{"setUserPassword too short", `mutation($id: ID!) { setUserPassword(id: $id, password: "short") }`,
			map[string]any{"id": id}, auth.CodeWeakPassword,
			func() error { _, err := s.env.Service.SetUserPassword(bg, "ann@example.com", "short"); return err }},
		{"setUserPassword of nobody", `mutation($id: ID!) { setUserPassword(id: $id, password: "correct horse") }`,
			map[string]any{"id": missing}, auth.CodeNotFound,
			func() error { _, err := s.env.Service.SetUserPassword(bg, "nobody@example.com", password); return err }},
		{"banUser until the past", `mutation($id: ID!, $u: Time!) { banUser(id: $id, until: $u) }`,
			map[string]any{"id": id, "u": past}, auth.CodeBadUserInput,
			func() error {
				_, err := s.env.Service.BanUser(bg, "ann@example.com", authtest.Start.Add(-time.Hour), "")
				return err
			}},
		{"banUser with an oversized reason", `mutation($id: ID!, $u: Time!, $r: String) { banUser(id: $id, until: $u, reason: $r) }`,
			map[string]any{"id": id, "u": future, "r": fmt.Sprintf("%0501d", 0)}, auth.CodeBadUserInput,
			func() error {
				_, err := s.env.Service.BanUser(bg, "ann@example.com", authtest.Start.Add(time.Hour), fmt.Sprintf("%0501d", 0))
				return err
			}},
		{"banUser of nobody", `mutation($id: ID!, $u: Time!) { banUser(id: $id, until: $u) }`,
			map[string]any{"id": missing, "u": future}, auth.CodeNotFound,
			func() error {
				_, err := s.env.Service.BanUser(bg, "nobody@example.com", authtest.Start.Add(time.Hour), "")
				return err
			}},
		{"unbanUser of nobody", `mutation($id: ID!) { unbanUser(id: $id) { id } }`,
			map[string]any{"id": missing}, auth.CodeNotFound,
			func() error { return s.env.Service.UnbanUser(bg, "nobody@example.com") }},
		{"revokeUserSessions of nobody", `mutation($id: ID!) { revokeUserSessions(id: $id) }`,
			map[string]any{"id": missing}, auth.CodeNotFound,
			func() error { _, err := s.env.Service.RevokeUserSessions(bg, "nobody@example.com"); return err }},
		{"revokeSession of no session", `mutation($id: ID!) { revokeSession(id: $id) }`,
			map[string]any{"id": missing}, auth.CodeNotFound, nil},
		{"revokeSession of a malformed id", `mutation { revokeSession(id: "x") }`, nil, auth.CodeNotFound, nil},
		{"deleteUser of nobody", `mutation($id: ID!) { deleteUser(id: $id) }`,
			map[string]any{"id": missing}, auth.CodeNotFound, nil},
		{"users with first out of range", `{ users(first: 0) { totalCount } }`, nil, auth.CodeBadUserInput, nil},
		{"users with a forged cursor", `{ users(after: "bm90IGEgY3Vyc29y") { totalCount } }`, nil, auth.CodeBadUserInput, nil},
		{"auditEvents with a malformed email", `{ auditEvents(email: "nobody") { totalCount } }`, nil, auth.CodeBadUserInput, nil},
		{"user with neither id nor email", `{ user { id } }`, nil, auth.CodeBadUserInput, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.call(t, asSecret, tc.query, tc.vars)
			if r.code() != string(tc.code) {
				t.Fatalf("code %q, want %s: %s", r.code(), tc.code, r.Body)
			}
			if tc.cli != nil {
				if code := auth.CodeOf(tc.cli()); code != tc.code {
					t.Fatalf("the CLI's call answers %s, the API %s", code, tc.code)
				}
			}
		})
	}
	// Nothing above changed anyone.
	var changed int
	if err := s.env.Store.DB().Get(&changed, `SELECT count(*) FROM auth.audit_events WHERE actor IS NOT NULL`); err != nil || changed != 0 {
		t.Fatalf("%d audit rows by an administrator (%v), want 0", changed, err)
	}
}

// Every mutation works, and is recorded with who did it and from where:
// the admin's user id for a token, admin_secret for the secret.
func TestEveryMutationIsAuditedWithItsActor(t *testing.T) {
	s := newServer(t, admin.Access{Secret: adminSecret})
	root := s.user(t, "root@example.com", "admin")
	asRoot := bearer(root.AccessToken)

	var created struct {
		CreateUser struct{ ID, Email, DefaultRole string }
	}
	s.call(t, asRoot, `mutation { createUser(email: " Carl@Example.com ", password: "correct horse", defaultRole: "editor", allowedRoles: ["user"]) { id email defaultRole } }`, nil).decode(t, &created)
	id := created.CreateUser.ID
	if created.CreateUser.Email != "carl@example.com" || created.CreateUser.DefaultRole != "editor" {
		t.Fatalf("created %+v", created.CreateUser)
	}
	wantAudit(t, s, id, "user_created", root.User.ID)

	carl, err := s.env.Service.Login(bg, "carl@example.com", password, nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		query, event string
		as           []string
	}{
		{`mutation($id: ID!) { updateUser(id: $id, defaultRole: "user", allowedRoles: ["user", "editor"]) { defaultRole allowedRoles } }`, "roles_changed", asRoot},
		{`mutation($id: ID!) { updateUser(id: $id, email: "carl2@example.com") { email } }`, "email_changed", asSecret},
		{`mutation($id: ID!) { updateUser(id: $id, disabled: true) { disabled } }`, "disabled", asRoot},
		{`mutation($id: ID!) { updateUser(id: $id, disabled: false) { disabled } }`, "enabled", asSecret},
		{`mutation($id: ID!) { setUserPassword(id: $id, password: "battery staple") }`, "password_changed", asRoot},
		{`mutation($id: ID!) { banUser(id: $id, until: "2031-01-01T00:00:00Z", reason: "spam") }`, "banned", asSecret},
		{`mutation($id: ID!) { unbanUser(id: $id) { banned } }`, "unbanned", asRoot},
		{`mutation($id: ID!) { revokeUserSessions(id: $id) }`, "sessions_revoked", asSecret},
	}
	for _, step := range steps {
		r := s.call(t, step.as, step.query, map[string]any{"id": id})
		if r.code() != "" {
			t.Fatalf("%s: %s", step.event, r.Body)
		}
		actor := auth.ActorAdminSecret
		if step.as[0] == "Authorization" {
			actor = root.User.ID
		}
		wantAudit(t, s, id, step.event, actor)
	}
	r := s.call(t, asRoot, `mutation($id: ID!, $c: JSON) { updateUser(id: $id, claims: $c) { claims } }`,
		map[string]any{"id": id, "c": map[string]any{"X-Hasura-Org-Id": "7"}})
	if r.code() != "" || string(r.Data) != `{"updateUser":{"claims":{"x-hasura-org-id":"7"}}}` {
		t.Fatalf("claims: %s", r.Body)
	}
	wantAudit(t, s, id, "claims_changed", root.User.ID)

	// One session, ended by id; then the user, deleted.
	p, err := s.env.Service.Login(bg, "carl2@example.com", "battery staple", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.call(t, asSecret, `mutation($id: ID!) { revokeSession(id: $id) }`, map[string]any{"id": p.SessionID}); string(r.Data) != `{"revokeSession":true}` {
		t.Fatalf("revokeSession: %s", r.Body)
	}
	wantAudit(t, s, id, "session_revoked", auth.ActorAdminSecret)
	if r := s.call(t, asSecret, `mutation($id: ID!) { revokeSession(id: $id) }`, map[string]any{"id": p.SessionID}); r.code() != "NOT_FOUND" {
		t.Fatalf("revokeSession twice: %s", r.Body)
	}
	if r := s.call(t, asRoot, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": id}); string(r.Data) != `{"deleteUser":true}` {
		t.Fatalf("deleteUser: %s", r.Body)
	}
	wantAudit(t, s, id, "user_deleted", root.User.ID)
	_ = carl

	// The CLI's own changes carry its actor.
	if _, err := s.env.Service.RevokeUserSessions(auth.WithActor(bg, auth.ActorCLI), "root@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := s.lastAudit(t, root.User.ID); got.Actor == nil || *got.Actor != "cli" {
		t.Fatalf("the CLI's row: %+v", got)
	}
}

// wantAudit fails unless userID's newest audit row is event by actor, from
// the test client's address.
func wantAudit(t *testing.T, s *server, userID, event, actor string) {
	t.Helper()
	got := s.lastAudit(t, userID)
	if got.Event != event || got.Actor == nil || *got.Actor != actor || got.IP == nil || *got.IP != "127.0.0.1" {
		t.Fatalf("newest audit row %s by %v from %v, want %s by %s from 127.0.0.1", got.Event, deref(got.Actor), deref(got.IP), event, actor)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}
