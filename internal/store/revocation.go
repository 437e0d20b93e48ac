package store

import (
	"context"
	"time"

	"authgate/internal/auth"
	"authgate/internal/revocation"
)

var _ revocation.Loader = (*Store)(nil)

const unbanUser = `UPDATE auth.users SET banned_until = NULL, ban_reason = NULL, updated_at = $2 WHERE id = $1`

// Unban implements auth.Store.
func (s *Store) Unban(ctx context.Context, userID string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, unbanUser, userID, now)
	if err != nil {
		return mapError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return auth.ErrNotFound
	}
	return nil
}

// denyAccessToken inserts the jti and announces it in one statement.
const denyAccessToken = `
WITH j AS (
    INSERT INTO auth.revoked_access_tokens (jti, user_id, expires_at, revoked_at)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(auth.revoked_access_tokens.expires_at, EXCLUDED.expires_at)
    RETURNING jti, expires_at
)
SELECT count(pg_notify('` + revocation.Channel + `', 'j|' || jti || '|' || $5)) FROM j`

// DenyAccessToken implements auth.Store.
func (s *Store) DenyAccessToken(ctx context.Context, jti, userID string, expiresAt, now time.Time) error {
	var user any
	if userID != "" {
		user = userID
	}
	var n int
	err := s.db.QueryRowContext(ctx, denyAccessToken, jti, user, expiresAt, now, micros(expiresAt)).Scan(&n)
	return mapError(err)
}

const recentRevocations = `
SELECT 'u', id::text, valid_after FROM auth.users WHERE valid_after > $1
UNION ALL
SELECT 's', id::text, revoked_at FROM auth.sessions WHERE revoked_at > $1
UNION ALL
SELECT 'j', jti, expires_at FROM auth.revoked_access_tokens WHERE expires_at > $2`

// RecentRevocations implements revocation.Loader.
func (s *Store) RecentRevocations(ctx context.Context, since, tokensAfter time.Time) ([]revocation.Event, error) {
	rows, err := s.db.QueryContext(ctx, recentRevocations, since, tokensAfter)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var events []revocation.Event
	for rows.Next() {
		var (
			kind string
			e    revocation.Event
		)
		if err := rows.Scan(&kind, &e.ID, &e.At); err != nil {
			return nil, mapError(err)
		}
		e.Kind, e.At = revocation.Kind(kind[0]), e.At.UTC()
		events = append(events, e)
	}
	return events, mapError(rows.Err())
}

// purgeLockKey is the advisory lock that lets one instance purge at a time.
const purgeLockKey = 0x61757468_70757267 // "authpurg"

// The purge statements delete one bounded batch each; $1 is the cut-off
// instant, $2 the batch size.
const (
	purgeSessions = `
DELETE FROM auth.sessions WHERE id IN (
    SELECT id FROM auth.sessions
    WHERE max_expires_at <= $1 OR expires_at <= $1 OR revoked_at <= $3
    LIMIT $2)`
	purgeRetiredTokens = `
DELETE FROM auth.retired_refresh_tokens WHERE token_hash IN (
    SELECT token_hash FROM auth.retired_refresh_tokens WHERE retired_at <= $1 LIMIT $2)`
	purgeDeniedTokens = `
DELETE FROM auth.revoked_access_tokens WHERE jti IN (
    SELECT jti FROM auth.revoked_access_tokens WHERE expires_at <= $1 LIMIT $2)`
)

// Purge implements auth.Store. Each batch is its own transaction holding a
// transaction-scoped advisory lock (safe through PgBouncer's transaction
// pooling); if another instance holds it, this one skips the round.
func (s *Store) Purge(ctx context.Context, p auth.PurgePolicy) (auth.PurgeResult, error) {
	if p.BatchSize <= 0 {
		p.BatchSize = 1000
	}
	var res auth.PurgeResult
	steps := []struct {
		query string
		args  []any
		count *int
	}{
		{purgeSessions, []any{p.Now, p.BatchSize, p.Now.Add(-p.KeepRevokedFor)}, &res.Sessions},
		// A retired token older than the longest session cannot belong to a live one.
		{purgeRetiredTokens, []any{p.Now.Add(-p.SessionMaxAge), p.BatchSize}, &res.RetiredTokens},
		{purgeDeniedTokens, []any{p.Now, p.BatchSize}, &res.DeniedTokens},
		{purgeAuditEvents, []any{auditPurgeCutoff(p), p.BatchSize}, &res.AuditEvents},
		{purgeLoginThrottles, []any{throttlePurgeCutoff(p), p.BatchSize}, &res.LoginThrottles},
		{purgeMailOutbox, []any{retentionCutoff(p.Now, p.MailOutboxRetention), p.BatchSize}, &res.MailOutbox},
	}
	for _, step := range steps {
		for {
			var (
				n       int
				skipped bool
			)
			// A batch is its own transaction: retried whole on a conflict.
			err := retry(ctx, func() (err error) {
				n, skipped, err = s.purgeBatch(ctx, step.query, step.args)
				return err
			})
			if err != nil {
				return res, err
			}
			if skipped {
				res.Skipped = true
				return res, nil
			}
			*step.count += n
			if n < p.BatchSize {
				break
			}
		}
	}
	return res, nil
}

func (s *Store) purgeBatch(ctx context.Context, query string, args []any) (n int, skipped bool, err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, false, mapError(err)
	}
	defer tx.Rollback()
	var locked bool
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, int64(purgeLockKey)).Scan(&locked); err != nil {
		return 0, false, mapError(err)
	}
	if !locked {
		return 0, true, nil
	}
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, false, mapError(err)
	}
	deleted, _ := res.RowsAffected()
	return int(deleted), false, mapError(tx.Commit())
}
