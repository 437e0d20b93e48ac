package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
)

// TestRequestLogNamesTheOperationAndOutcome checks that the access log line
// of each request says which operation it was and how it ended, not just
// the HTTP status (GraphQL answers 200 for most failures).
func TestRequestLogNamesTheOperationAndOutcome(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "lena@example.com", "correct horse battery")
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	h := httpapi.New(httpapi.Config{ActionSecret: actionSecret}, env.Service, graph.NewServer(env.Service, graph.Options{}), env.Store, logger)

	login := `mutation SignIn($e: String!, $p: String!) { login(identifier: $e, password: $p) { sessionId } }`
	cases := []struct {
		name          string
		path, body    string
		header        []string
		operation     string
		operationName string
		code          string
	}{
		{"GraphQL sign-in", "/graphql", string(graphQLBody(t, login, map[string]any{"e": "lena@example.com", "p": "correct horse battery"})), nil,
			"login", "SignIn", "OK"},
		{"GraphQL sign-in with a wrong password", "/graphql", string(graphQLBody(t, login, map[string]any{"e": "lena@example.com", "p": "wrong password"})), nil,
			"login", "SignIn", "INVALID_CREDENTIALS"},
		{"two root fields without a caller", "/graphql", string(graphQLBody(t, `{ me { id } mySessions { id } }`, nil)), nil,
			"me,mySessions", "", "UNAUTHENTICATED"},
		{"a query that does not parse", "/graphql", `{"query":"{ me {"}`, nil, "", "", "GRAPHQL_PARSE_FAILED"},
		{"a batched body", "/graphql", `[{"query":"{ me { id } }"}]`, nil, "", "", "BAD_USER_INPUT"},
		{"action sign-in", "/actions", string(mustJSON(t, map[string]any{"action": map[string]string{"name": "login"},
			"input": map[string]string{"identifier": "lena@example.com", "password": "correct horse battery"}})), []string{"X-Action-Secret", actionSecret},
			"login", "", "OK"},
		{"action with a wrong password", "/actions", string(mustJSON(t, map[string]any{"action": map[string]string{"name": "login"},
			"input": map[string]string{"identifier": "lena@example.com", "password": "wrong password"}})), []string{"X-Action-Secret", actionSecret},
			"login", "", "INVALID_CREDENTIALS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			req := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			// ServeHTTP returns after the access log line is written.
			h.ServeHTTP(httptest.NewRecorder(), req)
			var line struct {
				Msg, Operation, Code string
				OperationName        string `json:"operation_name"`
			}
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if err := json.Unmarshal([]byte(l), &line); err == nil && line.Msg == "request" {
					break
				}
			}
			if line.Msg != "request" {
				t.Fatalf("no request line in %s", logs.String())
			}
			if line.Operation != tc.operation || line.OperationName != tc.operationName || line.Code != tc.code {
				t.Errorf("logged operation=%q operation_name=%q code=%q, want %q %q %q: %s",
					line.Operation, line.OperationName, line.Code, tc.operation, tc.operationName, tc.code, logs.String())
			}
		})
	}
}
