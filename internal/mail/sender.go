package mail

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"authgate/internal/auth"
	"authgate/internal/clock"
)

// Message is a mail as the service asked for it, rendered.
type Message struct {
	auth.Mail
	Rendered
}

// Sender delivers one message and returns the receiving server's answer.
// Failures should be *DeliveryError values; any other error is taken as
// temporary.
type Sender interface {
	Send(ctx context.Context, m Message) (reply string, err error)
}

// KeptMail is a mail the memory sender kept. JSON names are the /dev/mail
// contract.
type KeptMail struct {
	At       time.Time         `json:"at"`
	Template auth.MailTemplate `json:"template"`
	To       string            `json:"to"`
	Subject  string            `json:"subject"`
	Text     string            `json:"text"`
	HTML     string            `json:"html"`
	Link     string            `json:"link,omitempty"`
	Code     string            `json:"code,omitempty"`
}

// DefaultKeep is how many mails a MemorySender keeps.
const DefaultKeep = 100

// MemorySender keeps mails in memory instead of sending them and logs each
// with its link and code: development mode's sender, so that a developer
// can follow a reset link without a mail server. Never use it in
// production: it logs tokens. It is safe for concurrent use.
type MemorySender struct {
	logger *slog.Logger
	clock  clock.Clock
	keep   int

	mu    sync.Mutex
	mails []KeptMail
}

var _ Sender = (*MemorySender)(nil)

// NewMemorySender keeps the last keep mails (DefaultKeep when keep is not
// positive).
func NewMemorySender(logger *slog.Logger, clk clock.Clock, keep int) *MemorySender {
	if keep <= 0 {
		keep = DefaultKeep
	}
	return &MemorySender{logger: logger, clock: clk, keep: keep}
}

// Send keeps m; it never fails.
func (s *MemorySender) Send(_ context.Context, m Message) (string, error) {
	k := KeptMail{At: s.clock.Now(), Template: m.Template, To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		Link: m.Link, Code: m.Code}
	s.mu.Lock()
	s.mails = append(s.mails, k)
	if len(s.mails) > s.keep {
		s.mails = append([]KeptMail(nil), s.mails[len(s.mails)-s.keep:]...)
	}
	s.mu.Unlock()
	s.logger.Info("development mail kept (not sent; listed at GET /dev/mail)",
		"to", k.To, "template", string(k.Template), "subject", k.Subject, "link", k.Link, "code", k.Code)
	return "kept in memory", nil
}

// Mails returns the kept mails, newest first.
func (s *MemorySender) Mails() []KeptMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]KeptMail, len(s.mails))
	for i, m := range s.mails {
		out[len(s.mails)-1-i] = m
	}
	return out
}
