package mail

import (
	"context"
	"time"

	"authgate/internal/auth"
)

// Claimed is one outbox mail a worker holds until its lease ends.
type Claimed struct {
	ID       int64
	Template auth.MailTemplate
	To       string
	UserID   string
	// Sealed is the auth.Mail as JSON, sealed.
	Sealed    []byte
	CreatedAt time.Time
	// Attempt is this claim's number, from 1; outcomes are recorded only
	// for the latest claim.
	Attempt int
}

// Failure says why a mail failed for good.
type Failure string

// The reasons a mail fails for good, stored in the audit trail.
const (
	FailurePermanent  Failure = "permanent"  // the server refused it (5xx)
	FailureExpired    Failure = "expired"    // still not delivered when the retry window closed
	FailureUnreadable Failure = "unreadable" // its payload no longer opens (the secret it was sealed under is gone)
)

// Outbox is the store the worker works: the store package implements it.
type Outbox interface {
	// ClaimMail takes the oldest pending mail due at now, if any (ok false
	// when none), counts the attempt and moves its next attempt to now+lease,
	// skipping rows another worker holds, in one statement.
	ClaimMail(ctx context.Context, now time.Time, lease time.Duration) (c Claimed, ok bool, err error)
	// RecordMailSent marks c sent at now, clears its payload and audits
	// mail_sent, unless it is already finished.
	RecordMailSent(ctx context.Context, c Claimed, now time.Time) error
	// RecordMailRetry makes c due again at next with lastError, if c is
	// still the mail's latest claim and the mail is pending.
	RecordMailRetry(ctx context.Context, c Claimed, next time.Time, lastError string) error
	// RecordMailFailed marks c failed for good at now, clears its payload
	// and audits mail_failed with why and lastError, if c is still the
	// mail's latest claim and the mail is pending.
	RecordMailFailed(ctx context.Context, c Claimed, now time.Time, why Failure, lastError string) error
	// MailOutboxDepth counts the pending mails.
	MailOutboxDepth(ctx context.Context) (int64, error)
}
