package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"authgate/internal/auth"
	"authgate/internal/clock"
)

// Opener opens what the service sealed (internal/sealbox implements it).
type Opener interface {
	Open(sealed []byte) ([]byte, error)
}

// Observer is told of each outcome (metrics); it must be cheap and safe for
// concurrent use.
type Observer interface {
	MailSent(template string)
	MailRetried(template string)
	MailFailed(template, reason string)
}

// WorkerConfig tunes the worker; zero fields take the defaults below.
type WorkerConfig struct {
	// FirstRetry is the wait after the first temporary failure; each
	// further one doubles it, up to MaxRetryInterval.
	FirstRetry       time.Duration
	MaxRetryInterval time.Duration
	// RetryWindow is how long after it was written a mail is still tried;
	// the last try is at its end.
	RetryWindow time.Duration
	// Lease is how long a claimed mail is kept from other workers. It must
	// outlast a send (SendTimeout): a worker that dies while holding a mail
	// delays it by at most this much.
	Lease time.Duration
	// SendTimeout bounds one delivery.
	SendTimeout time.Duration
	// PollInterval is how often Run looks for due mail.
	PollInterval time.Duration
}

// The worker's defaults.
const (
	DefaultFirstRetry       = 10 * time.Second
	DefaultMaxRetryInterval = time.Hour
	DefaultRetryWindow      = 24 * time.Hour
	DefaultSendTimeout      = 2 * time.Minute
	DefaultLease            = 5 * time.Minute
	DefaultPollInterval     = time.Second
)

func (c WorkerConfig) withDefaults() WorkerConfig {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&c.FirstRetry, DefaultFirstRetry)
	set(&c.MaxRetryInterval, DefaultMaxRetryInterval)
	set(&c.RetryWindow, DefaultRetryWindow)
	set(&c.SendTimeout, DefaultSendTimeout)
	set(&c.Lease, DefaultLease)
	set(&c.PollInterval, DefaultPollInterval)
	return c
}

// Worker delivers the outbox: every instance runs one. It claims one due
// mail at a time (rows other workers hold are skipped), opens and renders
// it, sends it and records the outcome: sent, due again after a back-off
// (temporary failures, within the retry window), or failed for good
// (permanent failures, an expired window, a payload that no longer opens).
//
// Delivery is at least once: a worker that dies after the server took a
// mail but before recording it leaves the mail due again when its lease
// ends, and it is sent a second time. No mail is ever dropped unrecorded.
type Worker struct {
	outbox    Outbox
	opener    Opener
	templates *Templates
	sender    Sender
	clock     clock.Clock
	logger    *slog.Logger
	observer  Observer
	cfg       WorkerConfig
}

// NewWorker returns a worker; observer may be nil.
func NewWorker(outbox Outbox, opener Opener, templates *Templates, sender Sender, clk clock.Clock, logger *slog.Logger, observer Observer, cfg WorkerConfig) *Worker {
	if observer == nil {
		observer = noObserver{}
	}
	return &Worker{outbox: outbox, opener: opener, templates: templates, sender: sender, clock: clk,
		logger: logger, observer: observer, cfg: cfg.withDefaults()}
}

type noObserver struct{}

func (noObserver) MailSent(string)           {}
func (noObserver) MailRetried(string)        {}
func (noObserver) MailFailed(string, string) {}

// RunResult counts what one RunOnce did.
type RunResult struct {
	Sent, Retried, Failed int
}

// maxMailsPerRun bounds one RunOnce, so that no fault can keep it busy
// with mails that fall due again at once; Run starts the next at once.
const maxMailsPerRun = 1000

// RunOnce works the mails due now, one after the other, until none is due
// (or maxMailsPerRun were worked), and reports what it did. It stops at the
// first database error (the mail it held is due again when its lease ends)
// or when ctx ends.
func (w *Worker) RunOnce(ctx context.Context) (RunResult, error) {
	var res RunResult
	for ctx.Err() == nil && res.Sent+res.Retried+res.Failed < maxMailsPerRun {
		c, ok, err := w.outbox.ClaimMail(ctx, w.clock.Now(), w.cfg.Lease)
		if err != nil {
			return res, fmt.Errorf("claiming mail: %w", err)
		}
		if !ok {
			return res, nil
		}
		if err := w.deliver(ctx, c, &res); err != nil {
			return res, fmt.Errorf("recording mail %d: %w", c.ID, err)
		}
	}
	if res.Sent+res.Retried+res.Failed >= maxMailsPerRun {
		return res, nil
	}
	return res, ctx.Err()
}

// Run works the outbox every PollInterval until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	for {
		res, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.logger.Warn("mail outbox", "error", err)
		}
		if err == nil && res.Sent+res.Retried+res.Failed >= maxMailsPerRun {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// recordTimeout bounds recording an outcome.
const recordTimeout = 10 * time.Second

// deliver sends one claimed mail and records the outcome; it returns only
// the errors of recording. The outcome is recorded even when ctx ends
// meanwhile (a shutdown during the send): a mail that went out must not be
// sent again for want of a line in the database.
func (w *Worker) deliver(ctx context.Context, c Claimed, res *RunResult) error {
	record, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	log := w.logger.With("outbox_id", c.ID, "template", string(c.Template), "to", c.To, "attempt", c.Attempt)
	m, err := w.open(c)
	if err != nil {
		res.Failed++
		w.observer.MailFailed(string(c.Template), string(FailureUnreadable))
		log.Error("mail failed for good: its payload does not open (was AUTHGATE_REFRESH_TOKEN_SECRET changed without keeping the old one as a previous secret?)", "error", err)
		return w.outbox.RecordMailFailed(record, c, w.clock.Now(), FailureUnreadable, err.Error())
	}
	reply, sendErr := w.send(ctx, m)
	now := w.clock.Now()
	if sendErr == nil {
		res.Sent++
		w.observer.MailSent(string(c.Template))
		log.Info("mail sent", "reply", reply)
		return w.outbox.RecordMailSent(record, c, now)
	}
	why := errorText(sendErr)
	if IsPermanent(sendErr) {
		res.Failed++
		w.observer.MailFailed(string(c.Template), string(FailurePermanent))
		log.Warn("mail refused for good", "error", why)
		return w.outbox.RecordMailFailed(record, c, now, FailurePermanent, why)
	}
	deadline := c.CreatedAt.Add(w.cfg.RetryWindow)
	if !now.Before(deadline) {
		res.Failed++
		w.observer.MailFailed(string(c.Template), string(FailureExpired))
		log.Warn("mail failed for good: not delivered within the retry window", "window", w.cfg.RetryWindow.String(), "error", why)
		return w.outbox.RecordMailFailed(record, c, now, FailureExpired, why)
	}
	next := now.Add(w.backoff(c.Attempt))
	if next.After(deadline) {
		next = deadline
	}
	res.Retried++
	w.observer.MailRetried(string(c.Template))
	log.Warn("mail not delivered; will retry", "next_attempt_at", next, "error", why)
	return w.outbox.RecordMailRetry(record, c, next, why)
}

// open reads the sealed mail.
func (w *Worker) open(c Claimed) (auth.Mail, error) {
	plain, err := w.opener.Open(c.Sealed)
	if err != nil {
		return auth.Mail{}, err
	}
	var m auth.Mail
	if err := json.Unmarshal(plain, &m); err != nil {
		return auth.Mail{}, fmt.Errorf("decoding the mail: %w", err)
	}
	return m, nil
}

// send renders and sends m within SendTimeout. A template that fails to
// execute is a temporary failure: templates are tried at start-up, so it
// is a fault to fix, after which the mail still goes.
func (w *Worker) send(ctx context.Context, m auth.Mail) (string, error) {
	r, err := w.templates.Render(m)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout)
	defer cancel()
	return w.sender.Send(ctx, Message{Mail: m, Rendered: r})
}

// backoff is the wait after the attempt-th try failed: FirstRetry, doubled
// each time, at most MaxRetryInterval.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.FirstRetry
	for i := 1; i < attempt && d < w.cfg.MaxRetryInterval; i++ {
		d *= 2
	}
	return min(d, w.cfg.MaxRetryInterval)
}

// maxErrorLength bounds the error text stored with a mail and in its audit
// row.
const maxErrorLength = 500

// errorText is err on one line, bounded, for the outbox and the audit
// trail. It holds the server's answer, never the mail (nor its link).
func errorText(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	if len(s) > maxErrorLength {
		cut := maxErrorLength
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
