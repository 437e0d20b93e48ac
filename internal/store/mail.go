package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"authgate/internal/auth"
	"authgate/internal/mail"
)

var _ mail.Outbox = (*Store)(nil)

// MailOutboxColumns are the columns MailOutboxInsert fills, in the order of
// MailOutboxArgs, for a statement that writes its own SELECT (say, with a
// user id made by another CTE of the same statement).
const MailOutboxColumns = `template, recipient, user_id, payload, created_at, next_attempt_at`

// MailOutboxInsert returns an INSERT that puts one sealed mail into the
// outbox, due at once, taking its values from the placeholders $first to
// $first+4 (pass MailOutboxArgs there). Use it as a CTE of the statement
// that makes the change the mail announces, so that the mail exists exactly
// when the change does:
//
//	WITH t AS (INSERT INTO auth.… RETURNING …),
//	     m AS (` + MailOutboxInsert(4) + ` FROM t)
//	SELECT …
//
// It ends in a SELECT list, so a FROM and a WHERE may follow: the mail is
// then written once per row they yield (none when the change made none).
func MailOutboxInsert(first int) string {
	return fmt.Sprintf(`INSERT INTO auth.mail_outbox (`+MailOutboxColumns+`)
    SELECT $%d, $%d, $%d::uuid, $%d::bytea, $%d::timestamptz, $%d::timestamptz`,
		first, first+1, first+2, first+3, first+4, first+4)
}

// MailOutboxArgs are the values of MailOutboxInsert's placeholders: m, due
// at now.
func MailOutboxArgs(m auth.OutboxMail, now time.Time) []any {
	return []any{string(m.Template), m.To, nullIfEmpty(m.UserID), m.Sealed, now}
}

// enqueueMail writes a mail that rides in no other statement.
var enqueueMail = MailOutboxInsert(1)

// EnqueueMail implements auth.MailStore.
func (s *Store) EnqueueMail(ctx context.Context, m auth.OutboxMail, now time.Time) error {
	_, err := s.db.ExecContext(ctx, enqueueMail, MailOutboxArgs(m, now)...)
	return mapError(err)
}

// claimMail takes the oldest due pending mail no other worker holds: $1 now,
// $2 the end of the lease. Counting the attempt and moving the next attempt
// to the lease's end in the claiming statement is what keeps a second worker
// off the row once the first commits, and what makes the mail due again if
// its worker dies.
const claimMail = `
UPDATE auth.mail_outbox o
SET attempts = o.attempts + 1, next_attempt_at = $2
FROM (
    SELECT id FROM auth.mail_outbox
    WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
    ORDER BY next_attempt_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
) due
WHERE o.id = due.id
RETURNING o.id, o.template, o.recipient, COALESCE(o.user_id::text, ''), o.payload, o.created_at, o.attempts`

// ClaimMail implements mail.Outbox.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, lease time.Duration) (mail.Claimed, bool, error) {
	var (
		c        mail.Claimed
		template string
	)
	err := s.db.QueryRowContext(ctx, claimMail, now, now.Add(lease)).
		Scan(&c.ID, &template, &c.To, &c.UserID, &c.Sealed, &c.CreatedAt, &c.Attempt)
	if errors.Is(err, sql.ErrNoRows) {
		return mail.Claimed{}, false, nil
	}
	if err != nil {
		return mail.Claimed{}, false, mapError(err)
	}
	c.Template, c.CreatedAt = auth.MailTemplate(template), c.CreatedAt.UTC()
	return c, true, nil
}

// recordMailSent finishes a pending mail as sent and audits it: $1 the id,
// $2 now. Any claim's success counts (a slow worker whose lease ran out
// still sent the mail); a mail already finished is left alone, so it is
// audited once.
const recordMailSent = `
WITH done AS (
    UPDATE auth.mail_outbox SET sent_at = $2, payload = NULL
    WHERE id = $1 AND sent_at IS NULL AND failed_at IS NULL
    RETURNING id, template, recipient, user_id, attempts
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, detail)
    SELECT $2, 'mail_sent', user_id,
           jsonb_build_object('template', template, 'email', recipient, 'attempts', attempts, 'outbox_id', id)
    FROM done
)
SELECT count(*) FROM done`

// RecordMailSent implements mail.Outbox.
func (s *Store) RecordMailSent(ctx context.Context, c mail.Claimed, now time.Time) error {
	_, err := s.db.ExecContext(ctx, recordMailSent, c.ID, now)
	return mapError(err)
}

// recordMailRetry makes a pending mail due again: $1 the id, $2 the claim's
// attempt (a stale claim changes nothing), $3 when, $4 the error.
const recordMailRetry = `
UPDATE auth.mail_outbox SET next_attempt_at = $3, last_error = $4
WHERE id = $1 AND attempts = $2 AND sent_at IS NULL AND failed_at IS NULL`

// RecordMailRetry implements mail.Outbox.
func (s *Store) RecordMailRetry(ctx context.Context, c mail.Claimed, next time.Time, lastError string) error {
	_, err := s.db.ExecContext(ctx, recordMailRetry, c.ID, c.Attempt, next, lastError)
	return mapError(err)
}

// recordMailFailed finishes a pending mail as failed and audits it: $1 the
// id, $2 the claim's attempt, $3 now, $4 why, $5 the error.
const recordMailFailed = `
WITH done AS (
    UPDATE auth.mail_outbox SET failed_at = $3, payload = NULL, last_error = $5
    WHERE id = $1 AND attempts = $2 AND sent_at IS NULL AND failed_at IS NULL
    RETURNING id, template, recipient, user_id, attempts
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, detail)
    SELECT $3, 'mail_failed', user_id,
           jsonb_build_object('template', template, 'email', recipient, 'attempts', attempts, 'outbox_id', id,
                              'reason', $4::text, 'error', $5::text)
    FROM done
)
SELECT count(*) FROM done`

// RecordMailFailed implements mail.Outbox.
func (s *Store) RecordMailFailed(ctx context.Context, c mail.Claimed, now time.Time, why mail.Failure, lastError string) error {
	_, err := s.db.ExecContext(ctx, recordMailFailed, c.ID, c.Attempt, now, string(why), lastError)
	return mapError(err)
}

const mailOutboxDepth = `SELECT count(*) FROM auth.mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL`

// MailOutboxDepth implements mail.Outbox.
func (s *Store) MailOutboxDepth(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, mailOutboxDepth).Scan(&n)
	return n, mapError(err)
}

// purgeMailOutbox deletes a batch of mails finished before the cut-off
// (their outcome stays in the audit trail): $1 the cut-off, $2 the batch
// size.
const purgeMailOutbox = `
DELETE FROM auth.mail_outbox WHERE id IN (
    SELECT id FROM auth.mail_outbox
    WHERE (sent_at IS NOT NULL OR failed_at IS NOT NULL) AND COALESCE(sent_at, failed_at) <= $1
    LIMIT $2)`

// retentionCutoff is the purge's cut-off for rows kept for keep at now;
// the zero time (nothing) when keep is not positive.
func retentionCutoff(now time.Time, keep time.Duration) time.Time {
	if keep <= 0 {
		return time.Time{}
	}
	return now.Add(-keep)
}
