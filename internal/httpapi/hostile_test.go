package httpapi_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
	"authgate/internal/password"
)

// graphQLBody is a POST /graphql body.
func graphQLBody(t *testing.T, query string, vars map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHostileRequestsGetClientErrors sends what an attacker or a broken
// client might, and checks each answer: the status and, for GraphQL, that it
// is an error; never a 5xx, a stack trace or SQL.
func TestHostileRequestsGetClientErrors(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	const pw = "correct horse battery"
	victim := s.env.Signup(t, "mallory-target@example.com", pw)

	var manyLogins, twoLogins, manyMe, deep strings.Builder
	manyLogins.WriteString("mutation {")
	for i := range 100 {
		fmt.Fprintf(&manyLogins, " l%d: login(identifier: %q, password: %q) { sessionId }", i, "mallory-target@example.com", pw)
	}
	manyLogins.WriteString(" }")
	fmt.Fprintf(&twoLogins, "mutation { a: login(identifier: %q, password: %q) { sessionId } b: login(identifier: %q, password: %q) { sessionId } }",
		"mallory-target@example.com", pw, "mallory-target@example.com", pw)
	manyMe.WriteString("{")
	for i := range 1000 {
		fmt.Fprintf(&manyMe, " m%d: me { id }", i)
	}
	manyMe.WriteString(" }")
	deep.WriteString(strings.Repeat("{ me ", 5000) + strings.Repeat("}", 5000))

	graphQLHeader := []string{"Content-Type", "application/json"}
	actionHeader := []string{"Content-Type", "application/json", "X-Action-Secret", actionSecret}
	oversized := append([]byte(`{"query":"{ me { id } }","variables":{"pad":"`), bytes.Repeat([]byte("x"), httpapi.MaxBodyBytes)...)
	oversized = append(oversized, `"}}`...)

	cases := []struct {
		name       string
		method     string
		path       string
		body       []byte
		header     []string
		wantStatus int  // 0: any 4xx, or 200 with a GraphQL error
		wantErrors bool // the body is a GraphQL response with errors
	}{
		{"malformed JSON on /graphql", http.MethodPost, "/graphql", []byte(`{"query": "{ me { id } }"`), graphQLHeader, http.StatusBadRequest, false},
		{"body over 1 MiB on /graphql", http.MethodPost, "/graphql", oversized, graphQLHeader, http.StatusRequestEntityTooLarge, true},
		{"body over 1 MiB on /actions", http.MethodPost, "/actions", oversized, actionHeader, http.StatusRequestEntityTooLarge, false},
		{"batched queries", http.MethodPost, "/graphql", []byte(`[{"query":"{ me { id } }"}]`), graphQLHeader, 0, false},
		{"no content type", http.MethodPost, "/graphql", graphQLBody(t, meQuery, nil), nil, 0, false},
		{"100 aliased logins", http.MethodPost, "/graphql", graphQLBody(t, manyLogins.String(), nil), graphQLHeader, 0, true},
		{"2 aliased logins", http.MethodPost, "/graphql", graphQLBody(t, twoLogins.String(), nil), graphQLHeader, 0, true},
		{"1000 aliased queries", http.MethodPost, "/graphql", graphQLBody(t, manyMe.String(), nil), graphQLHeader, 0, true},
		{"deeply nested query", http.MethodPost, "/graphql", graphQLBody(t, deep.String(), nil), graphQLHeader, 0, true},
		{"fragment cycle", http.MethodPost, "/graphql", graphQLBody(t, `{ me { ...A } } fragment A on User { ...B } fragment B on User { ...A }`, nil), graphQLHeader, 0, true},
		{"unknown field", http.MethodPost, "/graphql", graphQLBody(t, `{ users { id } }`, nil), graphQLHeader, 0, true},
		{"missing argument", http.MethodPost, "/graphql", graphQLBody(t, `mutation { signup(email: "x@example.com") { sessionId } }`, nil), graphQLHeader, 0, true},
		{"variable of the wrong type", http.MethodPost, "/graphql", graphQLBody(t, refreshMutation, map[string]any{"t": 42}), graphQLHeader, 0, true},
		{"introspection while it is off", http.MethodPost, "/graphql", graphQLBody(t, `{ __schema { types { name } } }`, nil), graphQLHeader, 0, true},
		{"mutation over GET", http.MethodGet, "/graphql?query=" + url.QueryEscape(`mutation { revokeAllSessions }`), nil, bearer(victim.AccessToken), 0, true},
		{"login over GET", http.MethodGet, "/graphql?query=" + url.QueryEscape(`mutation { login(identifier: "mallory-target@example.com", password: "correct horse battery") { sessionId } }`), nil, nil, 0, true},
		{"action input that is a list", http.MethodPost, "/actions", []byte(`{"action":{"name":"login"},"input":[1,2]}`), actionHeader, http.StatusBadRequest, false},
		{"action name that is not a string", http.MethodPost, "/actions", []byte(`{"action":{"name":["login"]},"input":{}}`), actionHeader, http.StatusBadRequest, false},
		{"revokeSession of a SQL-looking id", http.MethodPost, "/graphql", graphQLBody(t, `mutation { revokeSession(id: "' OR 1=1 --") }`, nil),
			append(bearer(victim.AccessToken), graphQLHeader...), 0, true},
		{"login with an identifier holding NUL", http.MethodPost, "/graphql",
			graphQLBody(t, loginMutation, map[string]any{"identifier": "mallory-target\x00@example.com", "password": pw}), graphQLHeader, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, raw := s.do(t, tc.method, tc.path, tc.body, tc.header...)
			assertSafe(t, status, raw)
			switch {
			case tc.wantStatus != 0 && status != tc.wantStatus:
				t.Errorf("status %d, want %d: %.300s", status, tc.wantStatus, raw)
			case tc.wantStatus == 0 && status != http.StatusOK && (status < 400 || status >= 500):
				t.Errorf("status %d, want a 4xx or a GraphQL error: %.300s", status, raw)
			}
			if tc.wantErrors {
				r := decodeGraphQL(t, status, raw)
				if len(r.Errors) == 0 {
					t.Fatalf("no GraphQL error in %.300s", raw)
				}
				for _, e := range r.Errors {
					if c, _ := e.Extensions["code"].(string); c == string(auth.CodeInternal) || c == string(auth.CodeUnavailable) {
						t.Errorf("error %q has code %q, want a client error", e.Message, c)
					}
				}
			}
		})
	}

	// An oversized body is refused before /actions runs, yet in the shape
	// Hasura relays to its client.
	status, raw := s.do(t, http.MethodPost, "/actions", oversized, actionHeader...)
	wantActionError(t, status, raw, http.StatusRequestEntityTooLarge, auth.CodeBadUserInput)

	// None of the refused mutations ran: the victim has only the session
	// it signed up with.
	if got, err := s.env.Service.MySessions(authtest.As(victim)); err != nil || len(got) != 1 {
		t.Errorf("victim has %d sessions (%v), want 1: a refused request ran", len(got), err)
	}
}

// TestRepeatedFieldQueryIsRefusedBeforeValidation sends one field repeated
// 1500 times (4.5 KB). GraphQL validation (overlapping fields) compares every
// pair of same-named fields, so without a parser token limit such a query
// costs quadratic CPU before the complexity limit ever looks at it: at the
// 1 MiB body limit, one request would hold a CPU for hours. It must be
// refused by the parser, not after validation.
func TestRepeatedFieldQueryIsRefusedBeforeValidation(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	query := "{ me { " + strings.Repeat("id ", 1500) + "} }"
	status, raw := s.do(t, http.MethodPost, "/graphql", graphQLBody(t, query, nil), "Content-Type", "application/json")
	assertSafe(t, status, raw)
	r := decodeGraphQL(t, status, raw)
	if len(r.Errors) == 0 {
		t.Fatalf("no error: %.300s", raw)
	}
	switch code, _ := r.Errors[0].Extensions["code"].(string); code {
	case "COMPLEXITY_LIMIT_EXCEEDED", "GRAPHQL_VALIDATION_FAILED", string(auth.CodeUnauthenticated), "":
		t.Errorf("refused with %q, i.e. only after the quadratic validation ran; want the parser to refuse it (e.g. srv.SetParserTokenLimit): %.300s", code, raw)
	}
}

// TestOneLoginPerRequestIsAllowed pins the complexity budget from the other
// side: a single login, with every payload field, runs.
func TestOneLoginPerRequestIsAllowed(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	s.env.Signup(t, "nina@example.com", "correct horse battery")
	s.login(t, "nina@example.com", "correct horse battery")
}

// TestDescriptionHoldingNULIsAClientError checks a description Postgres
// cannot store: it must be refused as bad input on both doors, not reach the
// database as an INTERNAL error.
func TestDescriptionHoldingNULIsAClientError(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	const pw = "correct horse battery"
	s.env.Signup(t, "oscar@example.com", pw)
	desc := "phone\x00"

	r := s.graphql(t, loginMutation, map[string]any{"identifier": "oscar@example.com", "password": pw, "description": desc})
	r.wantCode(t, auth.CodeBadUserInput)
	status, raw := s.action(t, "login", map[string]any{"identifier": "oscar@example.com", "password": pw, "description": desc}, nil)
	wantActionError(t, status, raw, http.StatusBadRequest, auth.CodeBadUserInput)
	status, raw = s.action(t, "signup", map[string]any{"email": "pat@example.com", "password": pw, "description": desc}, nil)
	wantActionError(t, status, raw, http.StatusBadRequest, auth.CodeBadUserInput)
}

// passwordMutation is the GraphQL document of each password operation.
var passwordMutation = map[string]string{"login": loginMutation, "signup": signupMutation}

// passwordInput is the arguments of a login or signup.
func passwordInput(op, identity, password string) map[string]any {
	if op == "login" {
		return map[string]any{"identifier": identity, "password": password}
	}
	return map[string]any{"email": identity, "password": password}
}

// TestOversizedPasswordIsRefusedBeforeHashing sends a password of almost
// 1 MiB through both doors of two servers over the same database: the normal
// one, and one whose hasher has no hashing slots, so that any hashing there
// gives up at once with RATE_LIMITED, as the controls show. Answering with
// the usual code on that server proves the password was refused before any
// hashing.
func TestOversizedPasswordIsRefusedBeforeHashing(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Config{})
	env := s.env
	const pw = "correct horse battery"
	env.Signup(t, "quinn@example.com", pw)
	huge := strings.Repeat("p", httpapi.MaxBodyBytes-16<<10)

	// A zero Hasher has no slots: every Hash or Verify fails with ErrBusy.
	noHashing := auth.New(env.Store, env.Revocations, env.Issuer, new(password.Hasher), env.Keys, env.Clock, rand.Reader, env.Config)
	ts := httptest.NewServer(httpapi.New(httpapi.Config{ActionSecret: actionSecret}, noHashing,
		graph.NewServer(noHashing, graph.Options{}), env.Store, discardLogger()))
	t.Cleanup(ts.Close)
	servers := map[string]*server{"normal": s, "no hashing": {env: env, url: ts.URL}}

	t.Run("control: the server without hashing refuses a normal login", func(t *testing.T) {
		servers["no hashing"].graphql(t, loginMutation, passwordInput("login", "quinn@example.com", pw)).wantCode(t, auth.CodeRateLimited)
	})
	t.Run("control: the server without hashing refuses a normal signup", func(t *testing.T) {
		status, raw := servers["no hashing"].action(t, "signup", passwordInput("signup", "rosa@example.com", pw), nil)
		wantActionError(t, status, raw, http.StatusTooManyRequests, auth.CodeRateLimited)
	})

	cases := []struct {
		name     string
		op       string
		identity string
		want     auth.Code
		status   int // on /actions
	}{
		{"login of a user", "login", "quinn@example.com", auth.CodeInvalidCredentials, http.StatusUnauthorized},
		{"login of an unknown email", "login", "nobody@example.com", auth.CodeInvalidCredentials, http.StatusUnauthorized},
		{"login with an identifier that is no email", "login", "quinn", auth.CodeInvalidCredentials, http.StatusUnauthorized},
		{"signup", "signup", "rosa@example.com", auth.CodeWeakPassword, http.StatusBadRequest},
	}
	for name, srv := range servers {
		for i, tc := range cases {
			if name == "normal" && i%3 != 0 {
				continue // the normal server only confirms the usual codes
			}
			input := passwordInput(tc.op, tc.identity, huge)
			t.Run(name+"/graphql/"+tc.name, func(t *testing.T) {
				srv.graphql(t, passwordMutation[tc.op], input).wantCode(t, tc.want)
			})
			t.Run(name+"/actions/"+tc.name, func(t *testing.T) {
				status, raw := srv.action(t, tc.op, input, nil)
				wantActionError(t, status, raw, tc.status, tc.want)
			})
		}
	}
}
