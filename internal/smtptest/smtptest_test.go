package smtptest_test

import (
	"crypto/tls"
	"errors"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"authgate/internal/smtptest"
)

// A multipart/alternative mail as clients write it: quoted-printable text,
// base64 HTML, an encoded-word subject.
const multipartMail = "From: Acme <no-reply@acme.test>\r\n" +
	"To: ann@example.com\r\n" +
	"Subject: =?UTF-8?q?R=C3=A9initialiser_le_mot_de_passe?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=b1\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Ouvrez ce lien=C2=A0:\r\n" +
	"https://app.example.com/auth?type=3Dreset&token=3Dabc_DEF-123\r\n" +
	"\r\n" +
	"  123456\r\n" +
	"Valable 1 heure. Ticket 20301.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+PGEgaHJlZj0iaHR0cHM6Ly9hcHAuZXhhbXBsZS5jb20v\r\n" +
	"Ij5PdXZyaXI8L2E+PC9wPg==\r\n" +
	"--b1--\r\n"

func TestParseReadsMultipartMail(t *testing.T) {
	m, err := smtptest.Parse([]byte(multipartMail))
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Réinitialiser le mot de passe" || m.From != "Acme <no-reply@acme.test>" {
		t.Fatalf("headers: subject %q, from %q", m.Subject, m.From)
	}
	if !strings.Contains(m.Text, "Ouvrez ce lien\u00a0:") {
		t.Fatalf("text not decoded: %q", m.Text)
	}
	if m.HTML != `<p><a href="https://app.example.com/">Ouvrir</a></p>` {
		t.Fatalf("html = %q", m.HTML)
	}
	if got := m.Link(); got != "https://app.example.com/auth?type=reset&token=abc_DEF-123" {
		t.Fatalf("Link = %q", got)
	}
	if got := m.Code(); got != "123456" {
		t.Fatalf("Code = %q", got)
	}
}

// send delivers one message through the standard library's client, over
// STARTTLS when the server offers it.
func send(s *smtptest.Server, user, pass string) error {
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: s.Host(), RootCAs: s.RootCAs()}); err != nil {
			return err
		}
	}
	if user != "" {
		if err := c.Auth(smtp.PlainAuth("", user, pass, s.Host())); err != nil {
			return err
		}
	}
	if err := c.Mail("no-reply@acme.test"); err != nil {
		return err
	}
	if err := c.Rcpt("ann@example.com"); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(multipartMail)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func smtpCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func TestServerRecordsRefusesAndRestarts(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Username: "mailer", Password: "s3cret"})
	if err := send(s, "mailer", "wrong"); smtpCode(err) != 535 {
		t.Fatalf("a wrong password: %v, want 535", err)
	}
	if err := send(s, "", ""); smtpCode(err) != 502 {
		t.Fatalf("no AUTH: %v, want 502", err)
	}
	if err := send(s, "mailer", "s3cret"); err != nil {
		t.Fatal(err)
	}
	got := s.WaitForMessages(t, 1, 5*time.Second)
	if !got[0].TLS || got[0].AuthUser != "mailer" || got[0].To[0] != "ann@example.com" {
		t.Fatalf("recorded %+v", got[0])
	}

	s.FailNext(2, 421)
	for range 2 {
		if err := send(s, "mailer", "s3cret"); smtpCode(err) != 421 {
			t.Fatalf("told to fail: %v, want 421", err)
		}
	}
	s.FailNext(1, 550)
	if err := send(s, "mailer", "s3cret"); smtpCode(err) != 550 {
		t.Fatalf("told to fail: %v, want 550", err)
	}
	if s.Refused() != 3 || len(s.Messages()) != 1 {
		t.Fatalf("refused %d, kept %d", s.Refused(), len(s.Messages()))
	}

	addr := s.Addr()
	s.Stop()
	if err := send(s, "mailer", "s3cret"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("a stopped server: %v, want connection refused", err)
	}
	s.Restart(t)
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, was %s", s.Addr(), addr)
	}
	if err := send(s, "mailer", "s3cret"); err != nil {
		t.Fatal(err)
	}
	s.WaitForMessages(t, 2, 5*time.Second)
}

func TestPlainServerOffersNoTLS(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Security: smtptest.Plain})
	if err := send(s, "", ""); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitForMessages(t, 1, 5*time.Second)[0]; m.TLS {
		t.Fatal("a plain server recorded a TLS message")
	}
	if !strings.HasPrefix(s.URL(), "smtp://127.0.0.1:") || !strings.HasSuffix(s.URL(), "?tls=none") {
		t.Fatalf("URL = %s", s.URL())
	}
}
