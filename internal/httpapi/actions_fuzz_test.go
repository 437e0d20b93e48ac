package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
)

// FuzzActionRequest sends arbitrary bodies to POST /actions, through the
// whole handler over a real store: whatever arrives, the answer is never a
// 5xx and never a panic, it is always JSON, and a refusal always carries
// {message, extensions: {code}}.
func FuzzActionRequest(f *testing.F) {
	env := authtest.New(f, auth.Config{})
	const pw = "correct horse battery"
	p := env.Signup(f, "fuzz@example.com", pw)
	const secret = "fuzz-action-secret"
	h := httpapi.New(httpapi.Config{ActionSecret: secret}, env.Service,
		graph.NewServer(env.Service, graph.Options{}), env.Store, slog.New(slog.NewTextHandler(io.Discard, nil)))

	user := map[string]string{"x-hasura-role": "user", "x-hasura-user-id": p.User.ID, "x-hasura-session-id": p.SessionID}
	seed := func(name string, input any, vars map[string]string) {
		b, err := json.Marshal(map[string]any{"action": map[string]any{"name": name}, "input": input,
			"session_variables": vars, "request_query": "mutation { " + name + " }"})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed("login", map[string]any{"identifier": "fuzz@example.com", "password": pw, "description": "phone"}, nil)
	seed("login", map[string]any{"identifier": "fuzz@example.com", "password": "wrong horse battery"}, nil)
	seed("signup", map[string]any{"email": "new@example.com", "password": pw}, nil)
	seed("refreshToken", map[string]any{"refreshToken": p.RefreshToken}, nil)
	seed("revoke", map[string]any{"refreshToken": "x"}, nil)
	seed("revokeSession", map[string]any{"id": p.SessionID}, user)
	seed("revokeAllSessions", nil, map[string]string{"x-hasura-user-id": "00000000-0000-0000-0000-000000000000"})
	seed("changePassword", map[string]any{"oldPassword": "wrong horse battery", "newPassword": "short"}, user)
	seed("revokeAccessToken", map[string]any{}, user)
	seed("me", nil, user)
	seed("mySessions", nil, map[string]string{"X-Hasura-User-Id": "not-a-uuid", "x-hasura-session-id": "' OR 1=1 --"})
	seed("nope", nil, nil)
	for _, raw := range []string{``, `{`, `null`, `[]`, `{"action":null}`, `{"action":{"name":1}}`, `{"action":{"name":"login"},"input":[1]}`,
		`{"action":{"name":"login"},"input":{"identifier":"a\u0000@x.com","password":"p"}}`,
		`{"action":{"name":"signup"},"input":{"email":"ann@example.com","password":"correct horse battery","description":"\u0000"}}`,
		`{"action":{"name":"login"},"input":{"identifier":"fuzz@example.com","password":"` + pw + `"},"session_variables":{"x-hasura-user-id":"\ud800"}}`,
		`{"action":{"name":"me"}} trailing`,
	} {
		f.Add([]byte(raw))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/actions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Action-Secret", secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		raw := rec.Body.Bytes()
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, raw)
		}
		if !json.Valid(raw) {
			t.Fatalf("status %d, answer is not JSON for %q: %q", rec.Code, body, raw)
		}
		if rec.Code == http.StatusOK {
			return
		}
		var e struct {
			Message    string `json:"message"`
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Message == "" || e.Extensions.Code == "" || e.Extensions.Code == string(auth.CodeInternal) {
			t.Fatalf("status %d, refusal without message and client code for %q: %s", rec.Code, body, raw)
		}
	})
}
