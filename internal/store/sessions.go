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

// openSession opens the session of a verified sign-in, in one round trip,
// only if the user is still as the sign-in found it.
//
// verified reads the user row under a FOR NO KEY UPDATE lock. Under READ
// COMMITTED the lock waits for any transaction changing the row and then
// returns its latest version (not the snapshot's), so the password hash,
// the disabled flag, the ban and the cut-off are compared as they are when
// the session is written, not as they were when the password was checked.
// The lock is held until the session commits, and every revoker (a
// password change, revokeAllSessions, user disable and ban: CutOffUser and
// ChangePassword) takes the same row lock before it ends the user's
// sessions, in a later statement of its transaction, whose snapshot is
// therefore taken after this session committed: either this statement
// runs first and the revoker ends the session, or the revoker runs first
// and this statement sees the change and opens nothing. (FOR SHARE would
// do for that; this statement may also rewrite the hash, and two sign-ins
// that both held FOR SHARE and then both wanted to update would deadlock.)
//
// opened gates everything else: the re-hash ($11, when not empty) or the
// verification of the address ($16, when not empty and still the user's:
// one UPDATE, as two of one row in one statement would not both apply), the
// settling of the throttle's reservation (a correct password ends the
// account's count, $12, and gives the address, $13, its reserved failure
// back; $14 the reservation's now), the session and the audit event.
// $1 user, $2 the session's token secret, $3 description, $4 user agent, $5 ip, $6 now,
// $7 sliding expiry, $8 absolute expiry, $9 the verified password hash
// (”: none), $10 the verified cut-off (null: none yet), $15 more detail for
// the audit row (the method, AMR and provider of a sign-in without a
// password), $17 the session's amr, $18 its auth level.
var openSession = `
WITH verified AS (
    SELECT id, CASE
        WHEN disabled OR banned_until > $6 THEN 'disabled'
        WHEN $9 <> '' AND password_hash <> $9 THEN 'password_changed'
        WHEN valid_after IS DISTINCT FROM $10::timestamptz THEN 'cut_off'
        ELSE 'opened' END AS outcome
    FROM auth.users WHERE id = $1
    FOR NO KEY UPDATE
), opened AS (
    SELECT id FROM verified WHERE outcome = 'opened'
), rehash AS (
    UPDATE auth.users SET
        password_hash     = CASE WHEN $11 <> '' THEN $11 ELSE password_hash END,
        email_verified_at = CASE WHEN $16 <> '' AND email = $16 THEN COALESCE(email_verified_at, $6) ELSE email_verified_at END,
        updated_at        = $6
    WHERE ($11 <> '' OR ($16 <> '' AND email = $16 AND email_verified_at IS NULL)) AND id = (SELECT id FROM opened)
    RETURNING id, $11 <> '' AS rehashed
), reset AS (
    DELETE FROM auth.login_throttle
    WHERE scope = 'account' AND subject = $12 AND EXISTS (SELECT 1 FROM opened)
), given_back AS (` + giveBack("'address'", "$13", "$14") + ` AND EXISTS (SELECT 1 FROM opened)
), s AS (
    INSERT INTO auth.sessions (user_id, token_secret, description, user_agent, ip,
                               created_at, last_activity_at, expires_at, max_expires_at, amr, auth_level)
    SELECT $1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6, $6, $7, $8, $17, $18 FROM opened
    RETURNING id, user_id, created_at, expires_at, ip, user_agent
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent, detail)
    SELECT $6, 'login', s.user_id, s.id, s.ip, s.user_agent,
           CASE WHEN EXISTS (SELECT 1 FROM rehash WHERE rehashed) THEN '{"rehashed": true}'::jsonb ELSE '{}'::jsonb END || $15::jsonb
    FROM s
)
SELECT v.outcome, s.id, s.created_at, s.expires_at FROM verified v LEFT JOIN s ON true`

// insertSession opens a session (a password change's fresh one).
const insertSession = `
INSERT INTO auth.sessions (user_id, token_secret, description, user_agent, ip,
                           created_at, last_activity_at, expires_at, max_expires_at, amr, auth_level)
VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6, $6, $7, $8, $9, $10)
RETURNING id, created_at, expires_at`

// OpenSession implements auth.Store.
func (s *Store) OpenSession(ctx context.Context, ns auth.NewSession, v auth.VerifiedSignIn) (auth.SessionRecord, auth.SignInOutcome, error) {
	var a auth.LoginAttempt
	if v.Attempt != nil {
		a = *v.Attempt
	}
	detail, err := jsonObject(v.AuditDetail())
	if err != nil {
		return auth.SessionRecord{}, "", err
	}
	var (
		outcome       auth.SignInOutcome
		id            sql.NullString
		created, exps sql.NullTime
	)
	err = stmts{s}.QueryRowxContext(ctx, openSession, ns.UserID, ns.TokenSecret, ns.Description, ns.UserAgent, ns.IP,
		ns.Now, ns.ExpiresAt, ns.MaxExpiresAt, v.PasswordHash, v.ValidAfter, v.Rehash,
		reservedSubject(a.Account, a.Reserved.AccountFailures), reservedSubject(a.Address, a.Reserved.AddressFailures), a.Now,
		detail, v.VerifyEmail, pq.StringArray(ns.AMR), ns.AuthLevel).
		Scan(&outcome, &id, &created, &exps)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.SessionRecord{}, auth.SignInUserGone, nil
	}
	if err != nil {
		return auth.SessionRecord{}, "", mapError(err)
	}
	if outcome != auth.SignInOpened {
		return auth.SessionRecord{}, outcome, nil
	}
	return auth.SessionRecord{ID: id.String, CreatedAt: created.Time.UTC(), ExpiresAt: exps.Time.UTC()}, outcome, nil
}

func createSession(ctx context.Context, q sqlx.QueryerContext, query string, ns auth.NewSession, more ...any) (auth.SessionRecord, error) {
	var rec auth.SessionRecord
	args := append([]any{ns.UserID, ns.TokenSecret, ns.Description, ns.UserAgent, ns.IP,
		ns.Now, ns.ExpiresAt, ns.MaxExpiresAt, pq.StringArray(ns.AMR), ns.AuthLevel}, more...)
	err := q.QueryRowxContext(ctx, query, args...).Scan(&rec.ID, &rec.CreatedAt, &rec.ExpiresAt)
	if err != nil {
		return auth.SessionRecord{}, mapError(err)
	}
	rec.CreatedAt, rec.ExpiresAt = rec.CreatedAt.UTC(), rec.ExpiresAt.UTC()
	return rec, nil
}

// The refresh statement decides and applies a whole refresh, so a refresh
// is one round trip and no crash can leave it half done. Its head finds the
// session and the generation the token stands for (found: id, g, proof); its
// tail (rotateTail) is shared by both token formats:
//
// cur: the session, found by primary key and locked. Under READ COMMITTED a
// concurrent rotation makes this wait and then see the latest row, so of N
// simultaneous refreshes of one token exactly one rotates and the others see
// the next generation (and replay it, if the rule allows).
// decided: the outcome. A proof that does not match the row's secret, or a
// generation never issued, is unknown before anything else is looked at, so
// a forged token changes nothing and learns nothing; then a disabled user
// wins over everything else.
// upd: rotation (generation + 1, touching no indexed column, so the update
// can be HOT), a replay's count, or, on reuse, the revocation.
// audit: the reuse, with why; rotations and replays only when $9 says so.
// The last SELECT returns the successor's proof for rotations and replays,
// and announces a reuse's revocation to every instance.
//
// $1 now, $2 grace cut-off, $3 sliding expiry, $4 ip, $5 user agent, $6 now
// in unix microseconds (for NOTIFY), $7 the requesting replay client, $8 the
// replay limit, $9 audit rotations and replays; the heads add $10… .
const rotateTail = `
cur AS (
    SELECT s.id, s.token_secret, s.generation, s.rotated_at, s.rotated_client, s.replays,
           s.created_at, s.expires_at, s.max_expires_at, s.revoked_at, s.amr, s.auth_level,
           u.id AS user_id, u.email, u.default_role, u.allowed_roles, u.disabled,
           u.created_at AS user_created_at, u.custom_claims, u.banned_until, u.valid_after,
           u.email_verified_at IS NOT NULL AS email_verified
    FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id
    WHERE s.id = (SELECT id FROM found)
    FOR NO KEY UPDATE OF s
), decided AS (
    SELECT c.*, f.g, CASE
        WHEN f.g > c.generation OR f.proof <> sha256(c.token_secret || int8send(f.g)) THEN 'unknown'
        WHEN c.disabled OR c.banned_until > $1 THEN 'disabled'
        WHEN c.revoked_at IS NOT NULL OR c.expires_at <= $1 OR c.max_expires_at <= $1
             OR c.created_at < c.valid_after THEN 'dead'
        WHEN f.g = c.generation THEN 'rotated'
        WHEN f.g = c.generation - 1 AND f.g >= 0 AND c.rotated_at > $2 AND c.rotated_client = $7::bytea
             AND c.replays < $8::integer THEN 'replayed'
        ELSE 'reused'
    END AS outcome
    FROM cur c, found f
), upd AS (
    UPDATE auth.sessions s SET
        generation       = CASE WHEN d.outcome = 'rotated' THEN s.generation + 1 ELSE s.generation END,
        rotated_at       = CASE WHEN d.outcome = 'rotated' THEN $1 ELSE s.rotated_at END,
        rotated_client   = CASE WHEN d.outcome = 'rotated' THEN $7::bytea ELSE s.rotated_client END,
        replays          = CASE d.outcome WHEN 'rotated' THEN 0 WHEN 'replayed' THEN s.replays + 1 ELSE s.replays END,
        last_activity_at = CASE WHEN d.outcome = 'rotated' THEN $1 ELSE s.last_activity_at END,
        expires_at       = CASE WHEN d.outcome = 'rotated' THEN LEAST($3, s.max_expires_at) ELSE s.expires_at END,
        ip               = CASE WHEN d.outcome = 'rotated' THEN COALESCE(NULLIF($4, ''), s.ip) ELSE s.ip END,
        user_agent       = CASE WHEN d.outcome = 'rotated' THEN COALESCE(NULLIF($5, ''), s.user_agent) ELSE s.user_agent END,
        revoked_at       = CASE WHEN d.outcome = 'reused' THEN $1 ELSE s.revoked_at END,
        revoked_reason   = CASE WHEN d.outcome = 'reused' THEN 'refresh token reused' ELSE s.revoked_reason END
    FROM decided d
    WHERE s.id = d.id AND d.outcome IN ('rotated', 'replayed', 'reused')
    RETURNING s.expires_at
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent, detail)
    SELECT $1, CASE WHEN d.outcome = 'reused' THEN 'refresh_token_reused' ELSE 'refresh' END,
           d.user_id, d.id, NULLIF($4, ''), NULLIF($5, ''),
           CASE d.outcome
               WHEN 'replayed' THEN '{"replayed": true}'::jsonb
               WHEN 'reused' THEN jsonb_build_object('generation', d.g, 'current_generation', d.generation, 'reason',
                   CASE WHEN d.g < d.generation - 1 OR d.g < 0 THEN 'ancestor'
                        WHEN d.rotated_at IS NULL OR d.rotated_at <= $2 THEN 'after grace'
                        WHEN d.rotated_client IS DISTINCT FROM $7::bytea THEN 'another client'
                        ELSE 'replays exhausted' END)
               ELSE '{}'::jsonb END
    FROM decided d WHERE d.outcome = 'reused' OR ($9::boolean AND d.outcome IN ('rotated', 'replayed'))
)
SELECT d.outcome, d.id, d.created_at, COALESCE((SELECT expires_at FROM upd), d.expires_at) AS expires_at,
       d.user_id, d.email, d.default_role, d.allowed_roles, d.user_created_at, d.custom_claims, d.email_verified,
       d.amr, d.auth_level, d.g + 1 AS successor_generation,
       CASE WHEN d.outcome IN ('rotated', 'replayed') THEN sha256(d.token_secret || int8send(d.g + 1)) END AS successor_proof,
       (SELECT count(pg_notify('` + revocation.Channel + `', 's|' || id || '|' || $6)) FROM decided WHERE outcome = 'reused') AS notified
FROM decided d`

// rotateRefreshToken refreshes a format-2 token: $10 session id, $11 its
// generation, $12 its proof (the MAC was checked by the caller).
const rotateRefreshToken = `
WITH found AS (SELECT $10::uuid AS id, $11::bigint AS g, $12::bytea AS proof),` + rotateTail

// rotateLegacyRefreshToken refreshes a format-1 token, found by its hash
// under each candidate key ($10). The session's current format-1 token
// stands for generation 0 (proof is null: the hash match proves it), a
// retired one for an older generation; so its rotation turns the session to
// format 2 and a retired one is reuse. A rotation keeps the format-1 hash,
// so that a replay of that token is recognised too.
const rotateLegacyRefreshToken = `
WITH found AS (
    SELECT id, 0::bigint AS g, NULL::bytea AS proof FROM auth.sessions WHERE refresh_token_hash = ANY($10::bytea[])
    UNION ALL
    SELECT session_id, -1, NULL FROM auth.retired_refresh_tokens WHERE token_hash = ANY($10::bytea[])
    LIMIT 1
),` + rotateTail

// RotateRefreshToken implements auth.Store.
func (s *Store) RotateRefreshToken(ctx context.Context, r auth.Rotation) (auth.RotationResult, error) {
	var (
		res    auth.RotationResult
		roles  pq.StringArray
		amr    pq.StringArray
		claims claimsJSON
	)
	var notified int
	args := []any{r.Now, r.GraceCutoff, r.ExpiresAt, r.IP, r.UserAgent, micros(r.Now), r.Client, r.ReplayLimit, r.Audit}
	query := rotateRefreshToken
	if r.LegacyHashes != nil {
		query, args = rotateLegacyRefreshToken, append(args, pq.ByteaArray(r.LegacyHashes))
	} else {
		args = append(args, r.SessionID, r.Generation, r.Proof)
	}
	err := stmts{s}.QueryRowxContext(ctx, query, args...).Scan(&res.Outcome, &res.SessionID, &res.AuthTime, &res.ExpiresAt,
		&res.User.ID, &res.User.Email, &res.User.DefaultRole, &roles, &res.User.CreatedAt, &claims, &res.User.EmailVerified,
		&amr, &res.AuthLevel, &res.SuccessorGeneration, &res.SuccessorProof, &notified)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.RotationResult{Outcome: auth.Unknown}, nil
	}
	if err != nil {
		return auth.RotationResult{}, mapError(err)
	}
	res.User.AllowedRoles = []string(roles)
	res.AMR = []string(amr)
	res.User.Claims = auth.Claims(claims)
	res.AuthTime, res.ExpiresAt, res.User.CreatedAt = res.AuthTime.UTC(), res.ExpiresAt.UTC(), res.User.CreatedAt.UTC()
	return res, nil
}

// notifySessions announces every revoked session of CTE s to all instances,
// in the statement that revokes them ($N: now in unix microseconds).
func notifySessions(nowParam string) string {
	return `SELECT count(pg_notify('` + revocation.Channel + `', 's|' || id || '|' || ` + nowParam + `)) FROM s`
}

// The logout statements end the session of a genuine refresh token, current
// or older, announce it and record it in the audit trail: $2 now, $3 now in
// unix microseconds, $4 ip, $5 user agent; the token is $1 (and $6, $7).
const revokeSessionTail = `
    RETURNING id, user_id
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent)
    SELECT $2, 'logout', user_id, id, $4, $5 FROM s
)
SELECT (SELECT count(pg_notify('` + revocation.Channel + `', 's|' || id || '|' || $3)) FROM s), (SELECT id::text FROM s)`

const (
	// revokeSessionByToken: a format-2 token, $1 session id, $6 generation,
	// $7 proof.
	revokeSessionByToken = `
WITH s AS (
    UPDATE auth.sessions SET revoked_at = $2, revoked_reason = 'logout'
    WHERE id = $1::uuid AND revoked_at IS NULL
      AND $6::bigint <= generation AND $7::bytea = sha256(token_secret || int8send($6::bigint))` + revokeSessionTail

	// revokeSessionByLegacyToken: a format-1 token's hashes ($1).
	revokeSessionByLegacyToken = `
WITH s AS (
    UPDATE auth.sessions SET revoked_at = $2, revoked_reason = 'logout'
    WHERE revoked_at IS NULL AND id = (
        SELECT id FROM auth.sessions WHERE refresh_token_hash = ANY($1::bytea[])
        UNION ALL
        SELECT session_id FROM auth.retired_refresh_tokens WHERE token_hash = ANY($1::bytea[])
        LIMIT 1
    )` + revokeSessionTail
)

// RevokeSessionByRefreshToken implements auth.Store.
func (s *Store) RevokeSessionByRefreshToken(ctx context.Context, t auth.PresentedToken, now time.Time) (string, error) {
	var (
		n  int
		id sql.NullString
	)
	ip, ua := requestClient(ctx)
	query, args := revokeSessionByToken, []any{t.SessionID, now, micros(now), ip, ua, t.Generation, t.Proof}
	if t.LegacyHashes != nil {
		query, args = revokeSessionByLegacyToken, []any{pq.ByteaArray(t.LegacyHashes), now, micros(now), ip, ua}
	}
	err := s.db.QueryRowContext(ctx, query, args...).Scan(&n, &id)
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
// ended is added), $12 the actor.
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
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail, actor)
    SELECT $2, $8, u.id, $9, $10, $11::jsonb || jsonb_build_object('sessions', (SELECT count(*) FROM s)), $12
    FROM u
)
SELECT (SELECT count(*) FROM u),
       (SELECT count(pg_notify('` + revocation.Channel + `', 'u|' || id || '|' || $4)) FROM u),
       (SELECT count(pg_notify('` + revocation.Channel + `', 's|' || id || '|' || $4)) FROM s),
       ARRAY(SELECT id::text FROM s)`

// lockUser takes the user row's lock that openSession takes, for the rest
// of the transaction.
const lockUser = `SELECT 1 FROM auth.users WHERE id = $1 FOR NO KEY UPDATE`

// CutOffUser implements auth.Store. The user row is locked first, in a
// statement of its own: a sign-in whose session statement holds the lock
// commits before it is granted, and cutOffUser, a later statement with a
// later snapshot, then sees that session and ends it (a single statement
// would take its snapshot before the sign-in committed and miss it); a
// sign-in that comes after waits for this transaction and then finds the
// cut-off moved (see openSession).
func (s *Store) CutOffUser(ctx context.Context, userID string, c auth.CutOff) ([]string, error) {
	event, detail := cutOffEvent(c)
	ip, ua := requestClient(ctx)
	var ended []string
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, lockUser, userID); err != nil {
			return mapError(err)
		}
		var err error
		ended, err = cutOff(ctx, tx, userID, c, event, detail, ip, ua)
		return err
	})
	return ended, err
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
		string(event), ip, ua, d, requestActor(ctx)).
		Scan(&users, &notifiedUsers, &notifiedSessions, &sessions)
	if err != nil {
		return nil, mapError(err)
	}
	if users == 0 {
		return nil, auth.ErrNotFound
	}
	return []string(sessions), nil
}

// sessionIsLive is whether $2 is a live session of user $1 at $3: not
// revoked, not expired, not older than the user's cut-off, its user neither
// disabled nor banned. One primary-key lookup.
const sessionIsLive = `
SELECT EXISTS (
    SELECT 1 FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id
    WHERE s.id = $2 AND s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $3 AND s.max_expires_at > $3
      AND s.created_at >= COALESCE(u.valid_after, '-infinity') AND NOT u.disabled AND (u.banned_until IS NULL OR u.banned_until <= $3)
)`

// SessionIsLive implements auth.Store.
func (s *Store) SessionIsLive(ctx context.Context, userID, sessionID string, now time.Time) (bool, error) {
	var live bool
	err := s.db.QueryRowContext(ctx, sessionIsLive, userID, sessionID, now).Scan(&live)
	return live, mapError(err)
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
// settles the login throttle's reservation: the old password was proven, so
// the account's count ends, and the address ($6; $7 the reservation's now)
// gets its reserved failure back.
var changePasswordHash = `
WITH reset AS (
    DELETE FROM auth.login_throttle WHERE scope = 'account' AND subject = $5
), given_back AS (` + giveBack("'address'", "$6", "$7") + `
)
UPDATE auth.users SET password_hash = $3, updated_at = $4
WHERE id = $1 AND password_hash = $2`

// ChangePassword implements auth.Store.
func (s *Store) ChangePassword(ctx context.Context, userID, oldHash, newHash string, ns auth.NewSession, a auth.LoginAttempt) (auth.SessionRecord, []string, error) {
	var (
		rec   auth.SessionRecord
		ended []string
	)
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		// This statement takes the user row's lock (see CutOffUser), so the
		// cut-off that follows sees every session committed before it.
		res, err := tx.ExecContext(ctx, changePasswordHash, userID, oldHash, newHash, ns.Now, nullIfEmpty(a.Account),
			reservedSubject(a.Address, a.Reserved.AddressFailures), a.Now)
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
