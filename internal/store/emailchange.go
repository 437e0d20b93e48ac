package store

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"authgate/internal/auth"
	"authgate/internal/onetime"
)

var _ auth.EmailChangeStore = (*Store)(nil)

// RequestEmailChange implements auth.EmailChangeStore: issueOneTimeToken
// (throttle, token, confirmation mail) and, in the same transaction, the
// notice to the old address when the token was made, and the request's
// audit row.
func (s *Store) RequestEmailChange(ctx context.Context, c auth.EmailChange) (bool, error) {
	var ok bool
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.QueryRowContext(ctx, issueOneTimeToken, issueOneTimeTokenArgs(c.Token)...).Scan(&ok); err != nil {
			return mapError(err)
		}
		mailed := ok && c.Token.TokenHash != nil
		if mailed && c.Notice != nil {
			if _, err := tx.ExecContext(ctx, enqueueMail, MailOutboxArgs(*c.Notice, c.Token.Now)...); err != nil {
				return mapError(err)
			}
		}
		e := c.Audit
		detail := map[string]any{"mailed": mailed}
		for k, v := range e.Detail {
			detail[k] = v
		}
		d, err := jsonObject(detail)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, insertAuditEvent, e.At, string(e.Event), nullIfEmpty(e.UserID),
			nullIfEmpty(e.SessionID), nullIfEmpty(e.IP), nullIfEmpty(e.UserAgent), d, nullIfEmpty(e.Actor))
		return mapError(err)
	})
	return ok, err
}

// confirmEmailChange uses an email_change token ($1 its hashes, $2 now)
// and moves its user to the token's address, verified, in one statement:
// only if the user still has the address the change was asked from
// (data.from) and is not disabled. Two users confirming the same address
// at once: the second UPDATE waits on the unique index entry of the first
// and, once it commits, fails with 23505, which undoes the whole statement
// (its token's use too). The token's use ($3 ip, $4 user agent) and the
// change are audited.
const confirmEmailChange = `
WITH used AS (
    UPDATE auth.one_time_tokens SET used_at = $2
    WHERE token_hash = ANY ($1::bytea[]) AND purpose = '` + string(onetime.EmailChange) + `'
      AND used_at IS NULL AND expires_at > $2
    RETURNING user_id, email, data ->> 'from' AS old_email
), changed AS (
    UPDATE auth.users u SET email = used.email, email_verified_at = $2, updated_at = $2
    FROM used
    WHERE u.id = used.user_id AND u.email = used.old_email AND NOT u.disabled
    RETURNING u.id, used.old_email, u.email
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $2, '` + string(auth.EventOneTimeTokenUsed) + `', used.user_id, $3, $4,
           jsonb_build_object('purpose', '` + string(onetime.EmailChange) + `', 'email', used.email) FROM used
    UNION ALL
    SELECT $2, '` + string(auth.EventEmailChanged) + `', changed.id, $3, $4,
           jsonb_build_object('method', 'link', 'from', changed.old_email, 'to', changed.email) FROM changed
)
SELECT EXISTS (SELECT 1 FROM changed)`

// ConfirmEmailChange implements auth.EmailChangeStore.
func (s *Store) ConfirmEmailChange(ctx context.Context, hashes [][]byte, now time.Time, e auth.AuditEvent) (bool, error) {
	var ok bool
	err := s.db.QueryRowContext(ctx, confirmEmailChange, pq.ByteaArray(hashes), now,
		nullIfEmpty(e.IP), nullIfEmpty(e.UserAgent)).Scan(&ok)
	if isUniqueViolation(err) {
		return false, auth.ErrEmailTaken
	}
	return ok, mapError(err)
}
