package admin_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"authgate/internal/admin"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/revocation"
)

type userPage struct {
	Users struct {
		TotalCount int
		Edges      []struct {
			Cursor string
			Node   struct{ ID, Email string }
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
}

const usersQuery = `query($s: String, $first: Int, $after: String) {
  users(search: $s, first: $first, after: $after) {
    totalCount edges { cursor node { id email } } pageInfo { hasNextPage endCursor } } }`

// addUsers inserts n users (emails prefix0…) straight into the database,
// ten at each instant from at on, so that pages must order ties by id.
func addUsers(t *testing.T, s *server, prefix string, n int, at time.Time) {
	t.Helper()
	if _, err := s.env.Store.DB().Exec(`INSERT INTO auth.users (email, password_hash, default_role, allowed_roles, created_at, updated_at)
		SELECT $1 || i || '@example.com', 'x', 'user', '{user}', $2::timestamptz + (i / 10) * interval '1 second', $2
		FROM generate_series(0, $3 - 1) i`, prefix, at, n); err != nil {
		t.Fatal(err)
	}
}

// Paging over 250 users, newest first: every user exactly once, in order,
// although users are created between the pages; totalCount counts them all.
func TestUsersPageStablyWhileUsersAreCreated(t *testing.T) {
	s := newServer(t, admin.Access{Secret: adminSecret})
	addUsers(t, s, "u", 250, authtest.Start.Add(-time.Hour))

	var want []string
	if err := s.env.Store.DB().Select(&want, `SELECT email FROM auth.users ORDER BY created_at DESC, id DESC`); err != nil {
		t.Fatal(err)
	}
	var (
		got   []string
		after any
		pages int
	)
	for {
		var page userPage
		s.call(t, asSecret, usersQuery, map[string]any{"first": 100, "after": after}).decode(t, &page)
		pages++
		if wantTotal := 250 + 5*(pages-1); page.Users.TotalCount != wantTotal {
			t.Fatalf("page %d: totalCount %d, want %d", pages, page.Users.TotalCount, wantTotal)
		}
		for _, e := range page.Users.Edges {
			got = append(got, e.Node.Email)
		}
		if !page.Users.PageInfo.HasNextPage {
			if page.Users.PageInfo.EndCursor == nil || *page.Users.PageInfo.EndCursor != page.Users.Edges[len(page.Users.Edges)-1].Cursor {
				t.Fatal("endCursor is not the last edge's cursor")
			}
			break
		}
		after = *page.Users.PageInfo.EndCursor
		// Newer users, between pages, and one as old as the page's last.
		addUsers(t, s, fmt.Sprintf("new%d-", pages), 5, authtest.Start.Add(time.Duration(pages)*time.Minute))
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Fatalf("%d pages, %d users; the pages do not list the 250 users newest first once each", pages, len(got))
	}

	// A search, with its own count; an email is searched lower-cased.
	var page userPage
	s.call(t, asSecret, usersQuery, map[string]any{"s": "U24", "first": 5}).decode(t, &page)
	if page.Users.TotalCount != 11 || len(page.Users.Edges) != 5 || !page.Users.PageInfo.HasNextPage {
		t.Fatalf("search u24: total %d, %d edges, more %v; want 11 (u24, u240…u249), 5, true",
			page.Users.TotalCount, len(page.Users.Edges), page.Users.PageInfo.HasNextPage)
	}
	// LIKE's wildcards match themselves.
	s.call(t, asSecret, usersQuery, map[string]any{"s": "%"}).decode(t, &page)
	if page.Users.TotalCount != 0 {
		t.Fatalf("search %%: %d users", page.Users.TotalCount)
	}
}

// deleteUser ends the user's sessions at once on every instance: its
// access token is refused right after, here and on another instance, and
// by an instance that starts later; its audit rows stay, found by the
// email it had.
func TestDeleteUserEndsItsSessionsEverywhereAtOnce(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.StartFeed(t)
	other := env.Instance(t)
	s := serve(t, env, admin.Access{Secret: adminSecret})
	victim := env.Signup(t, "victim@example.com", password)
	if _, err := other.Service.Authenticate(bg, victim.AccessToken); err != nil {
		t.Fatal(err)
	}

	if r := s.call(t, asSecret, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": victim.User.ID}); r.code() != "" {
		t.Fatal(r.Body)
	}
	if _, err := env.Service.Authenticate(bg, victim.AccessToken); auth.CodeOf(err) != auth.CodeUnauthenticated {
		t.Fatalf("the instance that deleted: %v", err)
	}
	waitUntil(t, other.Revocations, time.Second, func() bool {
		_, err := other.Service.Authenticate(bg, victim.AccessToken)
		return err != nil
	})
	if _, err := env.Service.Refresh(bg, victim.RefreshToken); auth.CodeOf(err) != auth.CodeInvalidRefreshToken {
		t.Fatalf("refresh after delete: %v", err)
	}
	later := env.Instance(t)
	if _, err := later.Service.Authenticate(bg, victim.AccessToken); auth.CodeOf(err) != auth.CodeUnauthenticated {
		t.Fatalf("an instance started after the delete: %v", err)
	}
	if dead, err := env.Store.Revoked(bg, auth.RevocationCheck{UserID: victim.User.ID, IssuedAt: env.Clock.Now()}); err != nil || !dead {
		t.Fatalf("the database's check: revoked %v (%v)", dead, err)
	}

	var trail struct {
		AuditEvents struct {
			TotalCount int
			Edges      []struct{ Node struct{ Event, Actor string } }
		}
	}
	s.call(t, asSecret, `{ auditEvents(email: "Victim@example.com") { totalCount edges { node { event actor } } } }`, nil).decode(t, &trail)
	if trail.AuditEvents.TotalCount != 2 || trail.AuditEvents.Edges[0].Node.Event != "user_deleted" ||
		trail.AuditEvents.Edges[0].Node.Actor != auth.ActorAdminSecret || trail.AuditEvents.Edges[1].Node.Event != "signup" {
		t.Fatalf("the deleted user's trail: %+v", trail.AuditEvents)
	}
	if r := s.call(t, asSecret, `query($id: ID) { user(id: $id) { id } }`, map[string]any{"id": victim.User.ID}); string(r.Data) != `{"user":null}` {
		t.Fatalf("user of the deleted: %s", r.Body)
	}
	// The address is free again, for a new account with a new id.
	if again := env.Signup(t, "victim@example.com", password); again.User.ID == victim.User.ID {
		t.Fatal("the new account has the deleted one's id")
	}
}

func waitUntil(t *testing.T, state *revocation.State, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(limit)
	for {
		changed := state.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("not converged within %s", limit)
		}
	}
}

// The trail pages newest first, stably while events are written; it
// filters by user, email, event, actor and instant; user shows a user with
// its sessions and last sign-in; stats counts.
func TestAuditEventsUserAndStats(t *testing.T) {
	s := newServer(t, admin.Access{Secret: adminSecret})
	ann := s.user(t, "ann@example.com", "user")
	for i := 0; i < 4; i++ {
		s.env.Clock.Advance(time.Minute)
		if _, err := s.env.Service.Login(bg, "ann@example.com", password, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.env.Service.Login(bg, "ann@example.com", "wrong password", nil); auth.CodeOf(err) != auth.CodeInvalidCredentials {
		t.Fatal(err)
	}
	// ann: user_created, 5 logins, 1 login_failed = 7 events.
	type trail struct {
		AuditEvents struct {
			TotalCount int
			Edges      []struct {
				Cursor string
				Node   struct {
					At     time.Time
					Event  string
					UserID *string
					IP     *string
					Detail map[string]any
				}
			}
			PageInfo struct {
				HasNextPage bool
				EndCursor   string
			}
		}
	}
	const q = `query($u: ID, $e: String, $ev: String, $a: String, $since: Time, $after: String) {
	  auditEvents(userId: $u, email: $e, event: $ev, actor: $a, since: $since, first: 3, after: $after) {
	    totalCount edges { cursor node { at event userId ip detail } } pageInfo { hasNextPage endCursor } } }`
	var events []string
	var after any
	for {
		var page trail
		s.call(t, asSecret, q, map[string]any{"u": ann.User.ID, "after": after}).decode(t, &page)
		if page.AuditEvents.TotalCount != 7 {
			t.Fatalf("totalCount %d, want 7", page.AuditEvents.TotalCount)
		}
		for _, e := range page.AuditEvents.Edges {
			events = append(events, e.Node.Event)
		}
		if !page.AuditEvents.PageInfo.HasNextPage {
			break
		}
		after = page.AuditEvents.PageInfo.EndCursor
		// A newer event between pages does not shift the next one.
		s.env.Clock.Advance(time.Second)
		if _, err := s.env.Service.Login(bg, "nobody@example.com", "wrong password", nil); auth.CodeOf(err) != auth.CodeInvalidCredentials {
			t.Fatal(err)
		}
	}
	if want := "login_failed login login login login login user_created"; strings.Join(events, " ") != want {
		t.Fatalf("ann's trail newest first: %s, want %s", strings.Join(events, " "), want)
	}
	var page trail
	s.call(t, asSecret, q, map[string]any{"e": "nobody@example.com"}).decode(t, &page)
	if page.AuditEvents.TotalCount != 2 || page.AuditEvents.Edges[0].Node.UserID != nil {
		t.Fatalf("attempts on an unknown email: %+v", page.AuditEvents)
	}
	s.call(t, asSecret, q, map[string]any{"ev": "login_failed"}).decode(t, &page)
	if page.AuditEvents.TotalCount != 3 {
		t.Fatalf("login_failed events: %d, want 3", page.AuditEvents.TotalCount)
	}
	s.call(t, asSecret, q, map[string]any{"u": ann.User.ID, "since": authtest.Start.Add(2*time.Minute + time.Second).Format(time.RFC3339)}).decode(t, &page)
	if page.AuditEvents.TotalCount != 3 {
		t.Fatalf("ann's events since the second login: %d, want 3", page.AuditEvents.TotalCount)
	}
	if _, err := s.env.Service.RevokeUserSessions(auth.WithActor(bg, auth.ActorAdminSecret), ann.User.ID); err != nil {
		t.Fatal(err)
	}
	s.call(t, asSecret, q, map[string]any{"a": "admin_secret"}).decode(t, &page)
	if page.AuditEvents.TotalCount != 1 || page.AuditEvents.Edges[0].Node.Event != "sessions_revoked" {
		t.Fatalf("the secret's events: %+v", page.AuditEvents)
	}

	// The user, with live and ended sessions.
	p, err := s.env.Service.Login(bg, "ann@example.com", password, nil)
	if err != nil {
		t.Fatal(err)
	}
	var u struct {
		User struct {
			ID, Email    string
			LastSignInAt time.Time
			Banned       bool
			Live         []struct{ ID string } `json:"live"`
			All          []struct {
				ID   string
				Live bool
			} `json:"all"`
		}
	}
	s.call(t, asSecret, `{ user(email: "ANN@example.com") { id email lastSignInAt banned
	  live: sessions { id } all: sessions(includeEnded: true) { id live } } }`, nil).decode(t, &u)
	if u.User.ID != ann.User.ID || len(u.User.Live) != 1 || u.User.Live[0].ID != p.SessionID || len(u.User.All) != 6 ||
		!u.User.LastSignInAt.Equal(s.env.Clock.Now()) {
		t.Fatalf("user: %+v", u.User)
	}
	// A list reads each user's facts only when asked for them.
	if _, err := s.env.Store.DB().Exec(`UPDATE auth.users SET email_verified_at = $1 WHERE id = $2`, authtest.Start, ann.User.ID); err != nil {
		t.Fatal(err)
	}
	var listed struct {
		Users struct {
			Edges []struct {
				Node struct {
					LastSignInAt    *time.Time
					EmailVerified   bool
					EmailVerifiedAt *time.Time
				}
			}
		}
	}
	s.call(t, asSecret, `{ users { edges { node { lastSignInAt emailVerified emailVerifiedAt } } } }`, nil).decode(t, &listed)
	if n := listed.Users.Edges[0].Node; n.LastSignInAt == nil || !n.LastSignInAt.Equal(s.env.Clock.Now()) || !n.EmailVerified ||
		n.EmailVerifiedAt == nil || !n.EmailVerifiedAt.Equal(authtest.Start) {
		t.Fatalf("users' facts: %+v", n)
	}
	if r := s.call(t, asSecret, `{ user(email: "nobody@example.com") { id } }`, nil); string(r.Data) != `{"user":null}` {
		t.Fatalf("user of nobody: %s", r.Body)
	}
	var sessions struct{ Sessions []struct{ ID string } }
	s.call(t, asSecret, `query($id: ID!) { sessions(userId: $id) { id } }`, map[string]any{"id": ann.User.ID}).decode(t, &sessions)
	if len(sessions.Sessions) != 1 {
		t.Fatalf("sessions: %+v", sessions)
	}

	var st struct {
		Stats struct {
			Users, LiveSessions, SignIns24h, FailedLogins24h, Lockouts24h int
			Refreshes24h                                                  *int
		}
	}
	s.call(t, asSecret, `{ stats { users liveSessions signIns24h refreshes24h failedLogins24h lockouts24h } }`, nil).decode(t, &st)
	if st.Stats.Users != 1 || st.Stats.LiveSessions != 1 || st.Stats.SignIns24h != 6 || st.Stats.FailedLogins24h != 3 || st.Stats.Refreshes24h != nil {
		t.Fatalf("stats: %+v", st.Stats)
	}
	s.env.Clock.Advance(25 * time.Hour)
	s.call(t, asSecret, `{ stats { users liveSessions signIns24h refreshes24h failedLogins24h lockouts24h } }`, nil).decode(t, &st)
	if st.Stats.SignIns24h != 0 || st.Stats.FailedLogins24h != 0 {
		t.Fatalf("stats a day later: %+v", st.Stats)
	}
}
