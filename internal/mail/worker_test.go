package mail_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/mail"
	"authgate/internal/metrics"
	"authgate/internal/sealbox"
	"authgate/internal/smtptest"
)

func scrapeMetrics(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func wantMetric(t *testing.T, text, line string) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("metrics lack %q", line)
}

// TestDeliversOverSTARTTLSWithAuth writes a reset mail through the service,
// as the flows do, and has the worker deliver it to a server that demands
// STARTTLS and AUTH: the mail arrives once, encrypted, as MIME with text and
// HTML; the outbox never held the token readable and drops the payload once
// sent; the trail records mail_sent without the token.
func TestDeliversOverSTARTTLSWithAuth(t *testing.T) {
	f := newFixture(t, smtptest.Options{Username: "mailer", Password: "p@ss word"})
	p := f.env.Signup(t, "ann@example.com", "correct horse")
	m := resetMail("")
	m.UserID = p.User.ID
	f.enqueue(t, m)

	rows := f.rows(t)
	if len(rows) != 1 || rows[0].recipient != "ann@example.com" || rows[0].template != "reset" || rows[0].payload == nil {
		t.Fatalf("outbox = %+v", rows)
	}
	wantNoSecret(t, "the outbox payload", string(rows[0].payload))

	res := runOnce(t, f.worker(f.env.Store, f.smtpSender(t)))
	if res != (mail.RunResult{Sent: 1}) {
		t.Fatalf("RunOnce = %+v", res)
	}
	got := f.smtp.Messages()
	if len(got) != 1 || !got[0].TLS || got[0].AuthUser != "mailer" || got[0].From != "no-reply@acme.test" ||
		len(got[0].To) != 1 || got[0].To[0] != "ann@example.com" {
		t.Fatalf("received %+v", got)
	}
	pm := parse(t, got[0])
	if pm.Subject != "Reset your Acme password" || pm.From != `"Acme" <no-reply@acme.test>` || pm.To != "<ann@example.com>" {
		t.Fatalf("headers: subject %q from %q to %q", pm.Subject, pm.From, pm.To)
	}
	if pm.Link() != m.Link || !strings.Contains(pm.Text, "expires in 1 hour") {
		t.Fatalf("text part: %q", pm.Text)
	}
	if !strings.Contains(pm.HTML, `href="https://app.example.com/auth?type=reset&amp;token=`+resetToken+`"`) ||
		!strings.Contains(pm.HTML, "<title>Reset your Acme password</title>") {
		t.Fatalf("html part: %q", pm.HTML)
	}
	for _, h := range []string{"Message-Id", "Date", "Auto-Submitted"} {
		if pm.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if !strings.HasSuffix(pm.Header.Get("Message-Id"), "@acme.test>") {
		t.Errorf("Message-Id %q is not on the sender's domain", pm.Header.Get("Message-Id"))
	}

	rows = f.rows(t)
	if rows[0].payload != nil || !rows[0].sentAt.Valid || !rows[0].sentAt.Time.Equal(f.env.Clock.Now()) || rows[0].attempts != 1 {
		t.Fatalf("after sending: %+v", rows[0])
	}
	audit := f.audit(t)
	want := fmt.Sprintf(`mail_sent %s {"email": "ann@example.com", "attempts": 1, "template": "reset", "outbox_id": 1}`, p.User.ID)
	if len(audit) != 1 || audit[0] != want {
		t.Fatalf("audit = %q, want %q", audit, want)
	}
	wantNoSecret(t, "the logs", f.logs.String())
	wantMetric(t, f.scrape(t), `authgate_mail_sent_total{template="reset"} 1`)
	if res := runOnce(t, f.worker(f.env.Store, f.smtpSender(t))); res != (mail.RunResult{}) {
		t.Fatalf("a second run did %+v", res)
	}
}

// TestImplicitTLSOnSMTPS delivers over smtps://.
func TestImplicitTLSOnSMTPS(t *testing.T) {
	f := newFixture(t, smtptest.Options{Security: smtptest.ImplicitTLS, Username: "mailer", Password: "s3cret"})
	if !strings.HasPrefix(f.smtp.URL(), "smtps://") {
		t.Fatalf("URL = %s", f.smtp.URL())
	}
	f.enqueue(t, resetMail("de"))
	if res := runOnce(t, f.worker(f.env.Store, f.smtpSender(t))); res.Sent != 1 {
		t.Fatalf("RunOnce = %+v; logs %s", res, f.logs)
	}
	if got := f.smtp.Messages(); len(got) != 1 || !got[0].TLS || got[0].AuthUser != "mailer" {
		t.Fatalf("received %+v", got)
	}
}

// TestSTARTTLSIsRequiredOnSMTP points smtp:// at a server that offers no
// STARTTLS: nothing is sent (the password least of all), and the mail waits
// to be tried again.
func TestSTARTTLSIsRequiredOnSMTP(t *testing.T) {
	f := newFixture(t, smtptest.Options{Security: smtptest.Plain, Username: "mailer", Password: "s3cret"})
	f.enqueue(t, resetMail(""))
	withoutTLSNone := strings.TrimSuffix(f.smtp.URL(), "?tls=none")
	res := runOnce(t, f.worker(f.env.Store, f.senderFor(t, withoutTLSNone)))
	if res != (mail.RunResult{Retried: 1}) {
		t.Fatalf("RunOnce = %+v", res)
	}
	if n := len(f.smtp.Messages()); n != 0 {
		t.Fatalf("%d messages went over a connection without TLS", n)
	}
	if r := f.rows(t)[0]; !strings.Contains(r.lastError.String, "STARTTLS") {
		t.Fatalf("last error = %q", r.lastError.String)
	}
	// Asking for plain SMTP explicitly (loopback only) does send.
	f.env.Clock.Advance(mail.DefaultFirstRetry)
	if res := runOnce(t, f.worker(f.env.Store, f.smtpSender(t))); res.Sent != 1 {
		t.Fatalf("with tls=none: %+v", res)
	}
	if got := f.smtp.Messages(); len(got) != 1 || got[0].TLS || got[0].AuthUser != "mailer" {
		t.Fatalf("received %+v", got)
	}
}

// TestTemporaryFailureIsRetriedAndTheMailArrivesOnce: a server that answers
// 421 and then recovers gets the mail once, 10 s after the failure.
func TestTemporaryFailureIsRetriedAndTheMailArrivesOnce(t *testing.T) {
	f := newFixture(t, smtptest.Options{})
	f.enqueue(t, resetMail(""))
	w := f.worker(f.env.Store, f.smtpSender(t))
	f.smtp.FailNext(1, 421)
	if res := runOnce(t, w); res != (mail.RunResult{Retried: 1}) {
		t.Fatalf("RunOnce = %+v", res)
	}
	r := f.rows(t)[0]
	if !r.next.Equal(f.env.Clock.Now().Add(10*time.Second)) || !strings.Contains(r.lastError.String, "421") || r.payload == nil {
		t.Fatalf("after a 421: %+v", r)
	}
	f.env.Clock.Advance(10*time.Second - time.Microsecond)
	if res := runOnce(t, w); res != (mail.RunResult{}) {
		t.Fatalf("tried before the retry was due: %+v", res)
	}
	f.env.Clock.Advance(time.Microsecond)
	if res := runOnce(t, w); res != (mail.RunResult{Sent: 1}) {
		t.Fatalf("the retry: %+v", res)
	}
	if got := f.smtp.Messages(); len(got) != 1 || f.smtp.Refused() != 1 {
		t.Fatalf("%d received, %d refused; want 1 and 1", len(got), f.smtp.Refused())
	}
	f.env.Clock.Advance(time.Hour)
	if res := runOnce(t, w); res != (mail.RunResult{}) {
		t.Fatalf("a sent mail was tried again: %+v", res)
	}
	text := f.scrape(t)
	wantMetric(t, text, `authgate_mail_retried_total{template="reset"} 1`)
	wantMetric(t, text, `authgate_mail_sent_total{template="reset"} 1`)
}

// TestRetriesBackOffThenGiveUpAfterADay: against a server that is down, the
// tries come 10 s, 20 s, 40 s … apart, never more than an hour, the last
// one exactly 24 h after the mail was written; then it fails for good,
// audited, its payload dropped.
func TestRetriesBackOffThenGiveUpAfterADay(t *testing.T) {
	f := newFixture(t, smtptest.Options{})
	p := f.env.Signup(t, "ann@example.com", "correct horse")
	m := resetMail("")
	m.UserID = p.User.ID
	written := f.env.Clock.Now()
	f.enqueue(t, m)
	f.smtp.Stop()
	w := f.worker(f.env.Store, f.smtpSender(t))

	var waits []time.Duration
	for range 100 {
		res := runOnce(t, w)
		if res.Failed == 1 {
			break
		}
		if res != (mail.RunResult{Retried: 1}) {
			t.Fatalf("try %d: %+v", len(waits)+1, res)
		}
		next := f.rows(t)[0].next
		waits = append(waits, next.Sub(f.env.Clock.Now()))
		f.env.Clock.Set(next)
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second,
		320 * time.Second, 640 * time.Second, 1280 * time.Second, 2560 * time.Second, time.Hour, time.Hour}
	if len(waits) < len(want) {
		t.Fatalf("waits %v", waits)
	}
	for i, d := range want {
		if waits[i] != d {
			t.Fatalf("wait %d is %s, want %s (all: %v)", i+1, waits[i], d, waits)
		}
	}
	for i, d := range waits[len(want):] {
		if d > time.Hour || d <= 0 {
			t.Fatalf("wait %d is %s", len(want)+i+1, d)
		}
	}
	if !f.env.Clock.Now().Equal(written.Add(24 * time.Hour)) {
		t.Fatalf("the last try came at %s after the mail was written, want 24h", f.env.Clock.Now().Sub(written))
	}
	r := f.rows(t)[0]
	if !r.failedAt.Valid || r.payload != nil || r.attempts != len(waits)+1 {
		t.Fatalf("after the window: %+v", r)
	}
	audit := f.audit(t)
	if len(audit) != 1 || !strings.HasPrefix(audit[0], "mail_failed "+p.User.ID) || !strings.Contains(audit[0], `"reason": "expired"`) {
		t.Fatalf("audit = %q", audit)
	}
	wantNoSecret(t, "the audit trail", audit[0])
	f.smtp.Restart(t)
	f.env.Clock.Advance(time.Hour)
	if res := runOnce(t, w); res != (mail.RunResult{}) {
		t.Fatalf("a failed mail was tried again: %+v", res)
	}
	wantMetric(t, f.scrape(t), `authgate_mail_failed_total{reason="expired",template="reset"} 1`)
}

// TestPermanentFailureIsRecordedAuditedAndNotRetried: a 550 ends the mail.
func TestPermanentFailureIsRecordedAuditedAndNotRetried(t *testing.T) {
	f := newFixture(t, smtptest.Options{})
	p := f.env.Signup(t, "ann@example.com", "correct horse")
	m := resetMail("")
	m.UserID = p.User.ID
	f.enqueue(t, m)
	w := f.worker(f.env.Store, f.smtpSender(t))
	f.smtp.FailNext(1, 550)
	if res := runOnce(t, w); res != (mail.RunResult{Failed: 1}) {
		t.Fatalf("RunOnce = %+v", res)
	}
	r := f.rows(t)[0]
	if !r.failedAt.Valid || r.payload != nil || !strings.Contains(r.lastError.String, "550") {
		t.Fatalf("after a 550: %+v", r)
	}
	audit := f.audit(t)
	if len(audit) != 1 || !strings.HasPrefix(audit[0], "mail_failed "+p.User.ID) ||
		!strings.Contains(audit[0], `"reason": "permanent"`) || !strings.Contains(audit[0], "550") {
		t.Fatalf("audit = %q", audit)
	}
	wantNoSecret(t, "the audit trail", audit[0])
	f.env.Clock.Advance(2 * time.Hour)
	if res := runOnce(t, w); res != (mail.RunResult{}) {
		t.Fatalf("a refused mail was tried again: %+v", res)
	}
	if f.smtp.Refused() != 1 || len(f.smtp.Messages()) != 0 {
		t.Fatalf("refused %d, received %d", f.smtp.Refused(), len(f.smtp.Messages()))
	}
	wantMetric(t, f.scrape(t), `authgate_mail_failed_total{reason="permanent",template="reset"} 1`)
}

// TestServerDownAcrossARestartLosesNothing: the server is down when the
// first instance tries; that instance goes away; after a restart (a new
// store pool and worker on the same database) and the server's return, the
// mail arrives, once.
func TestServerDownAcrossARestartLosesNothing(t *testing.T) {
	f := newFixture(t, smtptest.Options{Username: "mailer", Password: "s3cret"})
	f.enqueue(t, resetMail("fr"))
	f.smtp.Stop()
	before := f.instance(t)
	if res := runOnce(t, f.worker(before, f.smtpSender(t))); res != (mail.RunResult{Retried: 1}) {
		t.Fatalf("with the server down: %+v", res)
	}
	if err := before.Close(); err != nil {
		t.Fatal(err)
	}

	after := f.instance(t)
	f.smtp.Restart(t)
	f.env.Clock.Advance(mail.DefaultFirstRetry)
	if res := runOnce(t, f.worker(after, f.smtpSender(t))); res != (mail.RunResult{Sent: 1}) {
		t.Fatalf("after the restart: %+v", res)
	}
	got := f.smtp.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	if pm := parse(t, got[0]); pm.Subject != "Réinitialisez votre mot de passe Acme" || pm.Link() != resetMail("").Link {
		t.Fatalf("received %q, link %q", pm.Subject, pm.Link())
	}
}

// gatedSender holds each Send at its start until released, so a test can
// act while a worker is in the middle of sending.
type gatedSender struct {
	next    mail.Sender
	sending chan string
	release chan struct{}
}

func (g *gatedSender) Send(ctx context.Context, m mail.Message) (string, error) {
	g.sending <- m.To
	<-g.release
	return g.next.Send(ctx, m)
}

// TestTwoWorkersNeverSendTheSameMail stops one instance's worker in the
// middle of sending the only mail and runs another instance's worker then:
// it finds nothing to do, and the mail arrives once.
func TestTwoWorkersNeverSendTheSameMail(t *testing.T) {
	f := newFixture(t, smtptest.Options{})
	f.enqueue(t, resetMail(""))
	gate := &gatedSender{next: f.smtpSender(t), sending: make(chan string, 1), release: make(chan struct{})}
	first := f.worker(f.instance(t), gate)
	second := f.worker(f.instance(t), f.smtpSender(t))

	done := make(chan mail.RunResult, 1)
	go func() {
		res, err := first.RunOnce(bg)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-gate.sending // the first worker holds the mail and is sending it
	if res := runOnce(t, second); res != (mail.RunResult{}) {
		t.Fatalf("the second worker, while the first sends: %+v", res)
	}
	close(gate.release)
	if res := <-done; res != (mail.RunResult{Sent: 1}) {
		t.Fatalf("the first worker: %+v", res)
	}
	if res := runOnce(t, second); res != (mail.RunResult{}) {
		t.Fatalf("the second worker, afterwards: %+v", res)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// TestWorkersShareTheOutboxConcurrently runs three instances' workers at
// once over many mails: each mail is sent exactly once.
func TestWorkersShareTheOutboxConcurrently(t *testing.T) {
	f := newFixture(t, smtptest.Options{})
	const mails = 30
	for i := range mails {
		m := resetMail("")
		m.To = fmt.Sprintf("user%02d@example.com", i)
		f.enqueue(t, m)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total mail.RunResult
	)
	for range 3 {
		w := f.worker(f.instance(t), f.smtpSender(t))
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := w.RunOnce(bg)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total.Sent += res.Sent
			total.Retried += res.Retried
			total.Failed += res.Failed
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != (mail.RunResult{Sent: mails}) {
		t.Fatalf("the workers did %+v, want %d sent", total, mails)
	}
	seen := map[string]int{}
	for _, m := range f.smtp.Messages() {
		seen[m.To[0]]++
	}
	for i := range mails {
		if to := fmt.Sprintf("user%02d@example.com", i); seen[to] != 1 {
			t.Errorf("%s received %d times", to, seen[to])
		}
	}
}

// afterSend runs then once the server has answered a send: a crash or a
// shutdown at that exact point.
type afterSend struct {
	next mail.Sender
	then func()
}

func (a afterSend) Send(ctx context.Context, m mail.Message) (string, error) {
	reply, err := a.next.Send(ctx, m)
	a.then()
	return reply, err
}

// TestAnInstanceThatDiesAfterSendingLeavesTheMailToBeSentAgain: delivery
// is at least once. The mail whose outcome was never recorded is sent again
// by another instance once the dead one's lease ends, not before.
func TestAnInstanceThatDiesAfterSendingLeavesTheMailToBeSentAgain(t *testing.T) {
	f := newFixture(t, smtptest.Options{})
	f.enqueue(t, resetMail(""))
	dying := f.instance(t)
	_, err := f.worker(dying, afterSend{next: f.smtpSender(t), then: func() { dying.Close() }}).RunOnce(bg)
	if err == nil {
		t.Fatal("recording after the crash succeeded")
	}
	survivor := f.worker(f.instance(t), f.smtpSender(t))
	f.env.Clock.Advance(mail.DefaultLease - time.Microsecond)
	if res := runOnce(t, survivor); res != (mail.RunResult{}) {
		t.Fatalf("taken before the lease ended: %+v", res)
	}
	f.env.Clock.Advance(time.Microsecond)
	if res := runOnce(t, survivor); res != (mail.RunResult{Sent: 1}) {
		t.Fatalf("after the lease: %+v", res)
	}
	if n := len(f.smtp.Messages()); n != 2 {
		t.Fatalf("%d messages; want 2 (sent, crashed before recording, sent again)", n)
	}
	if audit := f.audit(t); len(audit) != 1 {
		t.Fatalf("audit = %q", audit)
	}
}

// TestAMailSealedUnderAForgottenSecretFailsForGood: after the outbox secret
// changed without the old one listed as previous, old mails cannot be
// opened; they are failed and audited, not retried for a day.
func TestAMailSealedUnderAForgottenSecretFailsForGood(t *testing.T) {
	f := newFixture(t, smtptest.Options{})
	f.enqueue(t, resetMail(""))
	rotated, err := sealbox.New("mail outbox", []byte("another-secret-0123456789abcdef012345678"))
	if err != nil {
		t.Fatal(err)
	}
	f.box = rotated
	if res := runOnce(t, f.worker(f.env.Store, f.smtpSender(t))); res != (mail.RunResult{Failed: 1}) {
		t.Fatalf("RunOnce = %+v", res)
	}
	if audit := f.audit(t); len(audit) != 1 || !strings.Contains(audit[0], `"reason": "unreadable"`) {
		t.Fatalf("audit = %q", audit)
	}
	if r := f.rows(t)[0]; !r.failedAt.Valid || r.payload != nil {
		t.Fatalf("row = %+v", r)
	}

	// Listing the old secret as previous opens its mails again.
	f.enqueue(t, resetMail(""))
	withPrevious, err := sealbox.New("mail outbox", []byte("another-secret-0123456789abcdef012345678"), outboxSecret)
	if err != nil {
		t.Fatal(err)
	}
	f.box = withPrevious
	if res := runOnce(t, f.worker(f.env.Store, f.smtpSender(t))); res != (mail.RunResult{Sent: 1}) {
		t.Fatalf("with the previous secret: %+v", res)
	}
}

// TestSendMailRefusesWithoutDelivery: with no sender configured outside
// development the service writes no mail and says so.
func TestSendMailRefusesWithoutDelivery(t *testing.T) {
	f := newFixture(t, smtptest.Options{})
	cases := []struct {
		name string
		cfg  auth.MailConfig
		mail auth.Mail
		code auth.Code
	}{
		{"no delivery", auth.MailConfig{Sealer: f.box}, resetMail(""), auth.CodeEmailNotConfigured},
		{"no sealer", auth.MailConfig{Delivered: true}, resetMail(""), auth.CodeEmailNotConfigured},
		{"an unknown template", auth.MailConfig{Sealer: f.box, Delivered: true}, auth.Mail{Template: "welcome", To: "ann@example.com"}, auth.CodeBadUserInput},
		{"a bad address", auth.MailConfig{Sealer: f.box, Delivered: true}, auth.Mail{Template: auth.MailTest, To: "ann@"}, auth.CodeBadUserInput},
		{"a user id that is no UUID", auth.MailConfig{Sealer: f.box, Delivered: true}, auth.Mail{Template: auth.MailTest, To: "ann@example.com", UserID: "42"}, auth.CodeBadUserInput},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := f.env.Config
			cfg.Mail = c.cfg
			svc := auth.New(f.env.Store, nil, f.env.Issuer, f.env.Hasher, f.env.Keys, f.env.Clock, nil, cfg)
			if svc.MailConfigured() != (c.code != auth.CodeEmailNotConfigured) {
				t.Fatalf("MailConfigured = %v", svc.MailConfigured())
			}
			err := svc.SendMail(bg, c.mail)
			if auth.CodeOf(err) != c.code {
				t.Fatalf("SendMail = %v, want %s", err, c.code)
			}
		})
	}
	if rows := f.rows(t); len(rows) != 0 {
		t.Fatalf("%d mails written", len(rows))
	}
}

// TestAShutdownDuringASendStillRecordsIt: the outcome of a send that
// completed is recorded even though the worker is stopping, so the mail is
// not sent again after the lease.
func TestAShutdownDuringASendStillRecordsIt(t *testing.T) {
	f := newFixture(t, smtptest.Options{})
	f.enqueue(t, resetMail(""))
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	res, err := f.worker(f.env.Store, afterSend{next: f.smtpSender(t), then: cancel}).RunOnce(ctx)
	if res != (mail.RunResult{Sent: 1}) || err == nil {
		t.Fatalf("RunOnce = %+v, %v; want one sent, then the context's end", res, err)
	}
	if r := f.rows(t)[0]; !r.sentAt.Valid || r.payload != nil {
		t.Fatalf("the sent mail was not recorded: %+v", r)
	}
	f.env.Clock.Advance(mail.DefaultLease)
	if res := runOnce(t, f.worker(f.env.Store, f.smtpSender(t))); res != (mail.RunResult{}) {
		t.Fatalf("sent again after the lease: %+v", res)
	}
}
