package httpapi_test

import (
	"context"
	"net/http/httptest"
	netmail "net/mail"
	"net/url"
	"strings"
	"testing"
	"time"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
	"authgate/internal/mail"
	"authgate/internal/redirect"
	"authgate/internal/sealbox"
	"authgate/internal/smtptest"
)

// mailServer is the whole HTTP surface with mail delivery: a real SMTP
// server (STARTTLS and AUTH), the outbox worker driven by the test, the
// redirect allow-list of app.example.com.
type mailServer struct {
	*server
	smtp   *smtptest.Server
	worker *mail.Worker
	seen   int
}

const appURL = "https://app.example.com/auth"

func newMailServer(t *testing.T, change func(*auth.Config)) *mailServer {
	t.Helper()
	box, err := sealbox.New("mail outbox", []byte(authtest.RefreshSecret))
	if err != nil {
		t.Fatal(err)
	}
	allow, err := redirect.New([]string{"https://app.example.com", "https://m.example.com/callback"}, appURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := authtest.DefaultConfig()
	cfg.Mail = auth.MailConfig{Sealer: box, Delivered: true}
	cfg.Redirects = allow
	if change != nil {
		change(&cfg)
	}
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
	return &mailServer{server: &server{env: env, url: ts.URL, h: h}, smtp: smtp, worker: w}
}

// mails delivers what the outbox holds and returns the mails that arrived
// since the last call, parsed as MIME.
func (s *mailServer) mails(t *testing.T) []*smtptest.Mail {
	t.Helper()
	if _, err := s.worker.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	msgs := s.smtp.Messages()
	var out []*smtptest.Mail
	for _, m := range msgs[s.seen:] {
		p, err := m.Parse()
		if err != nil {
			t.Fatal(err)
		}
		if !m.TLS || m.AuthUser != "mailer" {
			t.Errorf("a mail came without TLS or AUTH: %+v", m)
		}
		out = append(out, p)
	}
	s.seen = len(msgs)
	return out
}

// oneMail is mails, wanting exactly one, to to.
func (s *mailServer) oneMail(t *testing.T, to string) *smtptest.Mail {
	t.Helper()
	got := s.mails(t)
	if len(got) != 1 {
		t.Fatalf("%d mails arrived, want 1", len(got))
	}
	if !strings.Contains(got[0].To, to) {
		t.Fatalf("mail to %q, want %q", got[0].To, to)
	}
	return got[0]
}

// linkToken checks that a mail's link opens target with type kind, and
// returns its token.
func linkToken(t *testing.T, m *smtptest.Mail, target, kind string) string {
	t.Helper()
	u, err := url.Parse(m.Link())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if !strings.HasPrefix(m.Link(), target+"?") || q.Get("type") != kind || len(q.Get("token")) != 43 {
		t.Fatalf("link %q, want %s?type=%s&token=…", m.Link(), target, kind)
	}
	if !strings.Contains(m.HTML, q.Get("token")) {
		t.Error("the HTML part lacks the link")
	}
	return q.Get("token")
}

const emailPayload = `accessToken refreshToken sessionId user { id email emailVerified }`

type emailSession struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	SessionID    string `json:"sessionId"`
	User         struct {
		ID            string `json:"id"`
		Email         string `json:"email"`
		EmailVerified bool   `json:"emailVerified"`
	} `json:"user"`
}

func (s *mailServer) gql(t *testing.T, query string, vars map[string]any, field string, dst any) gqlResponse {
	t.Helper()
	r := s.graphql(t, query, vars)
	if dst != nil {
		r.into(t, field, dst)
	}
	return r
}

// The forgotten-password path end to end over /graphql: sign-up (which
// mails a verification link, verification being optional), a reset
// request, the mailed link's token, a new password that ends every
// session, verifies the address and opens a fresh one.
func TestAForgottenPasswordIsResetThroughTheMailedLink(t *testing.T) {
	s := newMailServer(t, nil)
	var first emailSession
	s.gql(t, `mutation($e: String!, $p: String!) { signup(email: $e, password: $p) { `+emailPayload+` } }`,
		map[string]any{"e": "Ada@Example.com", "p": "correct horse"}, "signup", &first)
	if first.User.EmailVerified {
		t.Error("a new sign-up is verified")
	}
	welcome := s.oneMail(t, "ada@example.com")
	linkToken(t, welcome, appURL, "verify")

	var ok bool
	s.gql(t, `mutation($e: String!, $r: String) { requestPasswordReset(email: $e, redirectTo: $r) }`,
		map[string]any{"e": "ada@example.com", "r": "https://app.example.com/reset"}, "requestPasswordReset", &ok)
	if !ok {
		t.Fatal("requestPasswordReset answered false")
	}
	m := s.oneMail(t, "ada@example.com")
	if !strings.Contains(m.Subject, "Acme") {
		t.Errorf("subject %q", m.Subject)
	}
	token := linkToken(t, m, "https://app.example.com/reset", "reset")

	// A weak password is refused before the token is used.
	reset := `mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { ` + emailPayload + ` } }`
	s.gql(t, reset, map[string]any{"t": token, "p": "short"}, "", nil).wantCode(t, auth.CodeWeakPassword)
	var fresh emailSession
	s.gql(t, reset, map[string]any{"t": token, "p": "battery staple"}, "resetPassword", &fresh)
	if !fresh.User.EmailVerified || fresh.User.ID != first.User.ID {
		t.Errorf("after the reset: %+v", fresh.User)
	}
	// Used once; every older session is over; the new password works.
	s.gql(t, reset, map[string]any{"t": token, "p": "another one"}, "", nil).wantCode(t, auth.CodeInvalidEmailToken)
	s.gql(t, `mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken } }`,
		map[string]any{"r": first.RefreshToken}, "", nil).wantCode(t, auth.CodeInvalidRefreshToken)
	s.gql(t, `mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken } }`,
		map[string]any{"r": fresh.RefreshToken}, "refreshToken", &struct{}{})
	s.login(t, "ada@example.com", "battery staple")
	s.gql(t, `mutation { login(identifier: "ada@example.com", password: "correct horse") { accessToken } }`, nil, "", nil).
		wantCode(t, auth.CodeInvalidCredentials)
}

// Verification and email sign-in through /actions, as Hasura calls them
// (role anonymous: the link may be opened on another device).
func TestVerificationAndEmailSignInThroughActions(t *testing.T) {
	s := newMailServer(t, func(c *auth.Config) { c.EmailVerification = auth.VerificationOff })
	s.signup(t, "bo@example.com", "correct horse")
	if got := s.mails(t); len(got) != 0 {
		t.Fatalf("verification off, and sign-up sent %d mails", len(got))
	}
	status, raw := s.action(t, "sendVerificationEmail", map[string]any{"email": "bo@example.com", "locale": "de-AT"}, nil)
	if status != 200 || strings.TrimSpace(string(raw)) != "true" {
		t.Fatalf("sendVerificationEmail: %d %s", status, raw)
	}
	m := s.oneMail(t, "bo@example.com")
	if !strings.Contains(m.Subject, "Bestätigen") && !strings.Contains(m.Text, "Hallo") {
		t.Errorf("a de-AT request got the mail %q", m.Subject)
	}
	status, raw = s.action(t, "verifyEmail", map[string]any{"token": linkToken(t, m, appURL, "verify")}, nil)
	if status != 200 || strings.TrimSpace(string(raw)) != "true" {
		t.Fatalf("verifyEmail: %d %s", status, raw)
	}
	// Verified: no further verification mail, the same answer.
	status, raw = s.action(t, "sendVerificationEmail", map[string]any{"email": "bo@example.com"}, nil)
	if status != 200 || strings.TrimSpace(string(raw)) != "true" || len(s.mails(t)) != 0 {
		t.Fatalf("sendVerificationEmail of a verified address: %d %s", status, raw)
	}

	// Sign-in by link, with the stored locale (German) and the description
	// the request gave.
	status, raw = s.action(t, "requestEmailSignIn", map[string]any{"email": "bo@example.com", "redirectTo": "https://m.example.com/callback/email", "description": "phone"}, nil)
	if status != 200 || strings.TrimSpace(string(raw)) != "true" {
		t.Fatalf("requestEmailSignIn: %d %s", status, raw)
	}
	m = s.oneMail(t, "bo@example.com")
	if m.Code() == "" {
		t.Error("the sign-in mail carries no code")
	}
	token := linkToken(t, m, "https://m.example.com/callback/email", "signin")
	status, raw = s.action(t, "signInWithEmailToken", map[string]any{"token": token}, nil)
	if status != 200 {
		t.Fatalf("signInWithEmailToken: %d %s", status, raw)
	}
	var p emailSession
	decodeJSON(t, raw, &p)
	if !p.User.EmailVerified || p.RefreshToken == "" {
		t.Errorf("signed in: %s", raw)
	}
	for _, sess := range s.sessions(t, p.AccessToken) {
		if sess.Current && (sess.Description == nil || *sess.Description != "phone") {
			t.Errorf("the new session's description: %v", sess.Description)
		}
	}
	// The code of a used token is dead too.
	status, raw = s.action(t, "signInWithEmailCode", map[string]any{"email": "bo@example.com", "code": m.Code()}, nil)
	if status < 400 || !strings.Contains(string(raw), string(auth.CodeInvalidEmailToken)) {
		t.Errorf("the code after its link: %d %s", status, raw)
	}
}

// A first sign-in by code makes a passwordless, verified account; wrong
// codes count, and after five the code is dead.
func TestAFirstEmailSignInByCodeCreatesAPasswordlessAccount(t *testing.T) {
	s := newMailServer(t, nil)
	var ok bool
	s.gql(t, `mutation { requestEmailSignIn(email: "new@example.com", locale: "fr") }`, nil, "requestEmailSignIn", &ok)
	m := s.oneMail(t, "new@example.com")
	if !strings.Contains(m.Text, "Bonjour") {
		t.Errorf("a French request got %q", m.Text)
	}
	code := m.Code()
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	signIn := `mutation($c: String!) { signInWithEmailCode(email: "NEW@example.com", code: $c) { ` + emailPayload + ` } }`
	for range 4 {
		s.gql(t, signIn, map[string]any{"c": wrong}, "", nil).wantCode(t, auth.CodeInvalidEmailToken)
	}
	var p emailSession
	s.gql(t, signIn, map[string]any{"c": code}, "signInWithEmailCode", &p)
	if p.User.Email != "new@example.com" || !p.User.EmailVerified {
		t.Errorf("the new account: %+v", p.User)
	}
	// No password: a password login cannot find one.
	s.gql(t, `mutation { login(identifier: "new@example.com", password: "") { accessToken } }`, nil, "", nil).
		wantCode(t, auth.CodeInvalidCredentials)

	// Five wrong codes kill the next one.
	s.env.Clock.Advance(2 * time.Minute)
	s.gql(t, `mutation { requestEmailSignIn(email: "new@example.com") }`, nil, "requestEmailSignIn", &ok)
	code = s.oneMail(t, "new@example.com").Code()
	for range 5 {
		s.gql(t, signIn, map[string]any{"c": wrong}, "", nil).wantCode(t, auth.CodeInvalidEmailToken)
	}
	s.gql(t, signIn, map[string]any{"c": code}, "", nil).wantCode(t, auth.CodeInvalidEmailToken)
}

// The request mutations answer alike for an unknown address, a known one
// and a throttled one; only the known one is mailed, once a minute, and a
// throttled request leaves the older link valid.
func TestRequestsAnswerAlikeAndAreThrottledPerAddress(t *testing.T) {
	s := newMailServer(t, func(c *auth.Config) { c.SignupEnabled = false })
	if _, err := s.env.Service.AddUser(context.Background(), "cy@example.com", "correct horse", "", nil); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"sendVerificationEmail", "requestPasswordReset", "requestEmailSignIn"} {
		for _, email := range []string{"cy@example.com", "nobody@example.com"} {
			status, raw := s.action(t, op, map[string]any{"email": email}, nil)
			if status != 200 || strings.TrimSpace(string(raw)) != "true" {
				t.Errorf("%s(%s): %d %s", op, email, status, raw)
			}
		}
	}
	if got := s.mails(t); len(got) != 3 {
		t.Fatalf("%d mails, want 3 (one per flow, to the account)", len(got))
	}
	// Throttled: true, no mail, the older link still good.
	s.env.Clock.Advance(30 * time.Second)
	s.action(t, "requestPasswordReset", map[string]any{"email": "cy@example.com"}, nil)
	if got := s.mails(t); len(got) != 0 {
		t.Fatalf("a throttled request sent %d mails", len(got))
	}
	s.env.Clock.Advance(31 * time.Second)
	s.action(t, "requestPasswordReset", map[string]any{"email": "cy@example.com"}, nil)
	if got := s.mails(t); len(got) != 1 {
		t.Fatalf("a request a minute later sent %d mails", len(got))
	}
}

// redirectTo must be under an allowed prefix, by parsed URL.
func TestEmailedLinksOnlyLeadToAllowedPages(t *testing.T) {
	s := newMailServer(t, nil)
	for _, bad := range []string{
		"https://app.example.com.evil.net/", "https://app.example.com@evil.net/", "http://app.example.com/",
		"https://evil.net/?https://app.example.com", "javascript:alert(1)", "//evil.net",
	} {
		r := s.graphql(t, `mutation($r: String) { requestPasswordReset(email: "x@example.com", redirectTo: $r) }`, map[string]any{"r": bad})
		r.wantCode(t, auth.CodeBadUserInput)
	}
	if got := s.mails(t); len(got) != 0 {
		t.Fatalf("%d mails for refused redirects", len(got))
	}
	s.graphql(t, `mutation { requestPasswordReset(email: "x@example.com", locale: "not a locale!") }`, nil).wantCode(t, auth.CodeBadUserInput)
}

// Required verification: sign-up answers EMAIL_NOT_VERIFIED after making
// the account and mailing the link, for a taken address too (whose owner
// is mailed instead); a correct password of an unverified user answers
// EMAIL_NOT_VERIFIED, a wrong one INVALID_CREDENTIALS; once verified, it
// signs in.
func TestRequiredVerification(t *testing.T) {
	s := newMailServer(t, func(c *auth.Config) { c.EmailVerification = auth.VerificationRequired })
	signup := `mutation($e: String!) { signup(email: $e, password: "correct horse") { accessToken } }`
	s.graphql(t, signup, map[string]any{"e": "di@example.com"}).wantCode(t, auth.CodeEmailNotVerified)
	token := linkToken(t, s.oneMail(t, "di@example.com"), appURL, "verify")

	s.graphql(t, `mutation { login(identifier: "di@example.com", password: "wrong horse") { accessToken } }`, nil).
		wantCode(t, auth.CodeInvalidCredentials)
	s.graphql(t, `mutation { login(identifier: "di@example.com", password: "correct horse") { accessToken } }`, nil).
		wantCode(t, auth.CodeEmailNotVerified)

	// Someone signs up again with the address: the same answer; the owner
	// hears of it.
	s.env.Clock.Advance(time.Minute)
	s.graphql(t, signup, map[string]any{"e": "di@example.com"}).wantCode(t, auth.CodeEmailNotVerified)
	notice := s.oneMail(t, "di@example.com")
	if notice.Link() != "" && strings.Contains(notice.Link(), "token=") {
		t.Errorf("the sign-up notice carries a token: %s", notice.Link())
	}

	var ok bool
	s.gql(t, `mutation($t: String!) { verifyEmail(token: $t) }`, map[string]any{"t": token}, "verifyEmail", &ok)
	p := s.login(t, "di@example.com", "correct horse")
	if p.User.Email != "di@example.com" {
		t.Errorf("login after verification: %+v", p)
	}
	s.gql(t, `mutation($t: String!) { verifyEmail(token: $t) }`, map[string]any{"t": token}, "", nil).wantCode(t, auth.CodeInvalidEmailToken)
}

// Without mail delivery the request mutations say so, for every address.
func TestWithoutMailTheRequestsAnswerEmailNotConfigured(t *testing.T) {
	s := newMailServer(t, func(c *auth.Config) { c.Mail = auth.MailConfig{} })
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		s.graphql(t, `mutation($e: String!) { requestPasswordReset(email: $e) }`, map[string]any{"e": email}).
			wantCode(t, auth.CodeEmailNotConfigured)
	}
}
