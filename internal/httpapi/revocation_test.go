package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
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
