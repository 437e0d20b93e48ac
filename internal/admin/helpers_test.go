package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"authgate/graph"
	"authgate/internal/admin"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
	"authgate/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	adminSecret  = "test-admin-secret-0123456789abcdef0123"
	actionSecret = "test-action-secret-0123456789abcdef"
	password     = "correct horse"
)

var bg = context.Background()

// server is the whole HTTP surface (httpapi.New over the real GraphQL
// server, admin API and store), with a fake clock.
type server struct {
	env *authtest.Env
	url string
}

func newServer(t *testing.T, access admin.Access) *server {
	t.Helper()
	return serve(t, authtest.New(t, auth.Config{}), access)
}

func serve(t *testing.T, env *authtest.Env, access admin.Access) *server {
	t.Helper()
	if access.Roles == nil {
		access.Roles = []string{"admin"}
	}
	h := httpapi.New(httpapi.Config{ActionSecret: actionSecret, Admin: admin.NewAPI(env.Service, access)},
		env.Service, graph.NewServer(env.Service, graph.Options{}), env.Store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &server{env: env, url: ts.URL}
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

type response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	Body   string
}

// code is the first error's extensions.code ("" when none).
func (r response) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// decode unmarshals data into v, failing on errors.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %s", r.Body)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
}

// call posts one admin operation with headers (name, value pairs).
func (s *server) call(t *testing.T, headers []string, query string, vars map[string]any) response {
	t.Helper()
	return s.post(t, "/admin/graphql", headers, query, vars)
}

func (s *server) post(t *testing.T, path string, headers []string, query string, vars map[string]any) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "admin-test/1.0")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Body: string(raw)}
	_ = json.Unmarshal(raw, &out)
	return out
}

// asSecret are the headers of the secret's holder.
var asSecret = []string{admin.SecretHeader, adminSecret}

// bearer are the headers of a token's holder.
func bearer(token string, more ...string) []string {
	return append([]string{"Authorization", "Bearer " + token}, more...)
}

// user creates a user with these roles and signs it in.
func (s *server) user(t *testing.T, email, defaultRole string, allowed ...string) *auth.AuthPayload {
	t.Helper()
	if _, err := s.env.Service.AddUser(bg, email, password, defaultRole, allowed); err != nil {
		t.Fatal(err)
	}
	p, err := s.env.Service.Login(bg, email, password, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// auditRow is one audit_events row as a test reads it.
type auditRow struct {
	Event  string  `db:"event"`
	Actor  *string `db:"actor"`
	IP     *string `db:"ip"`
	UserID *string `db:"user_id"`
}

// lastAudit is the newest audit row of userID.
func (s *server) lastAudit(t *testing.T, userID string) auditRow {
	t.Helper()
	var r auditRow
	if err := s.env.Store.DB().Get(&r, `SELECT event, actor, ip, user_id::text FROM auth.audit_events
		WHERE user_id = $1 ORDER BY id DESC LIMIT 1`, userID); err != nil {
		t.Fatal(err)
	}
	return r
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
