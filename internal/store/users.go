package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/lib/pq"

	"authgate/internal/auth"
)

// userRow is auth.users as scanned.
type userRow struct {
	ID           string         `db:"id"`
	Email        string         `db:"email"`
	PasswordHash string         `db:"password_hash"`
	DefaultRole  string         `db:"default_role"`
	AllowedRoles pq.StringArray `db:"allowed_roles"`
	Disabled     bool           `db:"disabled"`
	CreatedAt    time.Time      `db:"created_at"`
	CustomClaims claimsJSON     `db:"custom_claims"`
	BannedUntil  *time.Time     `db:"banned_until"`
	BanReason    *string        `db:"ban_reason"`
	ValidAfter   *time.Time     `db:"valid_after"`
	// EmailVerifiedAt and Locale are read where userColumns are.
	EmailVerifiedAt *time.Time `db:"email_verified_at"`
	Locale          *string    `db:"locale"`
	TOTPEnabled     bool       `db:"totp_enabled"` // read only where a sign-in needs it
}

func (r userRow) record() auth.UserRecord {
	return auth.UserRecord{
		User: auth.User{
			ID: r.ID, Email: r.Email, DefaultRole: r.DefaultRole,
			AllowedRoles: []string(r.AllowedRoles), CreatedAt: r.CreatedAt.UTC(), Disabled: r.Disabled,
			Claims: auth.Claims(r.CustomClaims), BannedUntil: r.BannedUntil, BanReason: r.BanReason,
			EmailVerified: r.EmailVerifiedAt != nil,
		},
		PasswordHash: r.PasswordHash,
		ValidAfter:   r.ValidAfter,
		Locale:       stringOrEmpty(r.Locale),
		TOTPEnabled:  r.TOTPEnabled,
	}
}

// password_hash is null for a user without a password: read as "".
const userColumns = `id, email, COALESCE(password_hash, '') AS password_hash, default_role, allowed_roles, disabled, created_at, custom_claims, banned_until, ban_reason, valid_after, email_verified_at, locale`

// insertUser creates a user (an administrator's, or imported: $6 disabled,
// $7 imported) and records it in the audit trail, with $8 the actor, $9 ip,
// $10 user agent; $11 verified, $12 locale, $13 the event (user_created, or
// signup for a sign-up without a session).
const insertUser = `
WITH u AS (
    INSERT INTO auth.users (email, password_hash, default_role, allowed_roles, created_at, updated_at, disabled,
                            email_verified_at, locale)
    VALUES ($1, NULLIF($2, ''), $3, $4, $5, $5, $6, CASE WHEN $11::boolean THEN $5::timestamptz END, $12)
    RETURNING ` + userColumns + `
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, detail, actor, ip, user_agent)
    SELECT $5, $13, u.id, CASE WHEN $13 = 'user_created'
           THEN jsonb_build_object('imported', $7::boolean, 'disabled', u.disabled, 'email_verified', $11::boolean)
           ELSE '{}'::jsonb END, $8, $9, $10 FROM u
)
SELECT * FROM u`

// insertUserWithSession creates the user and its first session in one
// statement, so a sign-up is atomic and one round trip; it records the
// sign-up in the audit trail ($12 verified, $13 locale, $14 more detail;
// $15 the session's AMR, $16 its assurance level).
const insertUserWithSession = `
WITH u AS (
    INSERT INTO auth.users (email, password_hash, default_role, allowed_roles, created_at, updated_at,
                            email_verified_at, locale)
    VALUES ($1, NULLIF($2, ''), $3, $4, $5, $5, CASE WHEN $12::boolean THEN $5::timestamptz END, $13)
    RETURNING ` + userColumns + `
), s AS (
    INSERT INTO auth.sessions (user_id, token_secret, description, user_agent, ip,
                               created_at, last_activity_at, expires_at, max_expires_at, amr, auth_level)
    SELECT u.id, $6, $7, NULLIF($8, ''), NULLIF($9, ''), $5, $5, $10, $11, $15, $16 FROM u
    RETURNING id AS session_id, user_id, ip, user_agent, expires_at AS session_expires_at
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent, detail)
    SELECT $5, 'signup', s.user_id, s.session_id, s.ip, s.user_agent, $14::jsonb FROM s
)
SELECT u.*, s.session_id, s.session_expires_at FROM u, s`

// CreateUserWithSession implements auth.Store.
func (s *Store) CreateUserWithSession(ctx context.Context, u auth.NewUser, ns *auth.NewSession) (auth.UserRecord, auth.SessionRecord, error) {
	roles := pq.StringArray(u.AllowedRoles)
	signupDetail, err := jsonObject(u.Detail)
	if err != nil {
		return auth.UserRecord{}, auth.SessionRecord{}, err
	}
	if ns == nil {
		var row userRow
		event := cmp.Or(u.Event, auth.EventUserCreated)
		ip, ua := requestClient(ctx)
		err := s.db.QueryRowxContext(ctx, insertUser, u.Email, u.PasswordHash, u.DefaultRole, roles, u.Now,
			u.Disabled, u.Imported, requestActor(ctx), ip, ua, u.EmailVerified, nullIfEmpty(u.Locale), string(event)).StructScan(&row)
		if err != nil {
			return auth.UserRecord{}, auth.SessionRecord{}, userInsertError(err)
		}
		return row.record(), auth.SessionRecord{}, nil
	}
	var row struct {
		userRow
		SessionID        string    `db:"session_id"`
		SessionExpiresAt time.Time `db:"session_expires_at"`
	}
	err = s.db.QueryRowxContext(ctx, insertUserWithSession, u.Email, u.PasswordHash, u.DefaultRole, roles, u.Now,
		ns.TokenSecret, ns.Description, ns.UserAgent, ns.IP, ns.ExpiresAt, ns.MaxExpiresAt,
		u.EmailVerified, nullIfEmpty(u.Locale), signupDetail, pq.StringArray(ns.AMR), ns.AuthLevel).StructScan(&row)
	if err != nil {
		return auth.UserRecord{}, auth.SessionRecord{}, userInsertError(err)
	}
	return row.record(), auth.SessionRecord{ID: row.SessionID, CreatedAt: u.Now, ExpiresAt: row.SessionExpiresAt.UTC()}, nil
}

func userInsertError(err error) error {
	if isUniqueViolation(err) {
		return auth.ErrEmailTaken
	}
	return mapError(err)
}

const userByEmail = `SELECT ` + userColumns + ` FROM auth.users WHERE email = $1`

// UserByEmail implements auth.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (auth.UserRecord, error) {
	return s.getUser(ctx, userByEmail, email)
}

const userByID = `SELECT ` + userColumns + `, ` + totpEnabledColumn + ` FROM auth.users u WHERE id = $1`

// totpEnabledColumn says whether the user u has TOTP on: a sign-in of one
// factor then needs a second step.
const totpEnabledColumn = `EXISTS (SELECT 1 FROM auth.user_totp t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS totp_enabled`

// UserByID implements auth.Store.
func (s *Store) UserByID(ctx context.Context, id string) (auth.UserRecord, error) {
	return s.getUser(ctx, userByID, id)
}

func (s *Store) getUser(ctx context.Context, query string, arg any) (auth.UserRecord, error) {
	var row userRow
	if err := s.db.QueryRowxContext(ctx, query, arg).StructScan(&row); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return auth.UserRecord{}, auth.ErrNotFound
		}
		return auth.UserRecord{}, mapError(err)
	}
	return row.record(), nil
}

// updateUser applies an administrative change and records in the audit
// trail what it changed: $1 user id, $2 disabled, $3 default role, $4
// allowed roles, $5 now, $6 custom claims, $9 email (each null: unchanged),
// $7 ip, $8 user agent, $10 the actor. The row is locked before it is
// read, so the recorded transition (enabled, disabled, the old email) is the
// one this statement made.
const updateUser = `
WITH u AS (
    UPDATE auth.users SET
        disabled      = COALESCE($2, disabled),
        default_role  = COALESCE($3, default_role),
        allowed_roles = COALESCE($4, allowed_roles),
        custom_claims = COALESCE($6, custom_claims),
        email         = COALESCE($9, email),
        -- A new address is not verified.
        email_verified_at = CASE WHEN $9::text IS NOT NULL AND $9 <> email THEN NULL ELSE email_verified_at END,
        updated_at    = $5
    FROM (SELECT id AS old_id, disabled AS was_disabled, email AS old_email FROM auth.users WHERE id = $1 FOR UPDATE) old
    WHERE id = old.old_id
    RETURNING ` + userColumns + `, was_disabled, old_email
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail, actor)
    SELECT $5, e.event, u.id, $7, $8, e.detail, $10
    FROM u, LATERAL (VALUES
        (CASE WHEN u.disabled AND NOT u.was_disabled THEN 'disabled'
              WHEN NOT u.disabled AND u.was_disabled THEN 'enabled' END, '{}'::jsonb),
        (CASE WHEN $4::text[] IS NOT NULL THEN 'roles_changed' END,
         jsonb_build_object('default_role', u.default_role, 'allowed_roles', u.allowed_roles)),
        (CASE WHEN $6::jsonb IS NOT NULL THEN 'claims_changed' END,
         jsonb_build_object('names', (SELECT COALESCE(jsonb_agg(k ORDER BY k), '[]'::jsonb)
                                      FROM jsonb_object_keys(u.custom_claims) k))),
        (CASE WHEN u.email <> u.old_email THEN 'email_changed' END,
         jsonb_build_object('from', u.old_email, 'to', u.email))
    ) e (event, detail)
    WHERE e.event IS NOT NULL
)
SELECT ` + userColumns + ` FROM u`

// UpdateUser implements auth.Store.
func (s *Store) UpdateUser(ctx context.Context, userID string, c auth.UserChange) (auth.UserRecord, error) {
	var roles any
	if c.AllowedRoles != nil {
		roles = pq.StringArray(c.AllowedRoles)
	}
	var claims any
	if c.Claims != nil {
		claims = claimsJSON(c.Claims)
	}
	var row userRow
	ip, ua := requestClient(ctx)
	err := s.db.QueryRowxContext(ctx, updateUser, userID, c.Disabled, c.DefaultRole, roles, c.Now, claims, ip, ua,
		c.Email, requestActor(ctx)).StructScan(&row)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return auth.UserRecord{}, auth.ErrNotFound
		}
		return auth.UserRecord{}, userInsertError(err)
	}
	return row.record(), nil
}

// listUsers finds users whose email contains $1 (a LIKE pattern, already
// escaped), by email, at most $2 of them.
const listUsers = `SELECT ` + userColumns + ` FROM auth.users WHERE email LIKE $1 ESCAPE '\' ORDER BY email LIMIT $2`

// ListUsers implements auth.Store.
func (s *Store) ListUsers(ctx context.Context, search string, limit int) ([]auth.UserRecord, error) {
	pattern := "%" + likeEscaper.Replace(search) + "%"
	rows, err := s.db.QueryxContext(ctx, listUsers, pattern, limit)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var users []auth.UserRecord
	for rows.Next() {
		var row userRow
		if err := rows.StructScan(&row); err != nil {
			return nil, mapError(err)
		}
		users = append(users, row.record())
	}
	return users, mapError(rows.Err())
}

// likeEscaper makes text match itself in a LIKE pattern with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func stringOrEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
