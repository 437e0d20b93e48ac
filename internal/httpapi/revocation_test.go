package httpapi_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
	"authgate/internal/revocation"
	"authgate/internal/store"
)

// A token signed with the right key but living longer than this instance's
// AUTHGATE_ACCESS_TOKEN_TTL (another instance's, or an earlier setting's)
// is refused at every door that reads a bearer token: /graphql, /actions
// and the Hasura webhook. The instance's own tokens pass all three.
func TestTokensLivingLongerThanTheTTLAreRefusedAtEveryDoor(t *testing.T) {
	s := newServer(t, httpapi.Config{WebhookCache: 5 * time.Second})
	long := s.env.InstanceWith(t, authtest.InstanceOptions{AccessTokenTTL: time.Hour})
	longLived, err := long.Service.Signup(context.Background(), "a@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	own := s.login(t, "a@example.com", "correct horse")

	for _, tc := range []struct {
		name, token, userID, sessionID string
		accepted                       bool
	}{
		{"a 1h token at a 15m instance", longLived.AccessToken, longLived.User.ID, longLived.SessionID, false},
		{"the instance's own token", own.AccessToken, own.User.ID, own.SessionID, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.graphql(t, meQuery, nil, bearer(tc.token)...)
			if got := r.code(t); (got == "") != tc.accepted || (!tc.accepted && got != string(auth.CodeUnauthenticated)) {
				t.Errorf("/graphql me: %s", r.Body)
			}
			if status, _, _ := s.hook(t, http.MethodGet, map[string]string{"Authorization": "Bearer " + tc.token}); (status == http.StatusOK) != tc.accepted {
				t.Errorf("webhook: status %d", status)
			}
			// The bearer token is what names the token revokeAccessToken
			// denylists: one that is refused names nothing.
			vars := map[string]string{"x-hasura-role": "user", "x-hasura-user-id": tc.userID, "x-hasura-session-id": tc.sessionID}
			status, raw := s.action(t, "revokeAccessToken", map[string]any{}, vars, bearer(tc.token)...)
			if (status == http.StatusOK) != tc.accepted {
				t.Errorf("/actions revokeAccessToken: %d %s", status, raw)
			}
		})
	}
}

// While the revocation feed is down /readyz is red with the reason, and
// tokens are still checked (against the database). With the database down
// too, a bearer token cannot be checked: the webhook answers 503, not 401
// (the token may be good), and /graphql operations UNAVAILABLE.
func TestFeedDownIsNotReadyAndUncheckableTokensAreUnavailable(t *testing.T) {
	s := newServer(t, httpapi.Config{WebhookCache: 5 * time.Second})
	p := s.signup(t, "a@example.com", "correct horse")
	revocation.NewFeed(s.env.Revocations, s.env.Store, s.env.Clock, "postgres://127.0.0.1:1/none", discardLogger()) // never run
	status, raw := s.do(t, http.MethodGet, "/readyz", nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(string(raw), `"reason":"revocation feed is not connected"`) {
		t.Errorf("/readyz with the feed down: %d %s", status, raw)
	}
	if status, _, _ := s.hook(t, http.MethodGet, map[string]string{"Authorization": "Bearer " + p.AccessToken}); status != http.StatusOK {
		t.Errorf("webhook, checked against the database: %d", status)
	}

	// The same instance with its database gone as well.
	db, err := sqlx.Open("postgres", "postgres://postgres@"+closedAddress(t)+"/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := s.env
	svc := auth.New(store.New(db), e.Revocations, e.Issuer, e.Hasher, e.Keys, e.Clock, nil, e.Config)
	down := &server{env: e}
	ts := httptest.NewServer(httpapi.New(httpapi.Config{ActionSecret: actionSecret}, svc, graph.NewServer(svc, graph.Options{}), store.New(db), discardLogger()))
	t.Cleanup(ts.Close)
	down.url = ts.URL
	if status, _, _ := down.hook(t, http.MethodPost, map[string]string{"Authorization": "Bearer " + p.AccessToken}); status != http.StatusServiceUnavailable {
		t.Errorf("webhook with nothing to check against: %d, want 503", status)
	}
	down.graphql(t, meQuery, nil, bearer(p.AccessToken)...).wantCode(t, auth.CodeUnavailable)
	status, raw = down.action(t, "mySessions", map[string]any{}, map[string]string{
		"x-hasura-role": "user", "x-hasura-user-id": p.User.ID, "x-hasura-session-id": p.SessionID})
	// 424, not 503: Hasura passes only 4xx answers on to its client.
	if status != http.StatusFailedDependency || !strings.Contains(string(raw), `"code":"UNAVAILABLE"`) {
		t.Errorf("action for a session that cannot be checked: %d %s, want 424 UNAVAILABLE", status, raw)
	}
}

// closedAddress is a local address nothing listens on.
func closedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
