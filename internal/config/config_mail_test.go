package config_test

import (
	"strings"
	"testing"

	"authgate/internal/config"
	"authgate/internal/mail"
)

// TestMailSettings reads the mail settings and their defaults.
func TestMailSettings(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mail.SMTP != nil || c.Mail.From != nil || c.Mail.AppName != "authgate" || c.Mail.Templates != "" || c.Mail.Delivered() {
		t.Fatalf("defaults: %+v", c.Mail)
	}
	c, err = config.Load(env(map[string]string{
		"AUTHGATE_SMTP_URL":       "smtps://mailer:s3cret@smtp.example.com",
		"AUTHGATE_MAIL_FROM":      "no-reply@acme.test",
		"AUTHGATE_APP_NAME":       "Acme",
		"AUTHGATE_MAIL_TEMPLATES": "/etc/authgate/mail",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := mail.SMTPConfig{Host: "smtp.example.com", Port: 465, Security: mail.ImplicitTLS, Username: "mailer", Password: "s3cret"}
	if c.Mail.SMTP == nil || *c.Mail.SMTP != want || c.Mail.From.String() != `"Acme" <no-reply@acme.test>` ||
		c.Mail.AppName != "Acme" || c.Mail.Templates != "/etc/authgate/mail" || !c.Mail.Delivered() {
		t.Fatalf("read: %+v (smtp %+v, from %v)", c.Mail, c.Mail.SMTP, c.Mail.From)
	}
	c, err = config.Load(env(map[string]string{"AUTHGATE_MAIL_FROM": `"Acme Accounts" <accounts@acme.test>`}))
	if err != nil || c.Mail.From.Name != "Acme Accounts" {
		t.Fatalf("a display name of its own: %v, %v", c.Mail.From, err)
	}
}

// TestBadMailSettingIsOneLineNamingIt: each refusal is one line that starts
// with the setting and never shows the SMTP password.
func TestBadMailSettingIsOneLineNamingIt(t *testing.T) {
	cases := []struct {
		vars    map[string]string
		setting string
		want    string
	}{
		{map[string]string{"AUTHGATE_SMTP_URL": "smtp://mailer:hunter2@mail.example.com:25?tls=none", "AUTHGATE_MAIL_FROM": "a@b.test"},
			"AUTHGATE_SMTP_URL", "tls=none (plain SMTP) is allowed only to a loopback host"},
		{map[string]string{"AUTHGATE_SMTP_URL": "smtpx://mailer:hunter2@mail.example.com", "AUTHGATE_MAIL_FROM": "a@b.test"},
			"AUTHGATE_SMTP_URL", "use smtp:// (STARTTLS) or smtps://"},
		{map[string]string{"AUTHGATE_SMTP_URL": "smtp://mailer:hunter2@mail.example.com"},
			"AUTHGATE_MAIL_FROM", "must be set when AUTHGATE_SMTP_URL is"},
		{map[string]string{"AUTHGATE_MAIL_FROM": "not an address"},
			"AUTHGATE_MAIL_FROM", "is not an address"},
	}
	for _, c := range cases {
		_, err := config.Load(env(c.vars))
		if err == nil {
			t.Errorf("%v accepted", c.vars)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, c.setting+": ") || !strings.Contains(msg, c.want) || strings.ContainsAny(msg, "\r\n") || strings.Contains(msg, "hunter2") {
			t.Errorf("%v: %q, want one line starting %s: with %q and no password", c.vars, msg, c.setting, c.want)
		}
	}
}
