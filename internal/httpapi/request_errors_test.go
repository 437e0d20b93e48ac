package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"authgate/internal/httpapi"
)

// errorCode reads the one error of an answer in either door's shape: a
// GraphQL errors list, or Hasura's {message, extensions} on /actions.
func errorCode(t *testing.T, path string, raw []byte) (code, message string) {
	t.Helper()
	if path == "/actions" {
		var e gqlError
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("not an action error: %v: %s", err, raw)
		}
		code, _ = e.Extensions["code"].(string)
		return code, e.Message
	}
	var r gqlResponse
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Errors) != 1 {
		t.Fatalf("not a GraphQL answer with one error (%v): %s", err, raw)
	}
	code, _ = r.Errors[0].Extensions["code"].(string)
	return code, r.Errors[0].Message
}

// TestEveryRequestErrorCarriesACode sends requests that fail before any
// operation runs (transport, body, parse, validation, routing) and checks
// that each answer is JSON with extensions.code, with the status and code
// documented in docs/api.md.
func TestEveryRequestErrorCarriesACode(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	jsonType := []string{"Content-Type", "application/json"}
	cases := []struct {
		name       string
		method     string
		path       string
		body       string
		header     []string
		wantStatus int
		wantCode   string
		wantText   string // in the message
	}{
		{"POST without Content-Type", "POST", "/graphql", `{"query":"{ me { id } }"}`, nil, 415, "BAD_USER_INPUT", "Content-Type: application/json"},
		{"POST as text/plain", "POST", "/graphql", `{"query":"{ me { id } }"}`, []string{"Content-Type", "text/plain"}, 415, "BAD_USER_INPUT", `got "text/plain"`},
		{"POST as application/graphql", "POST", "/graphql", `{ me { id } }`, []string{"Content-Type", "application/graphql"}, 415, "BAD_USER_INPUT", "application/json"},
		{"empty body", "POST", "/graphql", ``, jsonType, 400, "BAD_USER_INPUT", "empty"},
		{"batched body", "POST", "/graphql", `[{"query":"{ me { id } }"},{"query":"{ me { id } }"}]`, jsonType, 400, "BAD_USER_INPUT", "batched"},
		{"malformed JSON", "POST", "/graphql", `{"query": {bad`, jsonType, 400, "BAD_USER_INPUT", "not valid JSON"},
		{"JSON cut short", "POST", "/graphql", `{"query": "{ me { id } }"`, jsonType, 400, "BAD_USER_INPUT", "ends too early"},
		{"query that is a number", "POST", "/graphql", `{"query": 1}`, jsonType, 400, "BAD_USER_INPUT", `"query" must not be a JSON number`},
		{"body that is a string", "POST", "/graphql", `"{ me { id } }"`, jsonType, 400, "BAD_USER_INPUT", "must be a JSON object"},
		{"query that does not parse", "POST", "/graphql", `{"query":"{ me {"}`, jsonType, 422, "GRAPHQL_PARSE_FAILED", ""},
		{"unknown field", "POST", "/graphql", `{"query":"{ nope }"}`, jsonType, 422, "GRAPHQL_VALIDATION_FAILED", "nope"},
		{"unknown operation name", "POST", "/graphql", `{"query":"query A { me { id } }","operationName":"B"}`, jsonType, 422, "GRAPHQL_VALIDATION_FAILED", ""},
		{"variable of the wrong type", "POST", "/graphql", `{"query":"mutation($t: String!) { revoke(refreshToken: $t) }","variables":{"t":{"a":1}}}`, jsonType, 422, "GRAPHQL_VALIDATION_FAILED", ""},
		{"websocket upgrade", "GET", "/graphql?query=%7Bme%7Bid%7D%7D", ``, []string{"Upgrade", "websocket", "Connection", "Upgrade"}, 400, "BAD_USER_INPUT", "no websockets"},
		{"PUT /graphql", "PUT", "/graphql", `{}`, jsonType, 405, "BAD_USER_INPUT", "GET, HEAD, POST"},
		{"GET /actions", "GET", "/actions", ``, nil, 405, "BAD_USER_INPUT", "POST"},
		{"unknown path", "GET", "/v1/graphql", ``, nil, 404, "NOT_FOUND", "/graphql"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			resp := s.send(t, tc.method, tc.path, body, tc.header...)
			raw := readAll(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, raw)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			path, _, _ := strings.Cut(tc.path, "?")
			code, message := errorCode(t, path, raw)
			if code != tc.wantCode {
				t.Errorf("extensions.code %q, want %s: %s", code, tc.wantCode, raw)
			}
			if !strings.Contains(message, tc.wantText) {
				t.Errorf("message %q does not say %q", message, tc.wantText)
			}
			if tc.wantStatus == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

// TestMalformedBodyIsNotEchoedBack sends a body that breaks far from a
// password it carries: the answer quotes a short excerpt around the
// problem, never the body, whose secrets could end up in a client's logs.
func TestMalformedBodyIsNotEchoedBack(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	const secret = "correct-horse-battery-staple-secret"
	body := `{"variables":{"password":"` + secret + `"},"operationName":"SignIn","extensions":{},"query": mutation {}`
	status, raw := s.do(t, http.MethodPost, "/graphql", []byte(body), "Content-Type", "application/json")
	if status != http.StatusBadRequest {
		t.Errorf("status %d, want 400: %s", status, raw)
	}
	code, message := errorCode(t, "/graphql", raw)
	if code != "BAD_USER_INPUT" {
		t.Errorf("code %q, want BAD_USER_INPUT", code)
	}
	if strings.Contains(string(raw), "staple") {
		t.Errorf("the answer quotes the body's password: %s", raw)
	}
	if !strings.Contains(message, `mutation {}`) {
		t.Errorf("message %q does not show where the body goes wrong", message)
	}
	if len(message) > 200 {
		t.Errorf("message is %d bytes, want a short excerpt: %s", len(message), message)
	}
}
