package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/cli"
	"authgate/internal/sealbox"
	"authgate/internal/smtptest"
)

// refreshSecret is the AUTHGATE_REFRESH_TOKEN_SECRET of the mail tests: it
// keys the outbox's seal.
const refreshSecret = "refresh-secret-0123456789abcdef0123456789"

// mailEnv is a test environment whose service writes mail to the outbox
// sealed as `authgate serve` with refreshSecret opens it.
func mailEnv(t *testing.T) *authtest.Env {
	t.Helper()
	box, err := sealbox.New("mail outbox", []byte(refreshSecret))
	if err != nil {
		t.Fatal(err)
	}
	cfg := authtest.DefaultConfig()
	cfg.Mail = auth.MailConfig{Sealer: box, Delivered: true}
	env := authtest.New(t, cfg)
	// The server's worker runs on the wall clock: mails are due from now.
	env.Clock.Set(time.Now())
	return env
}

func TestMailTestSendsOneMailAndPrintsTheAnswer(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{Security: smtptest.Plain, Username: "mailer", Password: "s3cret"})
	s := settings{"AUTHGATE_SMTP_URL": srv.URL(), "AUTHGATE_MAIL_FROM": "no-reply@acme.test", "AUTHGATE_APP_NAME": "Acme"}

	out := mustRun(t, s, "", "mail", "test", "--to", "Ann@Example.com", "--locale", "fr")
	wantLines(t, out, []string{`sent to Ann@Example.com via 127\.0\.0\.1:\d+ \(none\); the server answered: 2\.0\.0 OK: queued`})
	got := srv.Messages()
	if len(got) != 1 || got[0].AuthUser != "mailer" {
		t.Fatalf("received %+v", got)
	}
	m, err := got[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "E-mail de test de Acme" || !strings.Contains(m.Text, "authgate mail test") || m.HTML == "" {
		t.Fatalf("the test mail: %q %q", m.Subject, m.Text)
	}

	srv.FailNext(1, 550)
	r := run(t, s, "", "mail", "test", "--to", "ann@example.com")
	if r.code != 1 || r.stdout != "" || !regexp.MustCompile(`^authgate: mail test: ann@example\.com via 127\.0\.0\.1:\d+ \(none\): .*550.* \(permanent failure: the outbox would not try again\)\n$`).MatchString(r.stderr) {
		t.Fatalf("a 550: exit %d, stderr %q", r.code, r.stderr)
	}
	srv.Stop()
	r = run(t, s, "", "mail", "test", "--to", "ann@example.com")
	if r.code != 1 || !strings.Contains(r.stderr, "connection refused") || !strings.HasSuffix(r.stderr, "(temporary failure: the outbox would try again)\n") {
		t.Fatalf("a server that is down: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestMailTestRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		s    settings
		args []string
		code int
		want string
	}{
		{"no --to", settings{}, []string{"mail", "test"}, 2, "authgate: mail test: --to is required\n"},
		{"no subcommand", settings{}, []string{"mail"}, 2, "authgate: mail: the only subcommand is test\n"},
		{"no SMTP", settings{}, []string{"mail", "test", "--to", "ann@example.com"}, 1,
			"authgate: AUTHGATE_SMTP_URL is not set: there is no SMTP server to test\n"},
		{"plain SMTP to another host", settings{"AUTHGATE_SMTP_URL": "smtp://u:hunter2@mail.example.com?tls=none", "AUTHGATE_MAIL_FROM": "a@b.test"},
			[]string{"mail", "test", "--to", "ann@example.com"}, 1,
			"authgate: AUTHGATE_SMTP_URL: tls=none (plain SMTP) is allowed only to a loopback host (localhost, 127.0.0.1, ::1), not mail.example.com: use smtp:// with STARTTLS or smtps://\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, c.s, "", c.args...)
			if r.code != c.code || !strings.HasPrefix(r.stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want %d, %q", r.code, r.stderr, c.code, c.want)
			}
		})
	}
}

// TestServeRefusesPlainSMTPToAnotherHost: start-up fails with one line
// naming the setting, and never shows the password.
func TestServeRefusesPlainSMTPToAnotherHost(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, auth.Config{})
	s := baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0",
		"AUTHGATE_SMTP_URL", "smtp://mailer:hunter2@smtp.example.com:25?tls=none", "AUTHGATE_MAIL_FROM", "no-reply@acme.test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := cli.Run(ctx, []string{"serve"}, cli.Env{Getenv: func(name string) string { return s[name] },
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	if ctx.Err() != nil {
		t.Fatalf("serve started instead of refusing the setting: %s", errOut.String())
	}
	r := result{code: code, stdout: out.String(), stderr: errOut.String()}
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "authgate: AUTHGATE_SMTP_URL: tls=none (plain SMTP) is allowed only to a loopback host") ||
		strings.Contains(r.stderr, "hunter2") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeDeliversTheOutbox: a mail written to the outbox is delivered by
// the running server's worker over SMTP, counted in /metrics; /dev/mail does
// not exist outside development.
func TestServeDeliversTheOutbox(t *testing.T) {
	t.Parallel()
	env := mailEnv(t)
	srv := smtptest.Start(t, smtptest.Options{Security: smtptest.Plain})
	const listening = "authgate listening"
	run := startServe(t, baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0", "AUTHGATE_REFRESH_TOKEN_SECRET", refreshSecret,
		"AUTHGATE_SMTP_URL", srv.URL(), "AUTHGATE_MAIL_FROM", "no-reply@acme.test"), listening)
	base := run.addrs[listening]

	if err := env.Service.SendMail(context.Background(), auth.Mail{Template: auth.MailVerify, To: "ann@example.com", Locale: "es",
		Link: "https://app.example.com/?type=verify&token=T0K3N", ExpiresIn: time.Hour}); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitForMessages(t, 1, 30*time.Second)
	m, err := got[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Confirma tu dirección de correo para authgate" || m.Link() != "https://app.example.com/?type=verify&token=T0K3N" ||
		m.From != `"authgate" <no-reply@acme.test>` {
		t.Fatalf("received %q from %q, link %q", m.Subject, m.From, m.Link())
	}
	if status, _ := httpGet(t, base+"/dev/mail"); status != http.StatusNotFound {
		t.Fatalf("/dev/mail outside development: %d", status)
	}
	// The worker logs the send once it has counted it.
	run.logs.await(t, `"msg":"mail sent"`, 30*time.Second)
	if _, metrics := httpGet(t, base+"/metrics"); !strings.Contains(metrics, `authgate_mail_sent_total{template="verify"} 1`) {
		t.Fatalf("no sent mail in /metrics:\n%s", metrics)
	}
	if strings.Contains(run.logs.String(), "T0K3N") {
		t.Fatalf("the token reached the logs: %s", run.logs)
	}
}

// TestServeDevKeepsMailsInMemory: `serve --dev` without SMTP keeps mails,
// logs their links and lists them at /dev/mail.
func TestServeDevKeepsMailsInMemory(t *testing.T) {
	t.Parallel()
	env := mailEnv(t)
	const listening = "authgate listening"
	run := startServeArgs(t, []string{"serve", "--dev", "--data-dir", t.TempDir()},
		baseSettings(env).with("AUTHGATE_ADDR", "127.0.0.1:0", "AUTHGATE_REFRESH_TOKEN_SECRET", refreshSecret), listening)
	base := run.addrs[listening]
	if err := env.Service.SendMail(context.Background(), auth.Mail{Template: auth.MailSignIn, To: "ann@example.com",
		Link: "https://app.example.com/?type=signin&token=DEV", Code: "424242", ExpiresIn: 15 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	logged := run.logs.await(t, "development mail kept", 30*time.Second)
	if logAttr(logged, "link") != "https://app.example.com/?type=signin&token=DEV" {
		t.Fatalf("the development log lacks the link: %s", logged)
	}
	var kept []struct{ To, Subject, Text, Link, Code string }
	status, body := httpGet(t, base+"/dev/mail")
	if status != http.StatusOK || json.Unmarshal([]byte(body), &kept) != nil || len(kept) != 1 {
		t.Fatalf("/dev/mail: %d %s", status, body)
	}
	k := kept[0]
	if k.To != "ann@example.com" || k.Subject != "Your sign-in link for authgate" || k.Link != "https://app.example.com/?type=signin&token=DEV" ||
		k.Code != "424242" || !strings.Contains(k.Text, "424242") {
		t.Fatalf("kept %+v", k)
	}
}
