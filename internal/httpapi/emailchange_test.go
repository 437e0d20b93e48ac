package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
	"authgate/internal/mail"
	"authgate/internal/onetime"
	"authgate/internal/redirect"
	"authgate/internal/sealbox"
	"authgate/internal/smtptest"
)

// changeServer is the whole HTTP surface with mail delivery for the
// email-change tests: a real SMTP server (STARTTLS and AUTH), the outbox
// worker driven by the test, and the allow-list of app.example.com.
type changeServer struct {
	*server
	smtp   *smtptest.Server
	worker *mail.Worker
	seen   int
}

const changeAppURL = "https://app.example.com/auth"

func newChangeServer(t *testing.T) *changeServer {
	t.Helper()
	box, err := sealbox.New("mail outbox", []byte(authtest.RefreshSecret))
	if err != nil {
		t.Fatal(err)
	}
	allow, err := redirect.New([]string{"https://app.example.com", "https://m.example.com/callback"}, changeAppURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := authtest.DefaultConfig()
	cfg.Mail = auth.MailConfig{Sealer: box, Delivered: true}
	cfg.Redirects = allow
	env := authtest.New(t, cfg)
	h := httpapi.New(httpapi.Config{ActionSecret: actionSecret}, env.Service, graph.NewServer(env.Service, graph.Options{}), env.Store, discardLogger())
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)

	smtp := smtptest.Start(t, smtptest.Options{Username: "mailer", Password: "s3cret"})
	smtpCfg, err := mail.ParseSMTPURL(smtp.URL())
	if err != nil {
		t.Fatal(err)
	}
	smtpCfg.RootCAs, smtpCfg.Timeout = smtp.RootCAs(), 5*time.Second
	sender, err := mail.NewSMTPSender(smtpCfg, &netmail.Address{Name: "Acme", Address: "no-reply@acme.test"}, env.Clock)
	if err != nil {
		t.Fatal(err)
	}
	templates, err := mail.LoadTemplates("Acme", "")
	if err != nil {
		t.Fatal(err)
	}
	w := mail.NewWorker(env.Store, box, templates, sender, env.Clock, discardLogger(), nil, mail.WorkerConfig{})
	return &changeServer{server: &server{env: env, url: ts.URL, h: h}, smtp: smtp, worker: w}
}

// delivered runs the outbox and returns the mails that arrived since the
// last call, parsed as MIME, by recipient.
func (s *changeServer) delivered(t *testing.T) map[string]*smtptest.Mail {
	t.Helper()
	if _, err := s.worker.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	msgs := s.smtp.Messages()
	out := map[string]*smtptest.Mail{}
	for _, m := range msgs[s.seen:] {
		p, err := m.Parse()
		if err != nil {
			t.Fatal(err)
		}
		if !m.TLS || m.AuthUser != "mailer" {
			t.Errorf("a mail came without TLS or AUTH: %+v", m)
		}
		addr, err := netmail.ParseAddress(p.To)
		if err != nil {
			t.Fatalf("To %q: %v", p.To, err)
		}
		if out[addr.Address] != nil {
			t.Errorf("two mails to %s", addr.Address)
		}
		out[addr.Address] = p
	}
	s.seen = len(msgs)
	return out
}

// user signs up over GraphQL (any mail sign-up sends is set aside).
func (s *changeServer) user(t *testing.T, email string) payload {
	t.Helper()
	p := s.signup(t, email, "correct horse battery")
	s.delivered(t)
	return p
}

const (
	changeEmailMutation  = `mutation($e: String!, $r: String, $l: String) { changeEmail(newEmail: $e, redirectTo: $r, locale: $l) }`
	confirmEmailMutation = `mutation($t: String!) { confirmEmailChange(token: $t) }`
)

// changeEmail asks over GraphQL as p and wants true.
func (s *changeServer) changeEmail(t *testing.T, p payload, newEmail string, redirectTo any) {
	t.Helper()
	var ok bool
	s.graphql(t, changeEmailMutation, map[string]any{"e": newEmail, "r": redirectTo}, bearer(p.AccessToken)...).into(t, "changeEmail", &ok)
	if !ok {
		t.Fatal("changeEmail answered false")
	}
}

// changeLink checks the confirmation mail's link (target, type
// email_change) and returns its token.
func changeLink(t *testing.T, m *smtptest.Mail, target string) string {
	t.Helper()
	if m == nil {
		t.Fatal("no confirmation mail arrived")
	}
	u, err := url.Parse(m.Link())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if !strings.HasPrefix(m.Link(), target+"?") || q.Get("type") != "email_change" || !onetime.WellFormed(q.Get("token")) {
		t.Fatalf("link %q, want %s?type=email_change&token=…", m.Link(), target)
	}
	if !strings.Contains(m.HTML, q.Get("token")) {
		t.Error("the HTML part lacks the link")
	}
	return q.Get("token")
}

// emailOf is the address the database holds for user id, and whether it
// is verified.
func (s *changeServer) emailOf(t *testing.T, id string) (string, bool) {
	t.Helper()
	var row struct {
		Email    string `db:"email"`
		Verified bool   `db:"verified"`
	}
	if err := s.env.Store.DB().Get(&row, `SELECT email, email_verified_at IS NOT NULL AS verified FROM auth.users WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	return row.Email, row.Verified
}

// events are the kinds of the audit events of the user with this address.
func (s *changeServer) events(t *testing.T, email string) []auth.AuditEvent {
	t.Helper()
	got, err := s.env.Service.AuditTrail(t.Context(), email, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func findEvent(events []auth.AuditEvent, kind auth.AuditEventKind) *auth.AuditEvent {
	for i := range events {
		if events[i].Event == kind {
			return &events[i]
		}
	}
	return nil
}

// The whole change over /graphql: the request mails a link to the new
// address and a notice to the old; nothing changes until the link's token
// is posted (without a bearer token); then the address is the new one,
// verified, the sessions go on, and the token is spent.
func TestEmailChangeThroughGraphQL(t *testing.T) {
	t.Parallel()
	s := newChangeServer(t)
	ann := s.user(t, "ann@example.com")

	s.changeEmail(t, ann, "Ann.New@EXAMPLE.com", "https://app.example.com/settings/email")
	got := s.delivered(t)
	if len(got) != 2 {
		t.Fatalf("%d mails arrived, want the confirmation and the notice", len(got))
	}
	token := changeLink(t, got["ann.new@example.com"], "https://app.example.com/settings/email")
	notice := got["ann@example.com"]
	if notice == nil || !strings.Contains(notice.Text, "ann.new@example.com") || strings.Contains(notice.Text, token) || notice.Link() != "" {
		t.Fatalf("the notice to the old address: %+v", notice)
	}
	if !strings.Contains(got["ann.new@example.com"].Subject, "Acme") {
		t.Errorf("subject %q", got["ann.new@example.com"].Subject)
	}

	// Nothing has changed yet.
	if email, _ := s.emailOf(t, ann.User.ID); email != "ann@example.com" {
		t.Fatalf("before confirming, the address is %q", email)
	}
	s.login(t, "ann@example.com", "correct horse battery")

	var ok bool
	s.graphql(t, confirmEmailMutation, map[string]any{"t": token}).into(t, "confirmEmailChange", &ok)
	if !ok {
		t.Fatal("confirmEmailChange answered false")
	}
	if email, verified := s.emailOf(t, ann.User.ID); email != "ann.new@example.com" || !verified {
		t.Fatalf("after confirming: %q verified=%v", email, verified)
	}
	// The sessions go on: the old access token reads the new address, the
	// old refresh token still rotates.
	var me struct{ Email string }
	s.graphql(t, `{ me { email } }`, nil, bearer(ann.AccessToken)...).into(t, "me", &me)
	if me.Email != "ann.new@example.com" {
		t.Errorf("me: %q", me.Email)
	}
	var refreshed payload
	s.graphql(t, refreshMutation, map[string]any{"t": ann.RefreshToken}).into(t, "refreshToken", &refreshed)
	if refreshed.User.Email != "ann.new@example.com" {
		t.Errorf("refreshed payload's user: %q", refreshed.User.Email)
	}
	// Sign-in goes by the new address only.
	s.login(t, "ann.new@example.com", "correct horse battery")
	s.graphql(t, loginMutation, map[string]any{"identifier": "ann@example.com", "password": "correct horse battery"}).
		wantCode(t, auth.CodeInvalidCredentials)

	// Spent: a second use changes nothing.
	s.graphql(t, confirmEmailMutation, map[string]any{"t": token}).wantCode(t, auth.CodeInvalidEmailToken)
	if got := s.delivered(t); len(got) != 0 {
		t.Errorf("%d more mails", len(got))
	}

	events := s.events(t, "ann.new@example.com")
	req := findEvent(events, auth.EventEmailChangeRequested)
	if req == nil || req.Detail["from"] != "ann@example.com" || req.Detail["to"] != "ann.new@example.com" || req.Detail["mailed"] != true {
		t.Errorf("request audit row: %+v", req)
	}
	changed := findEvent(events, auth.EventEmailChanged)
	if changed == nil || changed.Detail["from"] != "ann@example.com" || changed.Detail["to"] != "ann.new@example.com" || changed.Detail["method"] != "link" {
		t.Errorf("switch audit row: %+v", changed)
	}
	if used := findEvent(events, auth.EventOneTimeTokenUsed); used == nil || used.Detail["purpose"] != "email_change" {
		t.Errorf("token use audit row: %+v", used)
	}
}

// The same through /actions, as Hasura calls them: changeEmail for role
// user with the caller's session, confirmEmailChange for role anonymous.
func TestEmailChangeThroughActions(t *testing.T) {
	t.Parallel()
	s := newChangeServer(t)
	bo := s.user(t, "bo@example.com")
	vars := map[string]string{"x-hasura-role": "user", "x-hasura-user-id": bo.User.ID, "x-hasura-session-id": bo.SessionID}

	status, raw := s.action(t, "changeEmail", map[string]any{"newEmail": "bo@new.example.com", "locale": "fr-FR"}, vars, bearer(bo.AccessToken)...)
	if status != http.StatusOK || strings.TrimSpace(string(raw)) != "true" {
		t.Fatalf("changeEmail: %d %s", status, raw)
	}
	got := s.delivered(t)
	token := changeLink(t, got["bo@new.example.com"], changeAppURL)
	if n := got["bo@example.com"]; n == nil || !strings.Contains(n.Text, "bo@new.example.com") {
		t.Fatalf("notice: %+v", n)
	}
	if lang := got["bo@new.example.com"].Header.Get("Content-Language"); lang != "fr" {
		t.Errorf("Content-Language %q for locale fr-FR", lang)
	}

	// Without a session: UNAUTHENTICATED, nothing sent.
	status, raw = s.action(t, "changeEmail", map[string]any{"newEmail": "bo@other.example.com"}, nil)
	wantActionError(t, status, raw, http.StatusUnauthorized, auth.CodeUnauthenticated)

	status, raw = s.action(t, "confirmEmailChange", map[string]any{"token": token}, nil)
	if status != http.StatusOK || strings.TrimSpace(string(raw)) != "true" {
		t.Fatalf("confirmEmailChange: %d %s", status, raw)
	}
	if email, verified := s.emailOf(t, bo.User.ID); email != "bo@new.example.com" || !verified {
		t.Fatalf("after confirming: %q verified=%v", email, verified)
	}
	status, raw = s.action(t, "confirmEmailChange", map[string]any{"token": token}, nil)
	wantActionError(t, status, raw, http.StatusBadRequest, auth.CodeInvalidEmailToken)
	if got := s.delivered(t); len(got) != 0 {
		t.Errorf("%d more mails", len(got))
	}
}

// Every way a token fails answers INVALID_EMAIL_TOKEN and changes nothing.
func TestEmailChangeTokensThatDoNotWork(t *testing.T) {
	t.Parallel()
	s := newChangeServer(t)
	cy := s.user(t, "cy@example.com")
	confirm := func(t *testing.T, token string) gqlResponse {
		t.Helper()
		return s.graphql(t, confirmEmailMutation, map[string]any{"t": token})
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		if email, _ := s.emailOf(t, cy.User.ID); email != "cy@example.com" {
			t.Fatalf("the address changed to %q", email)
		}
	}

	t.Run("expired", func(t *testing.T) {
		s.changeEmail(t, cy, "cy@expired.example.com", nil)
		token := changeLink(t, s.delivered(t)["cy@expired.example.com"], changeAppURL)
		s.env.Clock.Advance(auth.DefaultEmailChangeTTL + time.Second)
		confirm(t, token).wantCode(t, auth.CodeInvalidEmailToken)
		unchanged(t)
	})
	t.Run("replaced by a newer request", func(t *testing.T) {
		cy := s.login(t, "cy@example.com", "correct horse battery") // the clock moved past the first token
		s.changeEmail(t, cy, "cy@first.example.com", nil)
		first := changeLink(t, s.delivered(t)["cy@first.example.com"], changeAppURL)
		s.changeEmail(t, cy, "cy@second.example.com", nil)
		second := changeLink(t, s.delivered(t)["cy@second.example.com"], changeAppURL)
		confirm(t, first).wantCode(t, auth.CodeInvalidEmailToken)
		unchanged(t)
		// The newer one still works after the older one's refusal.
		var ok bool
		confirm(t, second).into(t, "confirmEmailChange", &ok)
		if email, _ := s.emailOf(t, cy.User.ID); !ok || email != "cy@second.example.com" {
			t.Fatalf("the newer link: %v, address %q", ok, email)
		}
		// Back, for the cases that follow.
		cyNow := s.login(t, "cy@second.example.com", "correct horse battery")
		s.changeEmail(t, cyNow, "cy@example.com", nil)
		confirm(t, changeLink(t, s.delivered(t)["cy@example.com"], changeAppURL)).into(t, "confirmEmailChange", &ok)
		unchanged(t)
	})
	for _, purpose := range []onetime.Purpose{onetime.Verify, onetime.Reset, onetime.SignIn} {
		t.Run("a "+string(purpose)+" token", func(t *testing.T) {
			issued, err := s.env.Service.IssueOneTimeToken(t.Context(), auth.OneTimeRequest{
				Purpose: purpose, UserID: cy.User.ID, Email: "cy@example.com", TTL: time.Hour,
			})
			if err != nil {
				t.Fatal(err)
			}
			confirm(t, issued.Token).wantCode(t, auth.CodeInvalidEmailToken)
			unchanged(t)
		})
	}
	for name, token := range map[string]string{
		"unknown":   strings.Repeat("A", onetime.TokenLength),
		"malformed": "not-a-token",
		"empty":     "",
	} {
		t.Run(name, func(t *testing.T) {
			confirm(t, token).wantCode(t, auth.CodeInvalidEmailToken)
			unchanged(t)
		})
	}
}

// Two users confirming the same new address at once: exactly one wins, the
// other gets EMAIL_TAKEN and keeps its address. And one token posted many
// times at once: exactly one use succeeds.
func TestEmailChangeRacingConfirmations(t *testing.T) {
	t.Parallel()
	s := newChangeServer(t)
	dee := s.user(t, "dee@example.com")
	eve := s.user(t, "eve@example.com")
	s.changeEmail(t, dee, "shared@example.com", nil)
	deeToken := changeLink(t, s.delivered(t)["shared@example.com"], changeAppURL)
	s.env.Clock.Advance(time.Minute) // the per-address throttle: 1 a minute
	s.changeEmail(t, eve, "shared@example.com", nil)
	eveToken := changeLink(t, s.delivered(t)["shared@example.com"], changeAppURL)

	codes := make([]string, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, token := range []string{deeToken, eveToken} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = s.graphql(t, confirmEmailMutation, map[string]any{"t": token}).code(t)
		}()
	}
	close(start)
	wg.Wait()
	won, taken := 0, 0
	for _, c := range codes {
		switch c {
		case "":
			won++
		case string(auth.CodeEmailTaken):
			taken++
		default:
			t.Errorf("code %q", c)
		}
	}
	if won != 1 || taken != 1 {
		t.Fatalf("codes %q: want one win and one EMAIL_TAKEN", codes)
	}
	deeEmail, _ := s.emailOf(t, dee.User.ID)
	eveEmail, _ := s.emailOf(t, eve.User.ID)
	if (deeEmail == "shared@example.com") == (eveEmail == "shared@example.com") ||
		(deeEmail != "shared@example.com" && deeEmail != "dee@example.com") ||
		(eveEmail != "shared@example.com" && eveEmail != "eve@example.com") {
		t.Fatalf("addresses after the race: dee %q, eve %q", deeEmail, eveEmail)
	}

	// One token, many posts at once.
	fay := s.user(t, "fay@example.com")
	s.changeEmail(t, fay, "fay@new.example.com", nil)
	token := changeLink(t, s.delivered(t)["fay@new.example.com"], changeAppURL)
	const n = 8
	results := make([]string, n)
	start = make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = s.graphql(t, confirmEmailMutation, map[string]any{"t": token}).code(t)
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, c := range results {
		switch c {
		case "":
			wins++
		case string(auth.CodeInvalidEmailToken):
		default:
			t.Errorf("code %q", c)
		}
	}
	if wins != 1 {
		t.Fatalf("%d uses of one token succeeded: %q", wins, results)
	}
}

// An address that gets an account between the request and the confirmation
// is not taken over: EMAIL_TAKEN, nothing changes, and the link works again
// if the address is freed before it expires.
func TestEmailChangeToAnAddressTakenMeanwhile(t *testing.T) {
	t.Parallel()
	s := newChangeServer(t)
	gus := s.user(t, "gus@example.com")
	s.changeEmail(t, gus, "wanted@example.com", nil)
	token := changeLink(t, s.delivered(t)["wanted@example.com"], changeAppURL)
	other := s.user(t, "Wanted@Example.com")

	s.graphql(t, confirmEmailMutation, map[string]any{"t": token}).wantCode(t, auth.CodeEmailTaken)
	if email, _ := s.emailOf(t, gus.User.ID); email != "gus@example.com" {
		t.Fatalf("gus's address is %q", email)
	}
	if email, _ := s.emailOf(t, other.User.ID); email != "wanted@example.com" {
		t.Fatalf("the other account's address is %q", email)
	}
	if findEvent(s.events(t, "gus@example.com"), auth.EventEmailChanged) != nil {
		t.Error("an email_changed row for a change that did not happen")
	}

	// The other account moves away; the link still works.
	s.changeEmail(t, other, "elsewhere@example.com", nil)
	var ok bool
	s.graphql(t, confirmEmailMutation, map[string]any{"t": changeLink(t, s.delivered(t)["elsewhere@example.com"], changeAppURL)}).
		into(t, "confirmEmailChange", &ok)
	s.graphql(t, confirmEmailMutation, map[string]any{"t": token}).into(t, "confirmEmailChange", &ok)
	if email, _ := s.emailOf(t, gus.User.ID); !ok || email != "wanted@example.com" {
		t.Fatalf("after the address was freed: %v, %q", ok, email)
	}
}

// The request mutation's answers: true without a mail for an address that
// has an account (nothing tells it apart) and for a throttled request (the
// older link stays valid); BAD_USER_INPUT for a redirect off the
// allow-list, the caller's own address, a bad address or locale;
// UNAUTHENTICATED without a bearer token.
func TestChangeEmailRequests(t *testing.T) {
	t.Parallel()
	s := newChangeServer(t)
	hal := s.user(t, "hal@example.com")
	s.user(t, "ida@example.com")

	s.changeEmail(t, hal, "IDA@example.com", nil)
	if got := s.delivered(t); len(got) != 0 {
		t.Fatalf("a request for a taken address sent %d mails", len(got))
	}
	if req := findEvent(s.events(t, "hal@example.com"), auth.EventEmailChangeRequested); req == nil ||
		req.Detail["taken"] != true || req.Detail["mailed"] != false {
		t.Errorf("audit row of the taken request: %+v", req)
	}

	s.changeEmail(t, hal, "hal@new.example.com", nil)
	first := changeLink(t, s.delivered(t)["hal@new.example.com"], changeAppURL)
	s.env.Clock.Advance(30 * time.Second)
	s.changeEmail(t, hal, "hal@new.example.com", nil) // within the minute: held back
	if got := s.delivered(t); len(got) != 0 {
		t.Fatalf("a throttled request sent %d mails", len(got))
	}

	for _, tc := range []struct {
		name  string
		vars  map[string]any
		token string
	}{
		{"a look-alike host", map[string]any{"e": "hal@x.example.com", "r": "https://app.example.com.evil.net/auth"}, hal.AccessToken},
		{"userinfo before the host", map[string]any{"e": "hal@x.example.com", "r": "https://app.example.com@evil.net/auth"}, hal.AccessToken},
		{"a scheme-relative URL", map[string]any{"e": "hal@x.example.com", "r": "//evil.net/auth"}, hal.AccessToken},
		{"another scheme", map[string]any{"e": "hal@x.example.com", "r": "javascript:alert(1)"}, hal.AccessToken},
		{"plain http", map[string]any{"e": "hal@x.example.com", "r": "http://app.example.com/auth"}, hal.AccessToken},
		{"outside an allowed path", map[string]any{"e": "hal@x.example.com", "r": "https://m.example.com/elsewhere"}, hal.AccessToken},
		{"the caller's own address", map[string]any{"e": "HAL@example.com"}, hal.AccessToken},
		{"not an address", map[string]any{"e": "hal"}, hal.AccessToken},
		{"a bad locale", map[string]any{"e": "hal@x.example.com", "l": "not a locale!"}, hal.AccessToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.graphql(t, changeEmailMutation, tc.vars, bearer(tc.token)...).wantCode(t, auth.CodeBadUserInput)
		})
	}
	s.graphql(t, changeEmailMutation, map[string]any{"e": "hal@x.example.com"}).wantCode(t, auth.CodeUnauthenticated)
	if got := s.delivered(t); len(got) != 0 {
		t.Fatalf("refused requests sent %d mails", len(got))
	}

	// The throttled request left the first link valid.
	var ok bool
	s.graphql(t, confirmEmailMutation, map[string]any{"t": first}).into(t, "confirmEmailChange", &ok)
	if email, _ := s.emailOf(t, hal.User.ID); !ok || email != "hal@new.example.com" {
		t.Fatalf("the first link after a throttled request: %v, %q", ok, email)
	}
}
