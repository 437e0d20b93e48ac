package config

import (
	netmail "net/mail"

	"authgate/internal/mail"
)

// DefaultAppName is the product name mails carry unless AUTHGATE_APP_NAME
// says otherwise.
const DefaultAppName = "authgate"

// MailSettings say how mail leaves authgate.
type MailSettings struct {
	// SMTP is the server mail is sent through (AUTHGATE_SMTP_URL); nil: none.
	SMTP *mail.SMTPConfig
	// From is the sender (AUTHGATE_MAIL_FROM), with AppName as its display
	// name when it names none; nil without SMTP.
	From *netmail.Address
	// AppName is the product name in mails (AUTHGATE_APP_NAME).
	AppName string
	// Templates is a directory of templates replacing the built-in ones
	// (AUTHGATE_MAIL_TEMPLATES); "": the built-in ones.
	Templates string
	// InMemory keeps mails in memory, logged and listed at /dev/mail,
	// instead of sending them. Not a setting: serve --dev turns it on when
	// there is no SMTP server.
	InMemory bool
}

// Delivered reports whether mails written to the outbox go anywhere.
func (m MailSettings) Delivered() bool { return m.SMTP != nil || m.InMemory }

// mail reads the AUTHGATE_SMTP_URL, AUTHGATE_MAIL_FROM, AUTHGATE_APP_NAME
// and AUTHGATE_MAIL_TEMPLATES settings.
func (r *reader) mail() MailSettings {
	m := MailSettings{AppName: r.str("AUTHGATE_APP_NAME", DefaultAppName), Templates: r.str("AUTHGATE_MAIL_TEMPLATES", "")}
	if raw := r.str("AUTHGATE_SMTP_URL", ""); raw != "" {
		smtp, err := mail.ParseSMTPURL(raw)
		if err != nil {
			r.fail("AUTHGATE_SMTP_URL", "%v", err)
			return m
		}
		m.SMTP = &smtp
	}
	from := r.str("AUTHGATE_MAIL_FROM", "")
	switch {
	case from != "":
		addr, err := netmail.ParseAddress(from)
		if err != nil {
			r.fail("AUTHGATE_MAIL_FROM", "%q is not an address such as no-reply@example.com or \"Acme\" <no-reply@example.com>", from)
			return m
		}
		if addr.Name == "" {
			addr.Name = m.AppName
		}
		m.From = addr
	case m.SMTP != nil:
		r.fail("AUTHGATE_MAIL_FROM", "must be set when AUTHGATE_SMTP_URL is: the address mails come from, such as no-reply@example.com")
	}
	return m
}
