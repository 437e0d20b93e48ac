package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

func TestAuditPrintsAUsersTrailOldestFirst(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	ctx := auth.WithClient(context.Background(), auth.Client{IP: "203.0.113.5", UserAgent: "evil\n2030-01-01T00:00:00.000000Z login \x1b[31m"})
	if _, err := env.Service.Signup(ctx, "ann@example.com", "correct horse", nil); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Hour)
	if _, err := env.Service.Login(ctx, "ann@example.com", "wrong horse", nil); auth.CodeOf(err) != auth.CodeInvalidCredentials {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Hour)
	if err := env.Service.SetUserDisabled(context.Background(), "ann@example.com", true); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCommand(t, env, nil, nil, "audit", "--email", "Ann@Example.com")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{
		`2030-01-02T03:04:05\.000000Z signup +session=[0-9a-f-]{36} ip=203\.0\.113\.5 ua="evil\\n2030-01-01T00:00:00\.000000Z login \\x1b\[31m"`,
		`2030-01-02T04:04:05\.000000Z login_failed +ip=203\.0\.113\.5 ua="evil\\n.*" \{"email":"ann@example\.com"\}`,
		`2030-01-02T05:04:05\.000000Z disabled +\{"sessions":1\}`,
	}
	wantLines(t, stdout, want)

	code, stdout, _ = runCommand(t, env, nil, nil, "audit", "--email", "ann@example.com", "--since", "2030-01-02T04:00:00Z")
	if code != 0 || strings.Count(stdout, "\n") != 2 || !strings.Contains(stdout, "login_failed") {
		t.Fatalf("--since an instant: exit %d\n%s", code, stdout)
	}
	// The events are in 2030: a day back from the real now includes them.
	code, stdout, _ = runCommand(t, env, nil, nil, "audit", "--email", "ann@example.com", "--since", "24h")
	if code != 0 || strings.Count(stdout, "\n") != 3 {
		t.Fatalf("--since a duration: exit %d\n%s", code, stdout)
	}
	code, stdout, stderr = runCommand(t, env, nil, nil, "audit", "--email", "nobody@example.com")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "no audit events for nobody@example.com") {
		t.Fatalf("unknown email: exit %d, %q, %q", code, stdout, stderr)
	}
	for _, args := range [][]string{
		{"audit"},
		{"audit", "--email", "ann@example.com", "--since", "yesterday"},
		{"audit", "--email", "ann@example.com", "--since", "-5h"},
	} {
		if code, _, _ := runCommand(t, env, nil, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, code)
		}
	}
}

func TestLoginAndAuditSettingsAreValidated(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	for _, tc := range []struct {
		settings map[string]string
		want     string
	}{
		{map[string]string{"AUTHGATE_LOGIN_FREE_FAILURES": "-1"}, "AUTHGATE_LOGIN_FREE_FAILURES: "},
		{map[string]string{"AUTHGATE_LOGIN_MAX_FAILURES": "0"}, "AUTHGATE_LOGIN_MAX_FAILURES: "},
		{map[string]string{"AUTHGATE_LOGIN_IP_FREE_FAILURES": "many"}, "AUTHGATE_LOGIN_IP_FREE_FAILURES: "},
		{map[string]string{"AUTHGATE_LOGIN_IP_MAX_FAILURES": "0"}, "AUTHGATE_LOGIN_IP_MAX_FAILURES: "},
		{map[string]string{"AUTHGATE_LOGIN_BACKOFF_BASE": "soon"}, "AUTHGATE_LOGIN_BACKOFF_BASE: "},
		{map[string]string{"AUTHGATE_LOGIN_BACKOFF_BASE": "1m", "AUTHGATE_LOGIN_BACKOFF_MAX": "30s"}, "AUTHGATE_LOGIN_BACKOFF_MAX (30s) must not be shorter than AUTHGATE_LOGIN_BACKOFF_BASE"},
		{map[string]string{"AUTHGATE_LOGIN_BACKOFF_MAX": "2h"}, "AUTHGATE_LOGIN_BACKOFF_MAX (2h0m0s) must not be longer than AUTHGATE_LOGIN_WINDOW"},
		{map[string]string{"AUTHGATE_LOGIN_WINDOW": "10s"}, "AUTHGATE_LOGIN_WINDOW: "},
		{map[string]string{"AUTHGATE_AUDIT_RETENTION": "10m"}, "AUTHGATE_AUDIT_RETENTION: "},
	} {
		code, _, stderr := runCommand(t, env, nil, tc.settings, "audit", "--email", "a@example.com")
		if code != 1 || !strings.HasPrefix(stderr, "authgate: "+tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want one line starting %q", tc.settings, code, stderr, tc.want)
		}
	}
}
