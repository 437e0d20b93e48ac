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
// variables and a Cache-Control max-age bounded by AUTHGATE_WEBHOOK_CACHE and
// the token's remaining life, or 401; 503 when the token cannot be checked
// (the revocation feed and the database both down). It makes no database
// query while the revocation feed is current.
func (a *api) handleAuthHook(w http.ResponseWriter, r *http.Request) {
	header := r.Header.Get
	if r.Method == http.MethodPost {
		var body struct {
			Headers map[string]string `json:"headers"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "malformed webhook request"})
			return
		}
		lower := make(map[string]string, len(body.Headers))
		for k, v := range body.Headers {
			lower[strings.ToLower(k)] = v
		}
		header = func(name string) string { return lower[strings.ToLower(name)] }
	}
	raw, _ := bearerFrom(header("Authorization"))
	start := time.Now()
	session, err := a.auth.HasuraWebhookSession(r.Context(), raw, header("X-Hasura-Role"), a.cfg.WebhookCache)
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
	w.Header().Set("Cache-Control", "max-age="+strconv.Itoa(int(session.CacheFor/time.Second)))
	writeJSON(w, http.StatusOK, session.Variables)
}
