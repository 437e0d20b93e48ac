package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
	"authgate/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// actionSecret is the X-Action-Secret every test server expects.
const actionSecret = "test-action-secret-0123456789abcdef"

// payloadFields selects every field of an AuthPayload.
const payloadFields = `accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt sessionId
	user { id email defaultRole allowedRoles createdAt }`

// server is the whole HTTP surface over a real store and a fake clock.
type server struct {
	env *authtest.Env
	url string
	h   http.Handler
}

// newServer serves httpapi.New over a fresh environment, with the real
// GraphQL server, the real store as Pinger and cfg (ActionSecret defaults to
// actionSecret; set it to "-" to leave /actions off).
func newServer(t *testing.T, cfg httpapi.Config) *server {
	t.Helper()
	env := authtest.New(t, auth.Config{})
	switch cfg.ActionSecret {
	case "":
		cfg.ActionSecret = actionSecret
	case "-":
		cfg.ActionSecret = ""
	}
	h := httpapi.New(cfg, env.Service, graph.NewServer(env.Service, graph.Options{}), env.Store, discardLogger())
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &server{env: env, url: ts.URL, h: h}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// gqlError is one entry of a GraphQL response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// gqlResponse is a GraphQL answer, with its HTTP status and raw body.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	Status int             `json:"-"`
	Body   string          `json:"-"`
}

// code is the extensions.code of the only error, or "" when there is none.
func (r gqlResponse) code(t *testing.T) string {
	t.Helper()
	switch len(r.Errors) {
	case 0:
		return ""
	case 1:
		c, _ := r.Errors[0].Extensions["code"].(string)
		return c
	}
	t.Fatalf("want at most one error, got %s", r.Body)
	return ""
}

// into decodes data.<field> into dst, failing the test when the operation
// failed.
func (r gqlResponse) into(t *testing.T, field string, dst any) {
	t.Helper()
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		t.Fatalf("want success, got %d %s", r.Status, r.Body)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatalf("decoding data: %v in %s", err, r.Body)
	}
	raw, ok := data[field]
	if !ok {
		t.Fatalf("no data.%s in %s", field, r.Body)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		t.Fatalf("decoding data.%s: %v in %s", field, err, r.Body)
	}
}

// wantCode fails unless the operation failed with exactly this code.
func (r gqlResponse) wantCode(t *testing.T, code auth.Code) {
	t.Helper()
	if got := r.code(t); got != string(code) {
		t.Fatalf("want error code %s, got %q: %d %s", code, got, r.Status, r.Body)
	}
}

// graphql POSTs a GraphQL request with optional extra headers.
func (s *server) graphql(t *testing.T, query string, vars map[string]any, header ...string) gqlResponse {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	status, raw := s.do(t, http.MethodPost, "/graphql", body, append([]string{"Content-Type", "application/json"}, header...)...)
	return decodeGraphQL(t, status, raw)
}

func decodeGraphQL(t *testing.T, status int, raw []byte) gqlResponse {
	t.Helper()
	var r gqlResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("status %d: body is not a GraphQL response: %v: %s", status, err, raw)
	}
	r.Status, r.Body = status, string(raw)
	return r
}

// do sends one request; header holds name, value pairs.
func (s *server) do(t *testing.T, method, path string, body []byte, header ...string) (int, []byte) {
	t.Helper()
	resp := s.send(t, method, path, body, header...)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// send sends one request and returns the response with its body unread.
func (s *server) send(t *testing.T, method, path string, body []byte, header ...string) *http.Response {
	t.Helper()
	return sendRequest(t, method, s.url+path, body, header...)
}

// sendRequest sends one request to target (header: name, value pairs, each
// added) and returns the response with its body unread.
func sendRequest(t *testing.T, method, target string, body []byte, header ...string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return resp
}

// bearer returns the Authorization header pair for an access token.
func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// payload is an AuthPayload as the GraphQL door returns it.
type payload struct {
	AccessToken           string `json:"accessToken"`
	AccessTokenExpiresAt  string `json:"accessTokenExpiresAt"`
	RefreshToken          string `json:"refreshToken"`
	RefreshTokenExpiresAt string `json:"refreshTokenExpiresAt"`
	SessionID             string `json:"sessionId"`
	User                  struct {
		ID           string   `json:"id"`
		Email        string   `json:"email"`
		DefaultRole  string   `json:"defaultRole"`
		AllowedRoles []string `json:"allowedRoles"`
		CreatedAt    string   `json:"createdAt"`
	} `json:"user"`
}

// session is a Session as both doors return it.
type session struct {
	ID             string  `json:"id"`
	Description    *string `json:"description"`
	UserAgent      *string `json:"userAgent"`
	IP             *string `json:"ip"`
	CreatedAt      string  `json:"createdAt"`
	LastActivityAt string  `json:"lastActivityAt"`
	ExpiresAt      string  `json:"expiresAt"`
	Current        bool    `json:"current"`
}

const (
	signupMutation  = `mutation($email: String!, $password: String!, $description: String) { signup(email: $email, password: $password, description: $description) { ` + payloadFields + ` } }`
	loginMutation   = `mutation($identifier: String!, $password: String!, $description: String) { login(identifier: $identifier, password: $password, description: $description) { ` + payloadFields + ` } }`
	refreshMutation = `mutation($t: String!) { refreshToken(refreshToken: $t) { ` + payloadFields + ` } }`
	revokeMutation  = `mutation($t: String!) { revoke(refreshToken: $t) }`
	sessionsQuery   = `{ mySessions { id description userAgent ip createdAt lastActivityAt expiresAt current } }`
	meQuery         = `{ me { id email defaultRole allowedRoles createdAt } }`
)

// login signs in over GraphQL and fails the test on error.
func (s *server) login(t *testing.T, email, password string, header ...string) payload {
	t.Helper()
	var p payload
	s.graphql(t, loginMutation, map[string]any{"identifier": email, "password": password}, header...).into(t, "login", &p)
	return p
}

// signup signs up over GraphQL and fails the test on error.
func (s *server) signup(t *testing.T, email, password string, header ...string) payload {
	t.Helper()
	var p payload
	s.graphql(t, signupMutation, map[string]any{"email": email, "password": password}, header...).into(t, "signup", &p)
	return p
}

// sessions lists the caller's sessions over GraphQL.
func (s *server) sessions(t *testing.T, accessToken string) []session {
	t.Helper()
	var out []session
	s.graphql(t, sessionsQuery, nil, bearer(accessToken)...).into(t, "mySessions", &out)
	return out
}

// leaks are texts no answer to a client may contain.
var leaks = []string{"pq:", "SQL", "goroutine", "panic", ".go:"}

// assertSafe fails when an answer is a 5xx or shows internals.
func assertSafe(t *testing.T, status int, body []byte) {
	t.Helper()
	if status >= 500 {
		t.Errorf("status %d, want no 5xx: %.300s", status, body)
	}
	for _, l := range leaks {
		if strings.Contains(string(body), l) {
			t.Errorf("answer shows %q: %.300s", l, body)
		}
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// jwtClaims decodes a JWT's payload without checking its signature.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	var claims map[string]any
	if err := json.Unmarshal(authtest.JWTPayload(t, token), &claims); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return claims
}
