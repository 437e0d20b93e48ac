package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"authgate/internal/auth"
)

// handleAuthHook is Hasura's authentication webhook (HASURA_GRAPHQL_AUTH_HOOK)
// in both of Hasura's modes: GET with the client's headers, or POST with
// {"headers": {...}, "request": {...}}. It answers 200 with the session
// variables and a max-age bounded by AUTHGATE_WEBHOOK_CACHE and the token's
// remaining life, or 401; 503 when the token cannot be checked (the
// revocation feed and the database both down). It reads the token where the
// JWT config's "header" says clients carry it. It makes no database query
// while the revocation feed is current.
//
// POST mode's "request" is the client's GraphQL request (query, variables,
// operation name, or a batch of them). authgate ignores it: it decides on
// the token alone. A webhook could use it to decide per operation (say, let
// the anonymous role ask only for login and signup).
func (a *api) handleAuthHook(w http.ResponseWriter, r *http.Request) {
	header := r.Header.Values
	if r.Method == http.MethodPost {
		var body struct {
			Headers map[string]string `json:"headers"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "malformed webhook request"})
			return
		}
		// Hasura sends the names as the client wrote them.
		lower := make(map[string]string, len(body.Headers))
		for k, v := range body.Headers {
			lower[strings.ToLower(k)] = v
		}
		header = func(name string) []string {
			if v, ok := lower[strings.ToLower(name)]; ok {
				return []string{v}
			}
			return nil
		}
	}
	raw, presented := a.cfg.AccessToken.find(header)
	var role string
	if v := header("X-Hasura-Role"); len(v) > 0 {
		role = v[0]
	}
	start := time.Now()
	session, err := a.auth.HasuraWebhookSession(r.Context(),
		auth.WebhookRequest{AccessToken: raw, TokenPresented: presented, RequestedRole: role},
		auth.WebhookPolicy{MaxCache: a.cfg.WebhookCache, AnonymousRole: a.cfg.WebhookAnonymousRole})
	a.cfg.Metrics.Observe("hasura_auth", auth.OutcomeOf(err), time.Since(start))
	if auth.CodeOf(err) == auth.CodeUnavailable {
		// Not 401: the token may well be good; Hasura fails the request.
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "unavailable"})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "unauthorized"})
		return
	}
	if session.Anonymous {
		writeJSON(w, http.StatusOK, session.Variables)
		return
	}
	// Hasura reads the expiry from the body (Server/Auth/WebHook.hs); the
	// header is for any HTTP cache in between.
	maxAge := "max-age=" + strconv.Itoa(int(session.CacheFor/time.Second))
	w.Header().Set("Cache-Control", maxAge)
	session.Variables["Cache-Control"] = maxAge // a fresh map per answer
	writeJSON(w, http.StatusOK, session.Variables)
}
