package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"authgate/internal/auth"
	"authgate/internal/revocation"
)

// loginSession opens the session of a successful login, in one round trip:
// when $9 is not empty it replaces the user's outdated password hash (only
// if it is still the one that was verified, $10), it resets the account's
// login throttle (a correct password ends the count), and it records the
// login in the audit trail.
const loginSession = `
WITH rehash AS (
    UPDATE auth.users SET password_hash = $9, updated_at = $6
    WHERE $9 <> '' AND id = $1 AND password_hash = $10
    RETURNING id
), reset AS (
    DELETE FROM auth.login_throttle
    WHERE scope = 'account' AND subject = (SELECT email FROM auth.users WHERE id = $1)
), s AS (
    INSERT INTO auth.sessions (user_id, refresh_token_hash, description, user_agent, ip,
                               created_at, last_activity_at, expires_at, max_expires_at)
    VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6, $6, $7, $8)
    RETURNING id, user_id, created_at, expires_at, ip, user_agent
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent, detail)
    SELECT $6, 'login', s.user_id, s.id, s.ip, s.user_agent,
           CASE WHEN EXISTS (SELECT 1 FROM rehash) THEN '{"rehashed": true}'::jsonb ELSE '{}'::jsonb END
    FROM s
)
SELECT id, created_at, expires_at FROM s`

// insertSession opens a session (a password change's fresh one).
const insertSession = `
INSERT INTO auth.sessions (user_id, refresh_token_hash, description, user_agent, ip,
                           created_at, last_activity_at, expires_at, max_expires_at)
VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6, $6, $7, $8)
RETURNING id, created_at, expires_at`

// CreateSession implements auth.Store.
func (s *Store) CreateSession(ctx context.Context, ns auth.NewSession, oldHash, rehash string) (auth.SessionRecord, error) {
	return createSession(ctx, stmts{s}, loginSession, ns, rehash, oldHash)
}

func createSession(ctx context.Context, q sqlx.QueryerContext, query string, ns auth.NewSession, more ...any) (auth.SessionRecord, error) {
	var rec auth.SessionRecord
	args := append([]any{ns.UserID, ns.TokenHash, ns.Description, ns.UserAgent, ns.IP,
		ns.Now, ns.ExpiresAt, ns.MaxExpiresAt}, more...)
	err := q.QueryRowxContext(ctx, query, args...).Scan(&rec.ID, &rec.CreatedAt, &rec.ExpiresAt)
	if err != nil {
		return auth.SessionRecord{}, mapError(err)
	}
	rec.CreatedAt, rec.ExpiresAt = rec.CreatedAt.UTC(), rec.ExpiresAt.UTC()
	return rec, nil
}

// rotateRefreshToken is the whole refresh decision in one statement, so a
// refresh is one round trip and no crash can leave it half done.
//
// found: the session holding the token as current or as retired.
// cur: that session, locked. Under READ COMMITTED a concurrent rotation
// makes this wait and then see the latest row, so of N simultaneous
// refreshes of one token exactly one rotates and the rest see the successor
// (and replay it).
// decided: the outcome; a disabled user wins over everything else.
// upd / retire: rotation (or, on reuse, revocation) and the retired record.
// audit: the refresh (a replay too) or the reuse, in the audit trail.
//
// $1 token hash, $2 successor hash, $3 now, $4 grace cut-off, $5 sliding
// expiry, $6 ip, $7 user agent, $8 now in unix microseconds (for NOTIFY).
const rotateRefreshToken = `
WITH found AS (
    SELECT id FROM auth.sessions WHERE refresh_token_hash = $1
    UNION ALL
    SELECT session_id FROM auth.retired_refresh_tokens WHERE token_hash = $1
    LIMIT 1
), cur AS (
    SELECT s.id, s.refresh_token_hash, s.rotated_at, s.created_at, s.expires_at, s.max_expires_at,
           s.revoked_at, u.id AS user_id, u.email, u.default_role, u.allowed_roles, u.disabled,
           u.created_at AS user_created_at, u.custom_claims, u.banned_until, u.valid_after
    FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id
    WHERE s.id = (SELECT id FROM found)
    FOR NO KEY UPDATE OF s
), decided AS (
    SELECT cur.*, CASE
        WHEN cur.disabled OR cur.banned_until > $3 THEN 'disabled'
        WHEN cur.revoked_at IS NOT NULL OR cur.expires_at <= $3 OR cur.max_expires_at <= $3
             OR cur.created_at < cur.valid_after THEN 'dead'
        WHEN cur.refresh_token_hash = $1 THEN 'rotated'
        WHEN cur.refresh_token_hash = $2 AND cur.rotated_at > $4 THEN 'replayed'
        ELSE 'reused'
    END AS outcome
    FROM cur
), upd AS (
    UPDATE auth.sessions s SET
        refresh_token_hash = CASE WHEN d.outcome = 'rotated' THEN $2 ELSE s.refresh_token_hash END,
        rotated_at         = CASE WHEN d.outcome = 'rotated' THEN $3 ELSE s.rotated_at END,
        last_activity_at   = CASE WHEN d.outcome = 'rotated' THEN $3 ELSE s.last_activity_at END,
        expires_at         = CASE WHEN d.outcome = 'rotated' THEN LEAST($5, s.max_expires_at) ELSE s.expires_at END,
        ip                 = CASE WHEN d.outcome = 'rotated' THEN COALESCE(NULLIF($6, ''), s.ip) ELSE s.ip END,
        user_agent         = CASE WHEN d.outcome = 'rotated' THEN COALESCE(NULLIF($7, ''), s.user_agent) ELSE s.user_agent END,
        revoked_at         = CASE WHEN d.outcome = 'reused' THEN $3 ELSE s.revoked_at END,
        revoked_reason     = CASE WHEN d.outcome = 'reused' THEN 'refresh token reused' ELSE s.revoked_reason END
    FROM decided d
    WHERE s.id = d.id AND d.outcome IN ('rotated', 'reused')
    RETURNING s.expires_at
), retire AS (
    INSERT INTO auth.retired_refresh_tokens (token_hash, session_id, retired_at)
    SELECT $1, d.id, $3 FROM decided d WHERE d.outcome = 'rotated'
    ON CONFLICT (token_hash) DO NOTHING
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent, detail)
    SELECT $3, CASE WHEN d.outcome = 'reused' THEN 'refresh_token_reused' ELSE 'refresh' END,
           d.user_id, d.id, NULLIF($6, ''), NULLIF($7, ''),
           CASE WHEN d.outcome = 'replayed' THEN '{"replayed": true}'::jsonb ELSE '{}'::jsonb END
    FROM decided d WHERE d.outcome IN ('rotated', 'replayed', 'reused')
)
SELECT d.outcome, d.id, d.created_at, COALESCE((SELECT expires_at FROM upd), d.expires_at) AS expires_at,
       d.user_id, d.email, d.default_role, d.allowed_roles, d.user_created_at, d.custom_claims,
       (SELECT count(pg_notify('` + revocation.Channel + `', 's|' || id || '|' || $8)) FROM decided WHERE outcome = 'reused')
FROM decided d`

// RotateRefreshToken implements auth.Store.
func (s *Store) RotateRefreshToken(ctx context.Context, r auth.Rotation) (auth.RotationResult, error) {
	var (
		res    auth.RotationResult
		roles  pq.StringArray
		claims claimsJSON
	)
	var notified int
	err := stmts{s}.QueryRowxContext(ctx, rotateRefreshToken, r.TokenHash, r.SuccessorHash, r.Now, r.GraceCutoff,
		r.ExpiresAt, r.IP, r.UserAgent, micros(r.Now)).Scan(&res.Outcome, &res.SessionID, &res.AuthTime, &res.ExpiresAt,
		&res.User.ID, &res.User.Email, &res.User.DefaultRole, &roles, &res.User.CreatedAt, &claims, &notified)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.RotationResult{Outcome: auth.Unknown}, nil
	}
	if err != nil {
		return auth.RotationResult{}, mapError(err)
	}
	res.User.AllowedRoles = []string(roles)
	res.User.Claims = auth.Claims(claims)
	res.AuthTime, res.ExpiresAt, res.User.CreatedAt = res.AuthTime.UTC(), res.ExpiresAt.UTC(), res.User.CreatedAt.UTC()
	return res, nil
}

// notifySessions announces every revoked session of CTE s to all instances,
// in the statement that revokes them ($N: now in unix microseconds).
func notifySessions(nowParam string) string {
	return `SELECT count(pg_notify('` + revocation.Channel + `', 's|' || id || '|' || ` + nowParam + `)) FROM s`
}

// revokeSessionByTokenHash ends the session (logout), announces it and
// records it in the audit trail: $1 token hash, $2 now, $3 now in unix
// microseconds, $4 ip, $5 user agent.
const revokeSessionByTokenHash = `
WITH s AS (
    UPDATE auth.sessions SET revoked_at = $2, revoked_reason = 'logout'
    WHERE revoked_at IS NULL AND id = (
        SELECT id FROM auth.sessions WHERE refresh_token_hash = $1
        UNION ALL
        SELECT session_id FROM auth.retired_refresh_tokens WHERE token_hash = $1
        LIMIT 1
    )
    RETURNING id, user_id
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent)
    SELECT $2, 'logout', user_id, id, $4, $5 FROM s
)
SELECT (SELECT count(pg_notify('` + revocation.Channel + `', 's|' || id || '|' || $3)) FROM s), (SELECT id::text FROM s)`

// RevokeSessionByTokenHash implements auth.Store.
func (s *Store) RevokeSessionByTokenHash(ctx context.Context, hash []byte, now time.Time) (string, error) {
	var (
		n  int
		id sql.NullString
	)
	ip, ua := requestClient(ctx)
	err := s.db.QueryRowContext(ctx, revokeSessionByTokenHash, hash, now, micros(now), ip, ua).Scan(&n, &id)
	return id.String, mapError(err)
}

// liveSession is the condition for a session that can still be refreshed.
const liveSession = `revoked_at IS NULL AND expires_at > $2 AND max_expires_at > $2`

// revokeSession ends one live session of a user, announces it and records
// it in the audit trail: $1 user, $2 now, $3 session, $4 now in unix
// microseconds, $5 ip, $6 user agent.
const revokeSession = `
WITH s AS (
    UPDATE auth.sessions SET revoked_at = $2, revoked_reason = 'revoked by user'
    WHERE id = $3 AND user_id = $1 AND ` + liveSession + `
    RETURNING id, user_id
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent)
    SELECT $2, 'session_revoked', user_id, id, $5, $6 FROM s
)
`

// RevokeSession implements auth.Store.
func (s *Store) RevokeSession(ctx context.Context, userID, sessionID string, now time.Time) (bool, error) {
	var n int
	ip, ua := requestClient(ctx)
	err := s.db.QueryRowContext(ctx, revokeSession+notifySessions("$4"), userID, now, sessionID, micros(now), ip, ua).Scan(&n)
	return n == 1, mapError(err)
}

// cutOffUser moves the user's cut-off to now (never back), applies the
// optional account changes, and ends every live session, announcing the
// cut-off and each session in the same statement, and records the event in
// the audit trail. It returns how many sessions it ended. $1 user, $2 now,
// $3 reason, $4 now in unix microseconds, $5 disabled (null: unchanged), $6
// banned_until, $7 ban_reason (set with banned_until), $8 the audit event,
// $9 ip, $10 user agent, $11 the event's detail (the number of sessions
// ended is added).
const cutOffUser = `
WITH u AS (
    UPDATE auth.users SET
        valid_after  = GREATEST(valid_after, $2),
        disabled     = COALESCE($5, disabled),
        banned_until = COALESCE($6, banned_until),
        ban_reason   = CASE WHEN $6::timestamptz IS NULL THEN ban_reason ELSE $7 END,
        updated_at   = $2
    WHERE id = $1
    RETURNING id
), s AS (
    UPDATE auth.sessions SET revoked_at = $2, revoked_reason = $3
    WHERE user_id = (SELECT id FROM u) AND ` + liveSession + `
    RETURNING id
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $2, $8, u.id, $9, $10, $11::jsonb || jsonb_build_object('sessions', (SELECT count(*) FROM s))
    FROM u
)
SELECT (SELECT count(*) FROM u),
       (SELECT count(pg_notify('` + revocation.Channel + `', 'u|' || id || '|' || $4)) FROM u),
       (SELECT count(pg_notify('` + revocation.Channel + `', 's|' || id || '|' || $4)) FROM s),
       ARRAY(SELECT id::text FROM s)`

// CutOffUser implements auth.Store.
func (s *Store) CutOffUser(ctx context.Context, userID string, c auth.CutOff) ([]string, error) {
	event, detail := cutOffEvent(c)
	ip, ua := requestClient(ctx)
	return cutOff(ctx, s.db, userID, c, event, detail, ip, ua)
}

// cutOffEvent is the audit event of a cut-off: a ban, a disable, or the
// end of every session (by the user or an administrator, as c.Reason says).
func cutOffEvent(c auth.CutOff) (auth.AuditEventKind, map[string]any) {
	switch {
	case !c.BannedUntil.IsZero():
		detail := map[string]any{"until": c.BannedUntil.UTC().Format(time.RFC3339Nano)}
		if c.BanReason != nil {
			detail["reason"] = *c.BanReason
		}
		return auth.EventBanned, detail
	case c.Disable != nil && *c.Disable:
		return auth.EventDisabled, nil
	}
	return auth.EventSessionsRevoked, map[string]any{"reason": c.Reason}
}

func cutOff(ctx context.Context, q sqlx.QueryerContext, userID string, c auth.CutOff, event auth.AuditEventKind, detail map[string]any, ip, ua any) ([]string, error) {
	var (
		users, notifiedUsers, notifiedSessions int
		sessions                               pq.StringArray
		bannedUntil                            *time.Time
	)
	if !c.BannedUntil.IsZero() {
		bannedUntil = &c.BannedUntil
	}
	d, err := jsonObject(detail)
	if err != nil {
		return nil, err
	}
	err = q.QueryRowxContext(ctx, cutOffUser, userID, c.Now, c.Reason, micros(c.Now), c.Disable, bannedUntil, c.BanReason,
		string(event), ip, ua, d).
		Scan(&users, &notifiedUsers, &notifiedSessions, &sessions)
	if err != nil {
		return nil, mapError(err)
	}
	if users == 0 {
		return nil, auth.ErrNotFound
	}
	return []string(sessions), nil
}

const listSessions = `
SELECT id, description, user_agent, ip, created_at, last_activity_at, expires_at
FROM auth.sessions
WHERE user_id = $1 AND ` + liveSession + `
ORDER BY created_at DESC, id DESC`

// ListSessions implements auth.Store.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]*auth.Session, error) {
	rows, err := stmts{s}.QueryContext(ctx, listSessions, userID, now)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	sessions := []*auth.Session{}
	for rows.Next() {
		var x auth.Session
		if err := rows.Scan(&x.ID, &x.Description, &x.UserAgent, &x.IP, &x.CreatedAt, &x.LastActivityAt, &x.ExpiresAt); err != nil {
			return nil, mapError(err)
		}
		x.CreatedAt, x.LastActivityAt, x.ExpiresAt = x.CreatedAt.UTC(), x.LastActivityAt.UTC(), x.ExpiresAt.UTC()
		sessions = append(sessions, &x)
	}
	return sessions, mapError(rows.Err())
}

// changePasswordHash replaces the hash if it is still the verified one, and
// resets the account's login throttle: the old password was proven.
const changePasswordHash = `
WITH reset AS (
    DELETE FROM auth.login_throttle
    WHERE scope = 'account' AND subject = (SELECT email FROM auth.users WHERE id = $1)
)
UPDATE auth.users SET password_hash = $3, updated_at = $4
WHERE id = $1 AND password_hash = $2`

// ChangePassword implements auth.Store.
func (s *Store) ChangePassword(ctx context.Context, userID, oldHash, newHash string, ns auth.NewSession) (auth.SessionRecord, []string, error) {
	var (
		rec   auth.SessionRecord
		ended []string
	)
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, changePasswordHash, userID, oldHash, newHash, ns.Now)
		if err != nil {
			return mapError(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			// Another change got there first: the old password was verified
			// against a hash that no longer holds.
			return auth.ErrInvalidCredentials
		}
		ended, err = cutOff(ctx, tx, userID, auth.CutOff{Now: ns.Now, Reason: "password changed"},
			auth.EventPasswordChanged, nil, nullIfEmpty(ns.IP), nullIfEmpty(ns.UserAgent))
		if err != nil {
			return err
		}
		rec, err = createSession(ctx, tx, insertSession, ns)
		return err
	})
	return rec, ended, err
}

// setPasswordHash replaces the hash whatever it was (an administrator's
// reset) and clears the account's login throttle.
const setPasswordHash = `
WITH reset AS (
    DELETE FROM auth.login_throttle
    WHERE scope = 'account' AND subject = (SELECT email FROM auth.users WHERE id = $1)
)
UPDATE auth.users SET password_hash = $2, updated_at = $3
WHERE id = $1`

// SetPassword implements auth.Store.
func (s *Store) SetPassword(ctx context.Context, userID, newHash string, now time.Time) ([]string, error) {
	var ended []string
	ip, ua := requestClient(ctx)
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, setPasswordHash, userID, newHash, now)
		if err != nil {
			return mapError(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return auth.ErrNotFound
		}
		ended, err = cutOff(ctx, tx, userID, auth.CutOff{Now: now, Reason: "password set by an administrator"},
			auth.EventPasswordChanged, map[string]any{"by": "administrator"}, ip, ua)
		return err
	})
	return ended, err
}

// micros is t in unix microseconds, as NOTIFY payloads carry it.
func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }
