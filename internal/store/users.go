package store

import (
	"context"
	"database/sql"
	"errors"
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
}

func (r userRow) record() auth.UserRecord {
	return auth.UserRecord{
		User: auth.User{
			ID: r.ID, Email: r.Email, DefaultRole: r.DefaultRole,
			AllowedRoles: []string(r.AllowedRoles), CreatedAt: r.CreatedAt.UTC(), Disabled: r.Disabled,
			Claims: auth.Claims(r.CustomClaims), BannedUntil: r.BannedUntil,
		},
		PasswordHash: r.PasswordHash,
	}
}

const userColumns = `id, email, password_hash, default_role, allowed_roles, disabled, created_at, custom_claims, banned_until`

const insertUser = `
INSERT INTO auth.users (email, password_hash, default_role, allowed_roles, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $5)
RETURNING ` + userColumns

// insertUserWithSession creates the user and its first session in one
// statement, so a sign-up is atomic and one round trip.
const insertUserWithSession = `
WITH u AS (
    INSERT INTO auth.users (email, password_hash, default_role, allowed_roles, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $5)
    RETURNING ` + userColumns + `
), s AS (
    INSERT INTO auth.sessions (user_id, refresh_token_hash, description, user_agent, ip,
                               created_at, last_activity_at, expires_at, max_expires_at)
    SELECT u.id, $6, $7, NULLIF($8, ''), NULLIF($9, ''), $5, $5, $10, $11 FROM u
    RETURNING id AS session_id, expires_at AS session_expires_at
)
SELECT u.*, s.session_id, s.session_expires_at FROM u, s`

// CreateUserWithSession implements auth.Store.
func (s *Store) CreateUserWithSession(ctx context.Context, u auth.NewUser, ns *auth.NewSession) (auth.UserRecord, auth.SessionRecord, error) {
	roles := pq.StringArray(u.AllowedRoles)
	if ns == nil {
		var row userRow
		err := s.db.QueryRowxContext(ctx, insertUser, u.Email, u.PasswordHash, u.DefaultRole, roles, u.Now).StructScan(&row)
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
	err := s.db.QueryRowxContext(ctx, insertUserWithSession, u.Email, u.PasswordHash, u.DefaultRole, roles, u.Now,
		ns.TokenHash, ns.Description, ns.UserAgent, ns.IP, ns.ExpiresAt, ns.MaxExpiresAt).StructScan(&row)
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

const userByID = `SELECT ` + userColumns + ` FROM auth.users WHERE id = $1`

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

const updateUser = `
UPDATE auth.users SET
    disabled      = COALESCE($2, disabled),
    default_role  = COALESCE($3, default_role),
    allowed_roles = COALESCE($4, allowed_roles),
    custom_claims = COALESCE($6, custom_claims),
    updated_at    = $5
WHERE email = $1
RETURNING ` + userColumns

// UpdateUser implements auth.Store.
func (s *Store) UpdateUser(ctx context.Context, email string, c auth.UserChange) (auth.UserRecord, error) {
	var roles any
	if c.AllowedRoles != nil {
		roles = pq.StringArray(c.AllowedRoles)
	}
	var claims any
	if c.Claims != nil {
		claims = claimsJSON(c.Claims)
	}
	var row userRow
	err := s.db.QueryRowxContext(ctx, updateUser, email, c.Disabled, c.DefaultRole, roles, c.Now, claims).StructScan(&row)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return auth.UserRecord{}, auth.ErrNotFound
		}
		return auth.UserRecord{}, mapError(err)
	}
	return row.record(), nil
}
