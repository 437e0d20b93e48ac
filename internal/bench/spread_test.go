package bench

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
)

// Two real instances on one database, each with its own revocation state
// fed by LISTEN/NOTIFY: every token revoked through the first is refused by
// the second's webhook, and the spread is timed once per revocation.
func TestRevocationSpreadBetweenTwoInstances(t *testing.T) {
	t.Parallel()
	envA := authtest.New(t, auth.Config{})
	envB := envA.Instance(t)
	serve := func(e *authtest.Env) string {
		h := httpapi.New(httpapi.Config{}, e.Service, graph.NewServer(e.Service, graph.Options{}), e.Store, slog.New(slog.DiscardHandler))
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL
	}
	const users = 3
	for g := 1; g <= users; g++ {
		envA.Signup(t, seedEmail(g), benchPassword)
	}
	a := &target{hc: http.DefaultClient, base: serve(envA), webhookPath: "/hasura/auth", users: users, password: benchPassword}
	b := &target{hc: http.DefaultClient, base: serve(envB), webhookPath: "/hasura/auth"}

	got, err := measureRevocationSpread(t.Context(), a, b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revocations != spreadRounds || got.Spread.Count != spreadRounds {
		t.Errorf("timed %d revocations (%d samples), want %d", got.Revocations, got.Spread.Count, spreadRounds)
	}
	if got.Spread.MaxMs <= 0 || got.Spread.MaxMs >= spreadLimit.Seconds()*1000 {
		t.Errorf("spread max %.2f ms, want above 0 and under %s", got.Spread.MaxMs, spreadLimit)
	}
	if _, _, tokens := envB.Revocations.Size(); tokens != spreadRounds {
		t.Errorf("the second instance holds %d denylisted tokens, want %d", tokens, spreadRounds)
	}
	if n := a.logins.Load(); n != spreadRounds {
		t.Errorf("%d sign-ins through the first instance, want %d", n, spreadRounds)
	}
}
