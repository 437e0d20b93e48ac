package mail_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/clock"
	"authgate/internal/mail"
)

func TestParseSMTPURL(t *testing.T) {
	ok := []struct {
		url  string
		want mail.SMTPConfig
	}{
		{"smtp://mailer:p%40ss@smtp.example.com:2525", mail.SMTPConfig{Host: "smtp.example.com", Port: 2525, Security: mail.STARTTLS, Username: "mailer", Password: "p@ss"}},
		{"smtp://smtp.example.com", mail.SMTPConfig{Host: "smtp.example.com", Port: 587, Security: mail.STARTTLS}},
		{"smtps://u:p@smtp.example.com", mail.SMTPConfig{Host: "smtp.example.com", Port: 465, Security: mail.ImplicitTLS, Username: "u", Password: "p"}},
		{"smtp://localhost:1025?tls=none", mail.SMTPConfig{Host: "localhost", Port: 1025, Security: mail.NoTLS}},
		{"smtp://127.0.0.2:25/?tls=none", mail.SMTPConfig{Host: "127.0.0.2", Port: 25, Security: mail.NoTLS}},
		{"smtp://[::1]:25?tls=none", mail.SMTPConfig{Host: "::1", Port: 25, Security: mail.NoTLS}},
		{"smtp://127.0.0.1:25", mail.SMTPConfig{Host: "127.0.0.1", Port: 25, Security: mail.STARTTLS}},
	}
	for _, c := range ok {
		got, err := mail.ParseSMTPURL(c.url)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.url, got, err, c.want)
		}
	}
	bad := []struct{ url, want string }{
		{"smtp://user:hunter2@mail.example.com:25?tls=none", "tls=none (plain SMTP) is allowed only to a loopback host (localhost, 127.0.0.1, ::1), not mail.example.com"},
		{"smtp://user:hunter2@10.0.0.5?tls=none", "only to a loopback host"},
		{"smtps://localhost?tls=none", "the only tls parameter is tls=none, on smtp://"},
		{"smtp://localhost?tls=off", "the only tls parameter is tls=none"},
		{"smtp://localhost?starttls=false", `unknown parameter "starttls"`},
		{"http://user:hunter2@mail.example.com", `scheme "http"`},
		{"mail.example.com:587", `scheme "mail.example.com"`},
		{"smtp://user:hunter2@mail.example.com:0", `port "0"`},
		{"smtp://user:hunter2@mail.example.com:99999", `port "99999"`},
		{"smtp://:587", "no host"},
		{"smtp://user:hunter2@mail.example.com/relay", "a path"},
		{"smtp://user:hunter2@mail example.com", "not a URL"},
	}
	for _, c := range bad {
		_, err := mail.ParseSMTPURL(c.url)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.url, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: the error shows the password or spans lines: %v", c.url, err)
		}
	}
}

// TestMemorySenderKeepsAndLogsMails is development mode's sender: newest
// first, the last DefaultKeep only, each logged with its link.
func TestMemorySenderKeepsAndLogsMails(t *testing.T) {
	logs := &lockedBuffer{}
	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := mail.NewMemorySender(slog.New(slog.NewJSONHandler(logs, nil)), clk, 2)
	tp := loadTemplates(t, "")
	for i, to := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		m := fullMail(auth.MailSignIn, "")
		m.To, m.Code = to, "00000"+string(rune('0'+i))
		r, err := tp.Render(m)
		if err != nil {
			t.Fatal(err)
		}
		if reply, err := s.Send(bg, mail.Message{Mail: m, Rendered: r}); err != nil || reply == "" {
			t.Fatalf("Send = %q, %v", reply, err)
		}
		clk.Advance(time.Second)
	}
	got := s.Mails()
	if len(got) != 2 || got[0].To != "c@example.com" || got[1].To != "b@example.com" {
		t.Fatalf("kept %+v", got)
	}
	if got[0].Code != "000002" || got[0].Link != fullMail("", "").Link || got[0].Subject != "Your sign-in link for Acme" ||
		!strings.Contains(got[0].Text, "000002") || !strings.Contains(got[0].HTML, "000002") || !got[0].At.Equal(clk.Now().Add(-time.Second)) {
		t.Fatalf("newest = %+v", got[0])
	}
	if !strings.Contains(logs.String(), `"link":"https://app.example.com/auth?type=x&token=TOKEN123"`) || !strings.Contains(logs.String(), `"to":"a@example.com"`) {
		t.Fatalf("logs = %s", logs)
	}
}
