package store

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"authgate/internal/auth"
	"authgate/internal/revocation"
)

var _ revocation.Loader = (*Store)(nil)

// unbanUser lifts a ban; the trigger that records it reads who did it and
// from where ($3 actor, $4 ip, $5 user agent) from settings this statement
// makes for its own transaction, before it updates the row.
const unbanUser = `
UPDATE auth.users SET banned_until = NULL, ban_reason = NULL, updated_at = $2
WHERE id = $1 AND (SELECT count(*) FROM (VALUES
    (set_config('authgate.actor', COALESCE($3, ''), true)),
    (set_config('authgate.ip', COALESCE($4, ''), true)),
    (set_config('authgate.user_agent', COALESCE($5, ''), true))) v) = 3`

// Unban implements auth.Store.
func (s *Store) Unban(ctx context.Context, userID string, now time.Time) error {
	ip, ua := requestClient(ctx)
	res, err := s.db.ExecContext(ctx, unbanUser, userID, now, requestActor(ctx), ip, ua)
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

// recordAccessTokenLifetime moves the lifetime's live_until forward (never
// back) and drops the rows of other lifetimes whose tokens are all gone:
// $1 lifetime in seconds, $2 the latest expiry a token of it may have, $3
// the instant before which a row no longer counts.
const recordAccessTokenLifetime = `
WITH gone AS (
    DELETE FROM auth.access_token_lifetimes WHERE live_until <= $3 AND lifetime_seconds <> $1
)
INSERT INTO auth.access_token_lifetimes AS l (lifetime_seconds, live_until) VALUES ($1, $2)
ON CONFLICT (lifetime_seconds) DO UPDATE SET live_until = GREATEST(l.live_until, EXCLUDED.live_until)`

// RecordAccessTokenLifetime implements auth.Store.
func (s *Store) RecordAccessTokenLifetime(ctx context.Context, lifetime time.Duration, liveUntil, stale time.Time) error {
	_, err := s.db.ExecContext(ctx, recordAccessTokenLifetime, int64(lifetime/time.Second), liveUntil, stale)
	return mapError(err)
}

const longestAccessTokenLifetime = `
SELECT COALESCE(max(lifetime_seconds), 0) FROM auth.access_token_lifetimes WHERE live_until > $1`

// LongestAccessTokenLifetime implements auth.Store and revocation.Loader.
func (s *Store) LongestAccessTokenLifetime(ctx context.Context, after time.Time) (time.Duration, error) {
	var seconds int64
	if err := s.db.QueryRowContext(ctx, longestAccessTokenLifetime, after).Scan(&seconds); err != nil {
		return 0, mapError(err)
	}
	return time.Duration(seconds) * time.Second, nil
}

// revoked is the database's answer to one revocation check, by primary
// keys only: $1 jti, $2 session id, $3 user id (each ” to skip), $4 the
// token's issue (whole seconds) plus one second, so that "issued before the
// cut-off's second" reads valid_after >= $4, as the in-memory check does.
// A deleted user's tokens are all dead.
const revoked = `
SELECT EXISTS (SELECT 1 FROM auth.revoked_access_tokens WHERE jti = NULLIF($1, ''))
    OR EXISTS (SELECT 1 FROM auth.sessions WHERE id = NULLIF($2, '')::uuid AND revoked_at IS NOT NULL)
    OR EXISTS (SELECT 1 FROM auth.users WHERE id = NULLIF($3, '')::uuid AND valid_after >= $4)
    OR EXISTS (SELECT 1 FROM auth.deleted_users WHERE id = NULLIF($3, '')::uuid)`

// Revoked implements auth.Store.
func (s *Store) Revoked(ctx context.Context, c auth.RevocationCheck) (bool, error) {
	var (
		dead     bool
		issuedBy any
	)
	if !c.IssuedAt.IsZero() {
		issuedBy = c.IssuedAt.Truncate(time.Second).Add(time.Second)
	}
	err := s.db.QueryRowContext(ctx, revoked, c.TokenID, c.SessionID, c.UserID, issuedBy).Scan(&dead)
	return dead, mapError(err)
}

// A deleted user reads as a cut-off a second after its deletion: every
// token it holds was issued before (no sign-in follows a deletion), those
// of the deletion's own second too (access tokens carry whole seconds).
const recentRevocations = `
SELECT 'u', id::text, valid_after FROM auth.users WHERE valid_after > $1
UNION ALL
SELECT 'u', id::text, deleted_at + interval '1 second' FROM auth.deleted_users WHERE deleted_at > $1
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
// instant, $2 the batch size. A revoked session is kept for KeepRevokedFor
// ($3) even once it has expired: instances reload revocations from these
// rows, and its last access tokens outlive its expiry.
const (
	// purgeSessions finds, by index, sessions past their absolute limit and
	// sessions revoked before $3.
	purgeSessions = `
DELETE FROM auth.sessions WHERE id IN (
    SELECT id FROM auth.sessions
    WHERE revoked_at <= $3 OR (revoked_at IS NULL AND max_expires_at <= $1)
    LIMIT $2)`
	// purgeIdleSessions deletes the sessions that expired from inactivity
	// among the $2 that follow session $3 in primary-key order, and reports
	// how many it examined and the last one. No index covers expires_at
	// (every rotation moves it), so the purge sweeps the table in such
	// stretches. The delete checks the row it deletes, as it is then: a
	// session refreshed meanwhile stays.
	purgeIdleSessions = `
WITH stretch AS (
    SELECT id, expires_at FROM auth.sessions WHERE id > $3::uuid ORDER BY id LIMIT $2
), gone AS (
    DELETE FROM auth.sessions s USING stretch t
    WHERE s.id = t.id AND t.expires_at <= $1 AND s.expires_at <= $1 AND s.revoked_at IS NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM stretch), COALESCE((SELECT id::text FROM stretch ORDER BY id DESC LIMIT 1), ''),
       (SELECT count(*) FROM gone)`
	// purgeRetiredTokens deletes retired format-1 token hashes only once
	// their session is gone or can no longer be refreshed (revoked or
	// expired): until then a replay of one must still be seen as reuse,
	// whatever AUTHGATE_SESSION_MAX_AGE says now. After that, a replay
	// answers INVALID_REFRESH_TOKEN with or without the row.
	purgeRetiredTokens = `
DELETE FROM auth.retired_refresh_tokens WHERE token_hash IN (
    SELECT r.token_hash FROM auth.retired_refresh_tokens r
    WHERE NOT EXISTS (
        SELECT 1 FROM auth.sessions s
        WHERE s.id = r.session_id AND s.revoked_at IS NULL AND s.expires_at > $1 AND s.max_expires_at > $1)
    LIMIT $2)`
	// purgeDeletedUsers forgets a deleted user once its audit rows are past
	// their retention ($1) and no token of it can be live ($3).
	purgeDeletedUsers = `
DELETE FROM auth.deleted_users WHERE id IN (
    SELECT id FROM auth.deleted_users WHERE deleted_at <= LEAST($1::timestamptz, $3::timestamptz) LIMIT $2)`
	purgeDeniedTokens = `
DELETE FROM auth.revoked_access_tokens WHERE jti IN (
    SELECT jti FROM auth.revoked_access_tokens WHERE expires_at <= $1 LIMIT $2)`
)

// sweepStart is the primary key the idle-session sweep starts from.
const sweepStart = "00000000-0000-0000-0000-000000000000"

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
		{purgeRetiredTokens, []any{p.Now, p.BatchSize}, &res.RetiredTokens},
		{purgeDeniedTokens, []any{p.Now, p.BatchSize}, &res.DeniedTokens},
		{purgeAuditEvents, []any{auditPurgeCutoff(p), p.BatchSize}, &res.AuditEvents},
		{purgeLoginThrottles, []any{throttlePurgeCutoff(p), p.BatchSize, retentionCutoff(p.Now, p.MailThrottleRetention)}, &res.LoginThrottles},
		{purgeMailOutbox, []any{retentionCutoff(p.Now, p.MailOutboxRetention), p.BatchSize}, &res.MailOutbox},
		{purgeDeletedUsers, []any{auditPurgeCutoff(p), p.BatchSize, p.Now.Add(-p.KeepRevokedFor)}, &res.DeletedUsers},
		{purgeOneTimeTokens, []any{p.Now, p.BatchSize}, &res.OneTimeTokens},
		{purgeWebAuthnCeremonies, []any{p.Now, p.BatchSize}, &res.WebAuthnCeremonies},
	}
	for i, step := range steps {
		for {
			var (
				n       int
				skipped bool
			)
			// A batch is its own transaction: retried whole on a conflict.
			err := retry(ctx, func() (err error) {
				n, skipped, err = s.purgeBatch(ctx, func(tx *sqlx.Tx) (int, error) {
					r, err := tx.ExecContext(ctx, step.query, step.args...)
					if err != nil {
						return 0, err
					}
					deleted, err := r.RowsAffected()
					return int(deleted), err
				})
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
		if i == 0 {
			// Sessions gone by index first, then the sweep for idle ones,
			// before the retired tokens whose sessions these were.
			n, skipped, err := s.sweepIdleSessions(ctx, p)
			res.Sessions += n
			if err != nil || skipped {
				res.Skipped = skipped
				return res, err
			}
		}
	}
	return res, nil
}

// sweepIdleSessions examines up to p.IdleScanRows sessions, from where the
// previous purge of this store stopped, in stretches of ten batches, and
// deletes those that expired from inactivity. At the end of the table the
// next purge starts again from the beginning.
func (s *Store) sweepIdleSessions(ctx context.Context, p auth.PurgePolicy) (deleted int, skipped bool, err error) {
	s.sweep.Lock()
	defer s.sweep.Unlock()
	if s.sweep.after == "" {
		s.sweep.after = sweepStart
	}
	for examined := 0; examined < p.IdleScanRows; {
		stretch := min(10*p.BatchSize, p.IdleScanRows-examined)
		var (
			seen, gone int
			last       string
		)
		err := retry(ctx, func() (err error) {
			_, skipped, err = s.purgeBatch(ctx, func(tx *sqlx.Tx) (int, error) {
				return 0, tx.QueryRowContext(ctx, purgeIdleSessions, p.Now, stretch, s.sweep.after).Scan(&seen, &last, &gone)
			})
			return err
		})
		if err != nil || skipped {
			return deleted, skipped, err
		}
		deleted += gone
		examined += seen
		if seen < stretch {
			s.sweep.after = sweepStart
			break
		}
		s.sweep.after = last
	}
	return deleted, false, nil
}

func (s *Store) purgeBatch(ctx context.Context, batch func(tx *sqlx.Tx) (int, error)) (n int, skipped bool, err error) {
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
	n, err = batch(tx)
	if err != nil {
		return 0, false, mapError(err)
	}
	return n, false, mapError(tx.Commit())
}

// DatabaseNow reads the database's clock (the reference clock.Aligned
// corrects the system clock by).
func (s *Store) DatabaseNow(ctx context.Context) (time.Time, error) {
	var now time.Time
	if err := s.db.QueryRowContext(ctx, `SELECT clock_timestamp()`).Scan(&now); err != nil {
		return time.Time{}, mapError(err)
	}
	return now.UTC(), nil
}
