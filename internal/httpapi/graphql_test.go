package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
)

// TestGraphQLWalkThrough drives a user's whole life over POST /graphql:
// sign-up, sign-in, rotation with grace and theft detection, the caller's
// account and sessions, and every way of ending sessions.
func TestGraphQLWalkThrough(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	clk := s.env.Clock
	const pw = "correct horse battery"

	signedUp := s.signup(t, " Alice@Example.COM ", pw, "User-Agent", "ua-signup")
	if signedUp.User.Email != "alice@example.com" || signedUp.User.DefaultRole != "user" ||
		len(signedUp.User.AllowedRoles) != 1 || signedUp.User.AllowedRoles[0] != "user" {
		t.Fatalf("signup user = %+v, want alice@example.com with role user", signedUp.User)
	}
	if want := authtest.Start.Format(time.RFC3339); signedUp.User.CreatedAt != want {
		t.Errorf("createdAt = %q, want %q", signedUp.User.CreatedAt, want)
	}
	if want := authtest.Start.Add(15 * time.Minute).Format(time.RFC3339); signedUp.AccessTokenExpiresAt != want {
		t.Errorf("accessTokenExpiresAt = %q, want %q", signedUp.AccessTokenExpiresAt, want)
	}
	if want := authtest.Start.Add(30 * 24 * time.Hour).Format(time.RFC3339); signedUp.RefreshTokenExpiresAt != want {
		t.Errorf("refreshTokenExpiresAt = %q, want %q", signedUp.RefreshTokenExpiresAt, want)
	}

	clk.Advance(time.Minute)
	loggedIn := s.login(t, "ALICE@example.com", pw, "User-Agent", "ua-login")
	if loggedIn.User.ID != signedUp.User.ID || loggedIn.SessionID == signedUp.SessionID {
		t.Fatalf("login = user %s session %s, want user %s in a new session", loggedIn.User.ID, loggedIn.SessionID, signedUp.User.ID)
	}
	if claims := jwtClaims(t, loggedIn.AccessToken); claims["sub"] != loggedIn.User.ID || claims["sid"] != loggedIn.SessionID {
		t.Errorf("access token claims %v do not name the user and session", claims)
	}

	// Rotation, then a replay within grace: the identical successor.
	clk.Advance(time.Minute)
	var rotated, replayed payload
	s.graphql(t, refreshMutation, map[string]any{"t": loggedIn.RefreshToken}).into(t, "refreshToken", &rotated)
	if rotated.RefreshToken == loggedIn.RefreshToken || rotated.SessionID != loggedIn.SessionID {
		t.Fatalf("refresh gave token %q session %s, want a new token for session %s", rotated.RefreshToken, rotated.SessionID, loggedIn.SessionID)
	}
	clk.Advance(5 * time.Second)
	s.graphql(t, refreshMutation, map[string]any{"t": loggedIn.RefreshToken}).into(t, "refreshToken", &replayed)
	if replayed.RefreshToken != rotated.RefreshToken {
		t.Fatalf("replay within grace gave %q, want the same successor %q", replayed.RefreshToken, rotated.RefreshToken)
	}

	// Past grace the retired token is theft: the whole session ends.
	clk.Advance(11 * time.Second)
	s.graphql(t, refreshMutation, map[string]any{"t": loggedIn.RefreshToken}).wantCode(t, auth.CodeRefreshTokenReused)
	s.graphql(t, refreshMutation, map[string]any{"t": rotated.RefreshToken}).wantCode(t, auth.CodeInvalidRefreshToken)

	clk.Advance(time.Minute)
	current := s.login(t, "alice@example.com", pw, "User-Agent", "ua-current")

	var me struct {
		ID           string   `json:"id"`
		Email        string   `json:"email"`
		DefaultRole  string   `json:"defaultRole"`
		AllowedRoles []string `json:"allowedRoles"`
	}
	s.graphql(t, meQuery, nil, bearer(current.AccessToken)...).into(t, "me", &me)
	if me.ID != signedUp.User.ID || me.Email != "alice@example.com" || me.DefaultRole != "user" {
		t.Errorf("me = %+v, want alice", me)
	}

	// The reused session is gone; the sign-up and current ones live,
	// newest first, the caller's marked.
	sessions := s.sessions(t, current.AccessToken)
	if len(sessions) != 2 {
		t.Fatalf("mySessions = %+v, want the current and the sign-up session", sessions)
	}
	wantSessions := []struct {
		id, ua  string
		current bool
		created time.Time
	}{
		{current.SessionID, "ua-current", true, authtest.Start.Add(3*time.Minute + 16*time.Second)},
		{signedUp.SessionID, "ua-signup", false, authtest.Start},
	}
	for i, want := range wantSessions {
		got := sessions[i]
		if got.ID != want.id || got.Current != want.current {
			t.Errorf("session %d = %s current=%v, want %s current=%v", i, got.ID, got.Current, want.id, want.current)
		}
		if got.UserAgent == nil || *got.UserAgent != want.ua {
			t.Errorf("session %d userAgent = %v, want %q", i, got.UserAgent, want.ua)
		}
		if got.IP == nil || *got.IP != "127.0.0.1" {
			t.Errorf("session %d ip = %v, want 127.0.0.1", i, got.IP)
		}
		if got.CreatedAt != want.created.Format(time.RFC3339) {
			t.Errorf("session %d createdAt = %s, want %s", i, got.CreatedAt, want.created.Format(time.RFC3339))
		}
	}

	// Another user's session reads as missing, and stays alive.
	bob := s.signup(t, "bob@example.com", pw)
	for _, id := range []string{bob.SessionID, "00000000-0000-0000-0000-000000000000", "not-a-uuid"} {
		s.graphql(t, `mutation($id: ID!) { revokeSession(id: $id) }`, map[string]any{"id": id},
			bearer(current.AccessToken)...).wantCode(t, auth.CodeNotFound)
	}
	if got := s.sessions(t, bob.AccessToken); len(got) != 1 || got[0].ID != bob.SessionID {
		t.Fatalf("bob's sessions after alice's attempt = %+v, want his one session", got)
	}

	// revokeSession ends one of the caller's own sessions.
	var ok bool
	s.graphql(t, `mutation($id: ID!) { revokeSession(id: $id) }`, map[string]any{"id": signedUp.SessionID},
		bearer(current.AccessToken)...).into(t, "revokeSession", &ok)
	if !ok {
		t.Fatal("revokeSession of the caller's own session = false")
	}
	s.graphql(t, refreshMutation, map[string]any{"t": signedUp.RefreshToken}).wantCode(t, auth.CodeInvalidRefreshToken)

	// revokeAllSessions counts what it ended, the caller's own session too.
	clk.Advance(time.Minute)
	s.login(t, "alice@example.com", pw)
	var n int
	s.graphql(t, `mutation { revokeAllSessions }`, nil, bearer(current.AccessToken)...).into(t, "revokeAllSessions", &n)
	if n != 2 {
		t.Errorf("revokeAllSessions = %d, want 2", n)
	}
	s.graphql(t, refreshMutation, map[string]any{"t": current.RefreshToken}).wantCode(t, auth.CodeInvalidRefreshToken)

	// revoke (logout) is true for any token, and ends a real session.
	for name, tok := range map[string]string{
		"unknown token":   "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"garbage":         "not a token",
		"an access token": bob.AccessToken,
		"bob's token":     bob.RefreshToken,
	} {
		var revoked bool
		s.graphql(t, revokeMutation, map[string]any{"t": tok}).into(t, "revoke", &revoked)
		if !revoked {
			t.Errorf("revoke of %s = false, want true", name)
		}
	}
	s.graphql(t, refreshMutation, map[string]any{"t": bob.RefreshToken}).wantCode(t, auth.CodeInvalidRefreshToken)
}

// TestGraphQLErrorCodes checks the code of each failing sign-in and sign-up.
func TestGraphQLErrorCodes(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	const pw = "correct horse battery"
	s.signup(t, "carol@example.com", pw)
	disabled := s.signup(t, "dave@example.com", pw)
	if err := s.env.Service.SetUserDisabled(t.Context(), "dave@example.com", true); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		query string
		vars  map[string]any
		want  auth.Code
	}{
		{"wrong password", loginMutation, map[string]any{"identifier": "carol@example.com", "password": "wrong password"}, auth.CodeInvalidCredentials},
		{"unknown email", loginMutation, map[string]any{"identifier": "nobody@example.com", "password": pw}, auth.CodeInvalidCredentials},
		{"identifier that is no email", loginMutation, map[string]any{"identifier": "not an email", "password": pw}, auth.CodeInvalidCredentials},
		{"disabled user with the right password", loginMutation, map[string]any{"identifier": "dave@example.com", "password": pw}, auth.CodeUserDisabled},
		{"disabled user with a wrong password", loginMutation, map[string]any{"identifier": "dave@example.com", "password": "wrong password"}, auth.CodeInvalidCredentials},
		{"refresh of a disabled user's session", refreshMutation, map[string]any{"t": disabled.RefreshToken}, auth.CodeUserDisabled},
		{"taken email, other case", signupMutation, map[string]any{"email": "CAROL@example.com", "password": pw}, auth.CodeEmailTaken},
		{"short password", signupMutation, map[string]any{"email": "erin@example.com", "password": "short"}, auth.CodeWeakPassword},
		{"bad email", signupMutation, map[string]any{"email": "erin", "password": pw}, auth.CodeBadUserInput},
		{"refresh token of the wrong shape", refreshMutation, map[string]any{"t": "abc"}, auth.CodeInvalidRefreshToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.graphql(t, tc.query, tc.vars)
			r.wantCode(t, tc.want)
			assertSafe(t, r.Status, []byte(r.Body))
		})
	}
}

// TestOperationsNeedingACallerRefuseBadBearers sends every operation that
// needs a caller with each kind of missing or unusable access token.
func TestOperationsNeedingACallerRefuseBadBearers(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	const pw = "correct horse battery"
	old := s.signup(t, "frank@example.com", pw)
	s.env.Clock.Advance(15*time.Minute + time.Second)
	fresh := s.login(t, "frank@example.com", pw)

	operations := []struct{ name, query string }{
		{"me", meQuery},
		{"mySessions", sessionsQuery},
		{"revokeSession", `mutation { revokeSession(id: "` + old.SessionID + `") }`},
		{"revokeAllSessions", `mutation { revokeAllSessions }`},
		{"changePassword", `mutation { changePassword(oldPassword: "correct horse battery", newPassword: "another good one") { sessionId } }`},
	}
	credentials := []struct {
		name   string
		header []string
	}{
		{"no bearer token", nil},
		{"garbage token", bearer("garbage")},
		{"expired token", bearer(old.AccessToken)},
		{"refresh token as bearer", bearer(fresh.RefreshToken)},
		{"tampered token", bearer(fresh.AccessToken[:len(fresh.AccessToken)-2] + "xx")},
		{"other scheme", []string{"Authorization", "Basic " + fresh.AccessToken}},
		{"empty bearer", []string{"Authorization", "Bearer "}},
	}
	for _, op := range operations {
		for _, cred := range credentials {
			t.Run(op.name+"/"+cred.name, func(t *testing.T) {
				s.graphql(t, op.query, nil, cred.header...).wantCode(t, auth.CodeUnauthenticated)
			})
		}
	}

	// The same token, fresh, works: the refusals above are about the token.
	var sessions []session
	s.graphql(t, sessionsQuery, nil, bearer(fresh.AccessToken)...).into(t, "mySessions", &sessions)
	s.graphql(t, meQuery, nil, "Authorization", "bearer "+fresh.AccessToken).into(t, "me", new(map[string]any))
	if len(sessions) != 2 {
		t.Errorf("mySessions with a fresh token = %d sessions, want 2", len(sessions))
	}
}

// TestUnauthenticatedSaysWhyTheBearerFailed checks extensions.reason: a
// client that sent a bearer token learns whether to refresh it (expired) or
// to sign in again (invalid, revoked); one that sent none gets no reason.
func TestUnauthenticatedSaysWhyTheBearerFailed(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	const pw = "correct horse battery"
	old := s.signup(t, "rhea@example.com", pw)
	s.env.Clock.Advance(15*time.Minute + time.Second)
	fresh := s.login(t, "rhea@example.com", pw)
	revoked := s.login(t, "rhea@example.com", pw)
	if r := s.graphql(t, `mutation { revokeAccessToken }`, nil, bearer(revoked.AccessToken)...); r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("revokeAccessToken: %s", r.Body)
	}

	cases := []struct {
		name   string
		header []string
		reason any // nil: no reason
	}{
		{"expired token", bearer(old.AccessToken), "expired"},
		{"garbage token", bearer("garbage"), "invalid"},
		{"tampered token", bearer(fresh.AccessToken[:len(fresh.AccessToken)-2] + "xx"), "invalid"},
		{"refresh token as bearer", bearer(fresh.RefreshToken), "invalid"},
		{"revoked token", bearer(revoked.AccessToken), "revoked"},
		{"no bearer token", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.graphql(t, meQuery, nil, tc.header...)
			r.wantCode(t, auth.CodeUnauthenticated)
			if got := r.Errors[0].Extensions["reason"]; got != tc.reason {
				t.Errorf("extensions.reason = %v, want %v: %s", got, tc.reason, r.Body)
			}
		})
	}
}

// TestStaleBearerDoesNotStopSignIn checks that login and refreshToken work
// whatever unusable bearer token a client sends along.
func TestStaleBearerDoesNotStopSignIn(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	const pw = "correct horse battery"
	first := s.signup(t, "grace@example.com", pw)
	s.env.Clock.Advance(16 * time.Minute)
	for name, header := range map[string][]string{
		"expired token": bearer(first.AccessToken),
		"garbage token": bearer("garbage"),
	} {
		t.Run(name, func(t *testing.T) {
			p := s.login(t, "grace@example.com", pw, header...)
			var next payload
			s.graphql(t, refreshMutation, map[string]any{"t": p.RefreshToken}, header...).into(t, "refreshToken", &next)
			if next.SessionID != p.SessionID {
				t.Errorf("refresh moved to session %s, want %s", next.SessionID, p.SessionID)
			}
		})
	}
}
