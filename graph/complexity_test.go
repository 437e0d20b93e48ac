package graph_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/password"
	"authgate/internal/store"
)

// countingStore counts the reads that come before any password check:
// Login and ChangePassword hash only after one of them.
type countingStore struct {
	*store.Store
	checks atomic.Int64
}

func (c *countingStore) ReserveLoginAttempt(ctx context.Context, a auth.LoginAttempt) (auth.LoginCandidate, error) {
	c.checks.Add(1)
	return c.Store.ReserveLoginAttempt(ctx, a)
}

func (c *countingStore) ThrottledUntil(ctx context.Context, a auth.LoginAttempt) (time.Time, error) {
	c.checks.Add(1)
	return c.Store.ThrottledUntil(ctx, a)
}

// response is a GraphQL answer.
type response struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (r response) codes() []string {
	var out []string
	for _, e := range r.Errors {
		c, _ := e.Extensions["code"].(string)
		out = append(out, c)
	}
	return out
}

// post sends body to h as a GraphQL POST and decodes the answer.
func post(t *testing.T, h http.Handler, ctx context.Context, body string) (int, response) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var r response
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("status %d, body %q is not a GraphQL answer: %v", rec.Code, rec.Body.String(), err)
	}
	return rec.Code, r
}

func query(q string) string {
	b, _ := json.Marshal(map[string]string{"query": q})
	return string(b)
}

// TestAliasedAndBatchedPasswordOperationsAreRefusedWithoutHashing runs the
// GraphQL server over a hasher with no hashing slots, so that any password
// operation that runs answers RATE_LIMITED (the control shows it), and a
// store that counts the reads every password check starts with. Aliased
// password operations and batched bodies must be refused before any of it.
func TestAliasedAndBatchedPasswordOperationsAreRefusedWithoutHashing(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	st := &countingStore{Store: env.Store}
	// A zero Hasher has no slots: every Hash or Verify gives up at once.
	svc := auth.New(st, env.Revocations, env.Issuer, new(password.Hasher), env.Keys, env.Clock, rand.Reader, env.Config)
	h := graph.NewServer(svc, graph.Options{})
	signedIn := auth.WithPrincipal(context.Background(), auth.Principal{UserID: p.User.ID, SessionID: p.SessionID})

	t.Run("control: one login reaches the hasher", func(t *testing.T) {
		before := st.checks.Load()
		_, r := post(t, h, context.Background(), query(`mutation { login(identifier: "a@example.com", password: "guess") { accessToken } }`))
		if fmt.Sprint(r.codes()) != "[RATE_LIMITED]" || st.checks.Load()-before != 1 {
			t.Fatalf("codes %v, %d checks", r.codes(), st.checks.Load()-before)
		}
	})

	aliased := func(n int, field string) string {
		var b strings.Builder
		b.WriteString("mutation {")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, " a%d: %s", i, field)
		}
		b.WriteString(" }")
		return query(b.String())
	}
	const (
		login  = `login(identifier: "a@example.com", password: "guess") { accessToken }`
		signup = `signup(email: "new@example.com", password: "correct horse") { accessToken }`
		change = `changePassword(oldPassword: "guess", newPassword: "battery staple") { accessToken }`
	)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		body string
	}{
		{"100 aliased logins", context.Background(), aliased(100, login)},
		{"2 aliased logins", context.Background(), aliased(2, login)},
		{"a login and a sign-up", context.Background(), query(`mutation { ` + login + ` ` + signup + ` }`)},
		{"2 aliased sign-ups", context.Background(), aliased(2, signup)},
		{"2 aliased password changes", signedIn, aliased(2, change)},
		{"a login in each of two fragments", context.Background(), query(`mutation { ...A ...B }
			fragment A on Mutation { a: ` + login + ` } fragment B on Mutation { b: ` + login + ` }`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := st.checks.Load()
			_, r := post(t, h, tc.ctx, tc.body)
			// Refused by the complexity limit, or, for a query this long, by
			// the parser's token limit before validation even starts.
			if codes := r.codes(); len(codes) != 1 || (codes[0] != "COMPLEXITY_LIMIT_EXCEEDED" && codes[0] != "GRAPHQL_PARSE_FAILED") || string(r.Data) != "null" {
				t.Fatalf("%d errors (%v…), data %.40s: want only COMPLEXITY_LIMIT_EXCEEDED or GRAPHQL_PARSE_FAILED", len(codes), codes[:min(len(codes), 2)], r.Data)
			}
			if n := st.checks.Load() - before; n != 0 {
				t.Fatalf("%d password checks began", n)
			}
		})
	}

	t.Run("a batched body", func(t *testing.T) {
		before := st.checks.Load()
		one := query(`mutation { login(identifier: "a@example.com", password: "guess") { accessToken } }`)
		status, r := post(t, h, context.Background(), "["+strings.Repeat(one+",", 99)+one+"]")
		if status < 400 || status >= 500 || len(r.Errors) == 0 || string(r.Data) != "" && string(r.Data) != "null" {
			t.Fatalf("status %d, answer %+v: want a 4xx refusal", status, r)
		}
		if n := st.checks.Load() - before; n != 0 {
			t.Fatalf("%d password checks began", n)
		}
	})
	var users int
	if err := env.Store.DB().Get(&users, `SELECT count(*) FROM auth.users`); err != nil || users != 1 {
		t.Fatalf("%d users (%v): a refused sign-up ran", users, err)
	}
}
