package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
	"authgate/internal/metrics"
)

func TestMetricsCountOperationsByOutcome(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	m := metrics.New(env.Store.DB().DB)
	env.Service.SetObserver(m)
	h := httpapi.New(httpapi.Config{ActionSecret: actionSecret, Metrics: m}, env.Service,
		graph.NewServer(env.Service, graph.Options{Metrics: m}), env.Store, discardLogger())
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	s := &server{env: env, url: ts.URL, h: h}

	p := s.signup(t, "a@example.com", "correct horse")
	s.graphql(t, loginMutation, map[string]any{"identifier": "a@example.com", "password": "wrong horse"})
	s.refresh(t, p.RefreshToken)
	s.refresh(t, p.RefreshToken) // within grace: replayed
	if status, raw := s.action(t, "login", map[string]any{"identifier": "a@example.com", "password": "correct horse"}, nil); status != http.StatusOK {
		t.Fatalf("action login: %d %s", status, raw)
	}
	s.hook(t, http.MethodGet, map[string]string{"Authorization": "Bearer " + p.AccessToken})

	status, raw := s.do(t, http.MethodGet, "/metrics", nil)
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	text := string(raw)
	for _, want := range []string{
		`authgate_requests_total{code="OK",operation="signup"} 1`,
		`authgate_requests_total{code="INVALID_CREDENTIALS",operation="login"} 1`,
		`authgate_requests_total{code="OK",operation="login"} 1`,
		`authgate_requests_total{code="OK",operation="refreshToken"} 2`,
		`authgate_requests_total{code="OK",operation="hasura_auth"} 1`,
		`authgate_login_failures_total{code="INVALID_CREDENTIALS"} 1`,
		`authgate_refresh_outcomes_total{outcome="rotated"} 1`,
		`authgate_refresh_outcomes_total{outcome="replayed"} 1`,
		`authgate_request_duration_seconds_bucket{code="OK",operation="refreshToken",le="+Inf"} 2`,
		`go_sql_max_open_connections{db_name="authgate"} 16`,
		`authgate_live_sessions`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, p.RefreshToken) || strings.Contains(text, p.AccessToken) {
		t.Fatal("/metrics shows a token")
	}
}
