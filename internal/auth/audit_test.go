package auth_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/pgtest"
	"authgate/internal/store"
)

// TestAuditTrailRecordsEverySecurityEvent walks a user through every event
// and reads the trail back, oldest first. Refreshes are in it because
// AuditRefreshes is on.
func TestAuditTrailRecordsEverySecurityEvent(t *testing.T) {
	cfg := authtest.DefaultConfig()
	cfg.AuditRefreshes = true
	env := authtest.New(t, cfg)
	svc, clk := env.Service, env.Clock
	phone := auth.WithClient(bg, auth.Client{IP: "203.0.113.5", UserAgent: "phone/1.0"})
	laptop := auth.WithClient(bg, auth.Client{IP: "2001:db8::7", UserAgent: "laptop/2.0"})
	step := func() { clk.Advance(time.Second) }
	var secrets []string // everything that must never reach the trail

	p, err := svc.Signup(phone, "ann@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, "correct horse", p.RefreshToken, p.AccessToken)
	step()
	_, err = svc.Login(laptop, "ann@example.com", "wrong horse", nil)
	wantCode(t, err, auth.CodeInvalidCredentials)
	secrets = append(secrets, "wrong horse")
	step()
	l, err := svc.Login(laptop, "ann@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, l.RefreshToken, l.AccessToken)
	step()
	r, err := svc.Refresh(laptop, l.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, r.RefreshToken, r.AccessToken)
	step()
	if _, err := svc.Refresh(laptop, l.RefreshToken); err != nil { // a retry within the grace window
		t.Fatal(err)
	}
	step()
	clk.Advance(env.Config.RefreshReuseGrace)
	_, err = svc.Refresh(laptop, l.RefreshToken) // theft: the laptop session ends
	wantCode(t, err, auth.CodeRefreshTokenReused)
	step()
	l2, err := svc.Login(laptop, "ann@example.com", "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	step()
	if _, err := svc.RevokeSession(authtest.As(p), l2.SessionID); err != nil {
		t.Fatal(err)
	}
	step()
	v, err := svc.Authenticate(bg, p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RevokeAccessToken(auth.WithPrincipal(bg, auth.PrincipalOf(v))); err != nil {
		t.Fatal(err)
	}
	step()
	c, err := svc.ChangePassword(authtest.As(p), "correct horse", "battery staple")
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, "battery staple", c.RefreshToken)
	step()
	if _, err := svc.Revoke(phone, c.RefreshToken); err != nil {
		t.Fatal(err)
	}
	step()
	l3, err := svc.Login(phone, "ann@example.com", "battery staple", nil)
	if err != nil {
		t.Fatal(err)
	}
	step()
	if _, err := svc.RevokeAllSessions(authtest.As(l3)); err != nil {
		t.Fatal(err)
	}
	step()
	if err := svc.SetUserRoles(bg, "ann@example.com", "editor", []string{"user"}); err != nil {
		t.Fatal(err)
	}
	step()
	if _, err := svc.SetUserClaims(bg, "ann@example.com", map[string]string{"x-hasura-org-id": "42"}); err != nil {
		t.Fatal(err)
	}
	step()
	if _, err := svc.BanUser(bg, "ann@example.com", clk.Now().Add(time.Hour), "spam"); err != nil {
		t.Fatal(err)
	}
	step()
	if err := svc.UnbanUser(bg, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	step()
	if err := svc.SetUserDisabled(bg, "ann@example.com", true); err != nil {
		t.Fatal(err)
	}
	step()
	if err := svc.SetUserDisabled(bg, "ann@example.com", false); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetUserDisabled(bg, "ann@example.com", false); err != nil { // no change, no event
		t.Fatal(err)
	}

	trail, err := svc.AuditTrail(bg, " ANN@example.com", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := []auth.AuditEventKind{
		auth.EventSignup, auth.EventLoginFailed, auth.EventLogin, auth.EventRefresh, auth.EventRefresh,
		auth.EventRefreshTokenReused, auth.EventLogin, auth.EventSessionRevoked, auth.EventAccessTokenRevoked,
		auth.EventPasswordChanged, auth.EventLogout, auth.EventLogin, auth.EventSessionsRevoked,
		auth.EventRolesChanged, auth.EventClaimsChanged, auth.EventBanned, auth.EventUnbanned,
		auth.EventDisabled, auth.EventEnabled,
	}
	var got []auth.AuditEventKind
	for _, e := range trail {
		got = append(got, e.Event)
		if e.UserID != p.User.ID {
			t.Errorf("%s: user %q, want %s", e.Event, e.UserID, p.User.ID)
		}
	}
	if strings.Join(kinds(got), " ") != strings.Join(kinds(want), " ") {
		t.Fatalf("trail\n got %v\nwant %v", got, want)
	}
	for i := 1; i < len(trail); i++ {
		if trail[i].At.Before(trail[i-1].At) {
			t.Fatalf("trail is not oldest first at %d", i)
		}
	}

	byKind := func(k auth.AuditEventKind, nth int) auth.AuditEvent {
		for _, e := range trail {
			if e.Event == k {
				if nth == 0 {
					return e
				}
				nth--
			}
		}
		t.Fatalf("no %s event", k)
		return auth.AuditEvent{}
	}
	for _, tc := range []struct {
		e                   auth.AuditEvent
		session, ip, ua     string
		detailKey, detailIs string
	}{
		{byKind(auth.EventSignup, 0), p.SessionID, "203.0.113.5", "phone/1.0", "", ""},
		{byKind(auth.EventLoginFailed, 0), "", "2001:db8::7", "laptop/2.0", "email", "ann@example.com"},
		{byKind(auth.EventLogin, 0), l.SessionID, "2001:db8::7", "laptop/2.0", "", ""},
		{byKind(auth.EventRefresh, 0), l.SessionID, "2001:db8::7", "laptop/2.0", "", ""},
		{byKind(auth.EventRefresh, 1), l.SessionID, "2001:db8::7", "laptop/2.0", "replayed", "true"},
		{byKind(auth.EventRefreshTokenReused, 0), l.SessionID, "2001:db8::7", "laptop/2.0", "reason", "after grace"},
		{byKind(auth.EventSessionRevoked, 0), l2.SessionID, "", "", "", ""},
		{byKind(auth.EventLogout, 0), c.SessionID, "203.0.113.5", "phone/1.0", "", ""},
		{byKind(auth.EventSessionsRevoked, 0), "", "", "", "sessions", "1"},
		{byKind(auth.EventAccessTokenRevoked, 0), "", "", "", "jti", v.ID},
		{byKind(auth.EventBanned, 0), "", "", "", "reason", "spam"},
		{byKind(auth.EventRolesChanged, 0), "", "", "", "default_role", "editor"},
	} {
		e := tc.e
		if e.SessionID != tc.session || e.IP != tc.ip || e.UserAgent != tc.ua {
			t.Errorf("%s: session %q ip %q ua %q, want %q %q %q", e.Event, e.SessionID, e.IP, e.UserAgent, tc.session, tc.ip, tc.ua)
		}
		if tc.detailKey != "" {
			if got := jsonString(e.Detail[tc.detailKey]); got != tc.detailIs {
				t.Errorf("%s: detail %v, want %s=%s", e.Event, e.Detail, tc.detailKey, tc.detailIs)
			}
		}
	}

	// No secret ever: no password, token, password hash, token secret or
	// token proof.
	var hashes []string
	if err := env.Store.DB().Select(&hashes, `SELECT password_hash FROM auth.users
		UNION ALL SELECT encode(token_secret, 'hex') FROM auth.sessions`); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, hashes...)
	for _, tok := range []string{p.RefreshToken, l.RefreshToken, r.RefreshToken} {
		parsed, _ := env.Keys.Parse(tok)
		secrets = append(secrets, hex.EncodeToString(parsed.Proof))
	}
	var all string
	if err := env.Store.DB().Get(&all, `SELECT string_agg(a::text, E'\n') FROM auth.audit_events a`); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("the audit trail holds a secret: %.12s…", s)
		}
	}
}

func TestAuditTrailOfAnUnknownEmailShowsTheAttemptsOnIt(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "someone@example.com", "correct horse")
	for i := 0; i < 3; i++ {
		_, err := env.Service.Login(from("192.0.2.9"), "Ghost@Example.com", "guess", nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
		env.Clock.Advance(time.Minute)
	}
	trail, err := env.Service.AuditTrail(bg, "ghost@example.com", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(trail) != 3 || trail[0].Event != auth.EventLoginFailed || trail[0].UserID != "" || trail[0].IP != "192.0.2.9" {
		t.Fatalf("trail = %+v", trail)
	}
	since, err := env.Service.AuditTrail(bg, "ghost@example.com", authtest.Start.Add(time.Minute))
	if err != nil || len(since) != 2 {
		t.Fatalf("since a minute in: %d events, %v", len(since), err)
	}
}

// With AuditRefreshes on, the refresh event rides in the rotation
// statement: still one round trip.
func TestRefreshIsAuditedInItsOneRoundTrip(t *testing.T) {
	cfg := authtest.DefaultConfig()
	cfg.AuditRefreshes = true
	env := authtest.New(t, cfg)
	db, counter := pgtest.CountingDB(t, env.DatabaseURL)
	svc := auth.New(store.New(db), env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, env.Config)
	if err := svc.RecordAccessTokenLifetime(bg); err != nil { // as serve does before it serves
		t.Fatal(err)
	}
	p := env.Signup(t, "a@example.com", "correct horse")
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	before := counter.Load()
	if _, err := svc.Refresh(auth.WithClient(context.Background(), auth.Client{IP: "192.0.2.1"}), p.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if n := counter.Load() - before; n != 1 {
		t.Fatalf("%d round trips, want 1", n)
	}
	if n := countEvents(t, env, auth.EventRefresh); n != 1 {
		t.Fatalf("%d refresh events, want 1", n)
	}
}

func TestPurgeDeletesAuditEventsPastRetentionAndSpentThrottleRows(t *testing.T) {
	cfg := authtest.DefaultConfig()
	cfg.AuditRetention = 24 * time.Hour
	env := authtest.New(t, cfg)
	env.Signup(t, "old@example.com", "correct horse")
	_, err := env.Service.Login(from("192.0.2.1"), "old@example.com", "wrong horse", nil)
	wantCode(t, err, auth.CodeInvalidCredentials)
	env.Clock.Advance(23 * time.Hour)
	_, err = env.Service.Login(from("192.0.2.2"), "new@example.com", "wrong horse", nil)
	wantCode(t, err, auth.CodeInvalidCredentials)

	res, err := env.Service.Purge(bg)
	if err != nil {
		t.Fatal(err)
	}
	// The first failure's rows are spent (an hour plus the longest back-off
	// ago); its audit events are still within the retention.
	if res.AuditEvents != 0 || res.LoginThrottles != 2 {
		t.Fatalf("purge = %+v, want 0 audit events and 2 throttle rows", res)
	}
	env.Clock.Advance(time.Hour)
	res, err = env.Service.Purge(bg)
	if err != nil {
		t.Fatal(err)
	}
	if res.AuditEvents != 2 {
		t.Fatalf("purge = %+v, want the 2 events over a day old (sign-up, failure)", res)
	}
	var left int
	if err := env.Store.DB().Get(&left, `SELECT count(*) FROM auth.audit_events`); err != nil || left != 1 {
		t.Fatalf("%d events left, want 1 (%v)", left, err)
	}
}

func kinds(k []auth.AuditEventKind) []string {
	out := make([]string, len(k))
	for i, x := range k {
		out[i] = string(x)
	}
	return out
}

func jsonString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}
