package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"authgate/internal/auth"
	"authgate/internal/onetime"
)

// issueOneTimeToken counts the mail throttle, stores the token and writes
// its mail, in one statement.
//
// throttle (only when $10, the throttle's subject, is not null) counts one
// mail of a purpose to an address in its login_throttle row of scope
// 'mail': the upsert's row lock serialises racing requests, and its WHERE
// lets the mail through only when the last one is at least $12 old and the
// window ($13 long, from window_start) holds fewer than $11. A request it
// holds back changes nothing: the row, the older token and the outbox stay
// as they were.
// tok stores the token when allowed (and given: a request for an address
// without an account counts the throttle alone, at the same cost); for an exclusive purpose ($4, the
// subject, not null) it replaces the subject's live token in place (ON
// CONFLICT on the partial unique index of live tokens), so the older
// token's hash is gone in the statement that makes the newer.
// mail writes the sealed mail ($14…$18) when the token was stored, or
// when allowed for a mail without a token ($5 null). locale stores the
// reader's language ($19) on the user.
//
// $1 purpose, $2 user id, $3 email, $4 subject, $5 token hash, $6 code
// hash, $7 data, $8 now, $9 expiry; the throttle: $10 subject, $12 minimum
// interval and $13 window (microseconds), $11 limit.
var issueOneTimeToken = `
WITH throttle AS (
    INSERT INTO auth.login_throttle AS t (scope, subject, failures, window_start, last_failure_at)
    SELECT 'mail', $10::text, 1, $8::timestamptz, $8::timestamptz WHERE $10::text IS NOT NULL
    ON CONFLICT (scope, subject) DO UPDATE SET
        failures        = CASE WHEN ` + mailWindowPassed + ` THEN 1 ELSE t.failures + 1 END,
        window_start    = CASE WHEN ` + mailWindowPassed + ` THEN $8 ELSE t.window_start END,
        last_failure_at = $8
    WHERE (` + mailWindowPassed + ` OR t.failures < $11::int)
      AND t.last_failure_at <= $8::timestamptz - $12::float8 * interval '1 microsecond'
    RETURNING 1
), allowed AS (
    SELECT 1 AS ok WHERE $10::text IS NULL OR EXISTS (SELECT 1 FROM throttle)
), tok AS (
    INSERT INTO auth.one_time_tokens (purpose, user_id, email, subject, token_hash, code_hash, data, created_at, expires_at)
    SELECT $1, $2::uuid, $3, $4, $5, $6, $7::jsonb, $8, $9 FROM allowed WHERE $5::bytea IS NOT NULL
    ON CONFLICT (purpose, subject) WHERE used_at IS NULL DO UPDATE SET
        user_id    = excluded.user_id,
        email      = excluded.email,
        token_hash = excluded.token_hash,
        code_hash  = excluded.code_hash,
        attempts   = 0,
        data       = excluded.data,
        created_at = excluded.created_at,
        expires_at = excluded.expires_at
    RETURNING id
), mail AS (
    ` + MailOutboxInsert(14) + ` FROM allowed
    WHERE $14::text IS NOT NULL AND ($5::bytea IS NULL OR EXISTS (SELECT 1 FROM tok))
), locale AS (
    UPDATE auth.users SET locale = $19
    WHERE id = $2::uuid AND $19::text IS NOT NULL AND locale IS DISTINCT FROM $19 AND EXISTS (SELECT 1 FROM allowed)
)
SELECT EXISTS (SELECT 1 FROM allowed)`

// mailWindowPassed is true when mail throttle row t's window ($8 now, $13
// its length in microseconds) is over.
const mailWindowPassed = `(t.window_start <= $8::timestamptz - $13::float8 * interval '1 microsecond')`

// IssueOneTimeToken implements auth.OneTimeStore.
func (s *Store) IssueOneTimeToken(ctx context.Context, t auth.NewOneTimeToken) (bool, error) {
	var ok bool
	if err := s.db.QueryRowContext(ctx, issueOneTimeToken, issueOneTimeTokenArgs(t)...).Scan(&ok); err != nil {
		return false, mapError(err)
	}
	return ok, nil
}

// issueOneTimeTokenArgs are the values of issueOneTimeToken's placeholders.
func issueOneTimeTokenArgs(t auth.NewOneTimeToken) []any {
	data := "{}"
	if len(t.Data) > 0 {
		data = string(t.Data)
	}
	var throttleSubject any
	var limit int
	var minInterval, window float64
	if t.Throttle != nil {
		throttleSubject = t.ThrottleSubject
		limit, minInterval, window = t.Throttle.Limit, microseconds(t.Throttle.MinInterval), microseconds(t.Throttle.Window)
	}
	mailArgs := []any{nil, nil, nil, nil, t.Now}
	if t.Mail != nil {
		mailArgs = MailOutboxArgs(*t.Mail, t.Now)
	}
	args := append([]any{string(t.Purpose), nullIfEmpty(t.UserID), nullIfEmpty(t.Email), nullIfEmpty(t.Subject),
		nullIfNoBytes(t.TokenHash), nullIfNoBytes(t.CodeHash), data, t.Now, t.ExpiresAt,
		throttleSubject, limit, minInterval, window}, mailArgs...)
	args = append(args, nullIfEmpty(t.Locale))
	return args
}

const oneTimeColumns = `id, purpose, COALESCE(user_id::text, '') AS user_id, COALESCE(email, '') AS email, data, created_at, expires_at`

// consumeOneTimeToken uses a token: $1 purpose, $2 its hashes under every
// key, $3 now; the audit row ($4 ip, $5 user agent, $6 detail) is written
// only when a token was used. Every condition is in the UPDATE's WHERE:
// under READ COMMITTED a racing second use waits for the first's row lock,
// then re-checks used_at on the row the first wrote, and updates nothing.
const consumeOneTimeToken = `
WITH used AS (
    UPDATE auth.one_time_tokens SET used_at = $3
    WHERE token_hash = ANY ($2::bytea[]) AND purpose = $1 AND used_at IS NULL AND expires_at > $3
    RETURNING ` + oneTimeColumns + `
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $3, '` + string(auth.EventOneTimeTokenUsed) + `', NULLIF(used.user_id, '')::uuid, $4, $5,
           $6::jsonb || jsonb_build_object('purpose', used.purpose, 'email', used.email)
    FROM used
)
SELECT * FROM used`

// ConsumeOneTimeToken implements auth.OneTimeStore.
func (s *Store) ConsumeOneTimeToken(ctx context.Context, purpose onetime.Purpose, hashes [][]byte, now time.Time, e auth.AuditEvent) (auth.OneTimeToken, error) {
	detail, err := jsonObject(e.Detail)
	if err != nil {
		return auth.OneTimeToken{}, err
	}
	return s.oneTimeToken(ctx, consumeOneTimeToken, string(purpose), pq.ByteaArray(hashes), now,
		nullIfEmpty(e.IP), nullIfEmpty(e.UserAgent), detail)
}

// consumeOneTimeCode tries a code: $1 purpose, $2 email, $3 the code's
// hashes under every key, $4 now, $5 the attempts allowed; audit as
// consumeOneTimeToken ($6 ip, $7 user agent, $8 detail). Every try of a
// live token's code counts, right or wrong, in the statement that checks
// it; a token with $5 tries is no longer tried (its code is dead).
const consumeOneTimeCode = `
WITH tried AS (
    UPDATE auth.one_time_tokens SET attempts = attempts + 1,
        used_at = CASE WHEN code_hash = ANY ($3::bytea[]) THEN $4::timestamptz END
    WHERE purpose = $1 AND email = $2 AND code_hash IS NOT NULL AND used_at IS NULL
      AND expires_at > $4 AND attempts < $5
    RETURNING ` + oneTimeColumns + `, used_at IS NOT NULL AS matched
), used AS (
    SELECT id, purpose, user_id, email, data, created_at, expires_at FROM tried WHERE matched LIMIT 1
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $4, '` + string(auth.EventOneTimeTokenUsed) + `', NULLIF(used.user_id, '')::uuid, $6, $7,
           $8::jsonb || jsonb_build_object('purpose', used.purpose, 'email', used.email)
    FROM used
)
SELECT * FROM used`

// ConsumeOneTimeCode implements auth.OneTimeStore.
func (s *Store) ConsumeOneTimeCode(ctx context.Context, purpose onetime.Purpose, email string, hashes [][]byte, maxAttempts int, now time.Time, e auth.AuditEvent) (auth.OneTimeToken, error) {
	detail, err := jsonObject(e.Detail)
	if err != nil {
		return auth.OneTimeToken{}, err
	}
	return s.oneTimeToken(ctx, consumeOneTimeCode, string(purpose), email, pq.ByteaArray(hashes), now, maxAttempts,
		nullIfEmpty(e.IP), nullIfEmpty(e.UserAgent), detail)
}

// peekOneTimeToken reads a live token: $1 purpose, $2 its hashes, $3 now.
const peekOneTimeToken = `
SELECT ` + oneTimeColumns + ` FROM auth.one_time_tokens
WHERE token_hash = ANY ($2::bytea[]) AND purpose = $1 AND used_at IS NULL AND expires_at > $3`

// PeekOneTimeToken implements auth.OneTimeStore.
func (s *Store) PeekOneTimeToken(ctx context.Context, purpose onetime.Purpose, hashes [][]byte, now time.Time) (auth.OneTimeToken, error) {
	return s.oneTimeToken(ctx, peekOneTimeToken, string(purpose), pq.ByteaArray(hashes), now)
}

func (s *Store) oneTimeToken(ctx context.Context, query string, args ...any) (auth.OneTimeToken, error) {
	return scanOneTimeToken(s.db.QueryRowContext(ctx, query, args...))
}

func scanOneTimeToken(row *sql.Row) (auth.OneTimeToken, error) {
	var (
		t       auth.OneTimeToken
		purpose string
		data    []byte
	)
	err := row.Scan(&t.ID, &purpose, &t.UserID, &t.Email, &data, &t.CreatedAt, &t.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.OneTimeToken{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.OneTimeToken{}, mapError(err)
	}
	t.Purpose, t.Data = onetime.Purpose(purpose), json.RawMessage(data)
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

// purgeOneTimeTokens deletes a batch of expired one-time tokens, used or
// not (their use stays in the audit trail): $1 now, $2 the batch size.
const purgeOneTimeTokens = `
DELETE FROM auth.one_time_tokens WHERE id IN (
    SELECT id FROM auth.one_time_tokens WHERE expires_at <= $1 LIMIT $2)`

// resetPasswordUser locks the reset token's user ($1) and reads what the
// reset depends on: its address and whether it may sign in ($2 now).
const resetPasswordUser = `
SELECT email, disabled OR COALESCE(banned_until > $2, false) FROM auth.users WHERE id = $1 FOR NO KEY UPDATE`

// resetPasswordHash sets the new hash ($2) of user $1, verifies its
// address and clears the account's login throttle ($3 now).
const resetPasswordHash = `
WITH reset AS (
    DELETE FROM auth.login_throttle WHERE scope = 'account' AND subject = (SELECT email FROM auth.users WHERE id = $1)
), verified AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $3, '` + string(auth.EventEmailVerified) + `', id, $4, $5, jsonb_build_object('method', 'reset', 'email', email)
    FROM auth.users WHERE id = $1 AND email_verified_at IS NULL
)
UPDATE auth.users SET password_hash = $2, email_verified_at = COALESCE(email_verified_at, $3), updated_at = $3
WHERE id = $1`

// ResetPassword implements auth.Store.
func (s *Store) ResetPassword(ctx context.Context, r auth.PasswordReset) (auth.UserRecord, auth.SessionRecord, []string, error) {
	var (
		rec   auth.SessionRecord
		ended []string
		user  auth.UserRecord
	)
	ns := r.Session
	ip, ua := nullIfEmpty(r.Audit.IP), nullIfEmpty(r.Audit.UserAgent)
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		detail, err := jsonObject(r.Audit.Detail)
		if err != nil {
			return err
		}
		t, err := scanOneTimeToken(tx.QueryRowContext(ctx, consumeOneTimeToken, string(onetime.Reset), pq.ByteaArray(r.TokenHashes),
			ns.Now, ip, ua, detail))
		if err != nil {
			if errors.Is(err, auth.ErrNotFound) {
				return auth.ErrInvalidEmailToken
			}
			return err
		}
		if t.UserID != ns.UserID {
			return auth.ErrInvalidEmailToken // another token than the one peeked at, for another user
		}
		var (
			email   string
			refused bool
		)
		if err := tx.QueryRowContext(ctx, resetPasswordUser, t.UserID, ns.Now).Scan(&email, &refused); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return auth.ErrInvalidEmailToken
			}
			return mapError(err)
		}
		if email != t.Email {
			return auth.ErrInvalidEmailToken
		}
		if refused {
			return auth.ErrUserDisabled
		}
		// The proof of the address removes the identities that did not
		// prove it (the password is replaced below, and every session
		// ends in the cut-off that follows anyway).
		if _, err := proveInTx(ctx, tx, t.UserID, t.Email, ns.Now, false, "reset", ip, ua); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, resetPasswordHash, t.UserID, r.NewHash, ns.Now, ip, ua); err != nil {
			return mapError(err)
		}
		ended, err = cutOff(ctx, tx, t.UserID, auth.CutOff{Now: ns.Now, Reason: "password reset"},
			auth.EventPasswordReset, nil, ip, ua)
		if err != nil {
			return err
		}
		if rec, err = createSession(ctx, tx, insertSession, ns); err != nil {
			return err
		}
		var row userRow
		if err := tx.QueryRowxContext(ctx, userByID, t.UserID).StructScan(&row); err != nil {
			return mapError(err)
		}
		user = row.record()
		return nil
	})
	return user, rec, ended, err
}

// markEmailVerified marks the address $1 verified at $2 (an earlier
// instant stays) and records it ($3 ip, $4 user agent).
const markEmailVerified = `
WITH u AS (
    UPDATE auth.users SET email_verified_at = COALESCE(email_verified_at, $2), updated_at = $2
    WHERE email = $1
    RETURNING ` + userColumns + `
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $2, '` + string(auth.EventEmailVerified) + `', u.id, $3, $4, jsonb_build_object('method', 'admin', 'email', u.email) FROM u
)
SELECT * FROM u`

// MarkEmailVerified implements auth.Store.
func (s *Store) MarkEmailVerified(ctx context.Context, email string, now time.Time) (auth.UserRecord, error) {
	ip, ua := requestClient(ctx)
	var row userRow
	if err := s.db.QueryRowxContext(ctx, markEmailVerified, email, now, ip, ua).StructScan(&row); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return auth.UserRecord{}, auth.ErrNotFound
		}
		return auth.UserRecord{}, mapError(err)
	}
	return row.record(), nil
}

// nullIfNoBytes is b, or null when b is empty: lib/pq sends a nil []byte
// as an empty bytea, not as null.
func nullIfNoBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
