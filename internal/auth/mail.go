package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// MailTemplate names the kind of mail, and so the template it is written
// with. The names are stored in the outbox and the audit trail: never
// rename one.
type MailTemplate string

// The mails authgate sends.
const (
	MailVerify            MailTemplate = "verify"              // confirm the address: Link
	MailReset             MailTemplate = "reset"               // choose a new password: Link
	MailSignIn            MailTemplate = "signin"              // sign in without a password: Link and Code
	MailEmailChange       MailTemplate = "email_change"        // to the new address, to confirm it: Link, NewEmail
	MailEmailChangeNotice MailTemplate = "email_change_notice" // to the old address: NewEmail
	MailSignupExisting    MailTemplate = "signup_existing"     // someone signed up with an address that has an account
	MailTest              MailTemplate = "test"                // `authgate mail test`
)

// MailTemplates lists every template, in a stable order.
var MailTemplates = []MailTemplate{MailVerify, MailReset, MailSignIn, MailEmailChange, MailEmailChangeNotice, MailSignupExisting, MailTest}

// Valid reports whether t is one of MailTemplates.
func (t MailTemplate) Valid() bool {
	for _, known := range MailTemplates {
		if t == known {
			return true
		}
	}
	return false
}

// Mail is one message the service asks to be sent. It is written to the
// outbox in the statement that makes the change it announces, sealed (it
// may carry a token): see Service.sealMail and OutboxMail.
type Mail struct {
	Template MailTemplate `json:"template"`
	To       string       `json:"to"`
	// Locale is the reader's language as a BCP 47 tag ("fr", "de-AT");
	// "" and languages without templates read English.
	Locale string `json:"locale,omitempty"`
	UserID string `json:"userId,omitempty"`
	// Link is the app URL with the query parameters type and token added.
	Link string `json:"link,omitempty"`
	// Code is the 6-digit sign-in code.
	Code string `json:"code,omitempty"`
	// NewEmail is the address being changed to (email_change_notice).
	NewEmail string `json:"newEmail,omitempty"`
	// ExpiresIn is how long Link and Code stay valid, told to the reader.
	ExpiresIn time.Duration `json:"expiresIn,omitempty"`
}

// OutboxMail is a Mail as the outbox stores it: what delivery routes,
// audits and counts by in the clear, the mail itself sealed.
type OutboxMail struct {
	Template MailTemplate
	To       string
	// UserID is "" for a mail to nobody's account.
	UserID string
	// Sealed is the Mail as JSON, sealed by MailConfig.Sealer.
	Sealed []byte
}

// MailSealer seals a mail for the outbox so that the database never holds a
// token readable (internal/sealbox implements it).
type MailSealer interface {
	Seal(plaintext []byte) []byte
}

// MailConfig says how the service's mails leave it.
type MailConfig struct {
	// Sealer seals every mail written to the outbox; nil: the service
	// writes no mail.
	Sealer MailSealer
	// Delivered says a sender works the outbox: SMTP, or the memory sender
	// in development. Without one, requests that need a mail answer
	// EMAIL_NOT_CONFIGURED.
	Delivered bool
}

// MailStore is the part of Store behind the outbox.
type MailStore interface {
	// EnqueueMail writes one mail that rides in no other statement to the
	// outbox, due at now.
	EnqueueMail(ctx context.Context, m OutboxMail, now time.Time) error
}

// MailConfigured reports whether mails written to the outbox are delivered
// (SMTP is set up, or the memory sender of development mode). Operations
// that need a mail answer EMAIL_NOT_CONFIGURED when it is false.
func (s *Service) MailConfigured() bool {
	return s.cfg.Mail.Sealer != nil && s.cfg.Mail.Delivered
}

// SendMail writes m to the outbox, sealed, for a mail that rides in no other
// statement (one that announces no change, such as signup_existing).
// Errors: EMAIL_NOT_CONFIGURED, BAD_USER_INPUT (unknown template, bad
// address), UNAVAILABLE.
func (s *Service) SendMail(ctx context.Context, m Mail) error {
	out, err := s.sealMail(m)
	if err != nil {
		return err
	}
	return s.store.EnqueueMail(ctx, out, s.clock.Now())
}

// sealMail checks m and seals it for the outbox. Flows that write a mail in
// the statement making its token pass the result to their store method,
// which puts it into the outbox with store.MailOutboxInsert.
// Errors: EMAIL_NOT_CONFIGURED, BAD_USER_INPUT.
func (s *Service) sealMail(m Mail) (OutboxMail, error) {
	if !s.MailConfigured() {
		return OutboxMail{}, ErrEmailNotConfigured
	}
	if !m.Template.Valid() {
		return OutboxMail{}, badInput(fmt.Sprintf("unknown mail template %q", m.Template))
	}
	to, err := NormalizeEmail(m.To)
	if err != nil {
		return OutboxMail{}, err
	}
	if m.UserID != "" && !isUUID(m.UserID) {
		return OutboxMail{}, badInput("mail user id must be a UUID")
	}
	m.To = to
	plain, err := json.Marshal(m)
	if err != nil {
		return OutboxMail{}, fmt.Errorf("encoding mail: %w", err)
	}
	return OutboxMail{Template: m.Template, To: to, UserID: m.UserID, Sealed: s.cfg.Mail.Sealer.Seal(plain)}, nil
}

// MailOutboxRetention is how long the purge keeps a sent or failed mail's
// outbox row (without its payload, which goes when the mail finishes).
const MailOutboxRetention = 7 * 24 * time.Hour
