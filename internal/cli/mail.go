package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"authgate/internal/auth"
	"authgate/internal/clock"
	"authgate/internal/config"
	"authgate/internal/httpapi"
	"authgate/internal/mail"
	"authgate/internal/metrics"
	"authgate/internal/sealbox"
)

// mailOutboxPurpose labels the key the outbox is sealed with.
const mailOutboxPurpose = "mail outbox"

// outboxDepthInterval is how often the outbox-depth gauge is refreshed.
const outboxDepthInterval = 15 * time.Second

// newMailBox returns the sealbox of the mail outbox, keyed from the refresh
// token secret (previous secrets open what they sealed before a rotation).
func newMailBox(secret []byte, previous ...[]byte) (*sealbox.Box, error) {
	box, err := sealbox.New(mailOutboxPurpose, secret, previous...)
	if err != nil {
		return nil, fmt.Errorf("AUTHGATE_REFRESH_TOKEN_SECRET: %w", err)
	}
	return box, nil
}

// loadMailTemplates loads the templates, naming the setting when the
// override directory is at fault.
func loadMailTemplates(s config.MailSettings) (*mail.Templates, error) {
	t, err := mail.LoadTemplates(s.AppName, s.Templates)
	if err != nil && s.Templates != "" {
		return nil, fmt.Errorf("AUTHGATE_MAIL_TEMPLATES: %w", err)
	}
	return t, err
}

// newSMTPSender is the sender to the configured SMTP server.
func newSMTPSender(s config.MailSettings) (*mail.SMTPSender, error) {
	sender, err := mail.NewSMTPSender(*s.SMTP, s.From, clock.System{})
	if err != nil {
		return nil, fmt.Errorf("AUTHGATE_MAIL_FROM: %w", err)
	}
	return sender, nil
}

// startMailDelivery starts the outbox worker (and the outbox-depth gauge)
// when mail is delivered anywhere, until ctx ends, and returns the memory
// sender in development (nil otherwise) for /dev/mail.
func startMailDelivery(ctx context.Context, wg *sync.WaitGroup, cfg *config.Config, p *parts, m *metrics.Metrics, logger *slog.Logger) (*mail.MemorySender, error) {
	if !cfg.Mail.Delivered() {
		logger.Info("mail delivery is off: AUTHGATE_SMTP_URL is not set, so requests that need a mail answer EMAIL_NOT_CONFIGURED")
		return nil, nil
	}
	templates, err := loadMailTemplates(cfg.Mail)
	if err != nil {
		return nil, err
	}
	var (
		sender mail.Sender
		memory *mail.MemorySender
	)
	if cfg.Mail.SMTP != nil {
		s, err := newSMTPSender(cfg.Mail)
		if err != nil {
			return nil, err
		}
		sender = s
		logger.Info("mail delivery", "smtp", s.Describe(), "from", cfg.Mail.From.String(), "languages", templates.Languages())
	} else {
		memory = mail.NewMemorySender(logger, clock.System{}, mail.DefaultKeep)
		sender = memory
		logger.Warn("mail delivery: DEVELOPMENT MODE without AUTHGATE_SMTP_URL: mails are kept in memory, logged with their links and listed at GET /dev/mail, never sent")
	}
	worker := mail.NewWorker(p.store, p.mailBox, templates, sender, clock.System{}, logger, m, mail.WorkerConfig{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		worker.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		m.TrackMailOutbox(ctx, outboxDepthInterval, p.store.MailOutboxDepth)
	}()
	return memory, nil
}

// runMail runs `authgate mail test --to ADDR`: one mail, sent now through
// the configured SMTP server (not through the outbox), and the server's
// answer.
func runMail(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] != "test" {
		return usageError("mail: the only subcommand is test")
	}
	fs := newFlagSet("mail test", env)
	to := fs.String("to", "", "the address to send the test mail to")
	locale := fs.String("locale", "", "the language of the mail (BCP 47: en, fr, de, es)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *to == "" {
		return usageError("mail test: --to is required")
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return err
	}
	if cfg.Mail.SMTP == nil {
		return errors.New("AUTHGATE_SMTP_URL is not set: there is no SMTP server to test")
	}
	templates, err := loadMailTemplates(cfg.Mail)
	if err != nil {
		return err
	}
	sender, err := newSMTPSender(cfg.Mail)
	if err != nil {
		return err
	}
	m := auth.Mail{Template: auth.MailTest, To: strings.TrimSpace(*to), Locale: *locale}
	rendered, err := templates.Render(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, mail.DefaultSendTimeout)
	defer cancel()
	reply, err := sender.Send(ctx, mail.Message{Mail: m, Rendered: rendered})
	if err != nil {
		kind := "temporary failure: the outbox would try again"
		if mail.IsPermanent(err) {
			kind = "permanent failure: the outbox would not try again"
		}
		return fmt.Errorf("mail test: %s via %s: %v (%s)", m.To, sender.Describe(), err, kind)
	}
	fmt.Fprintf(env.Stdout, "sent to %s via %s; the server answered: %s\n", m.To, sender.Describe(), strings.TrimSpace(reply))
	return nil
}

// mailConfig is the service's side of mail: sealed with box, delivered when
// the settings send mail anywhere.
func mailConfig(box *sealbox.Box, s config.MailSettings) auth.MailConfig {
	if box == nil {
		return auth.MailConfig{}
	}
	return auth.MailConfig{Sealer: box, Delivered: s.Delivered()}
}

// devMailbox is what /dev/mail lists: nil (no route) unless mails are kept
// in memory.
func devMailbox(m *mail.MemorySender) httpapi.DevMailbox {
	if m == nil {
		return nil
	}
	return m
}
