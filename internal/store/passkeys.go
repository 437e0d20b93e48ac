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
	"authgate/internal/revocation"
)

// saveCeremony keeps a begun WebAuthn ceremony: $1 challenge hash, $2 kind,
// $3 user (” : none), $4 session data, $5 now, $6 expiry.
const saveCeremony = `
INSERT INTO auth.webauthn_ceremonies (challenge_hash, kind, user_id, session_data, created_at, expires_at)
VALUES ($1, $2, NULLIF($3, '')::uuid, $4::jsonb, $5, $6)`

// SaveCeremony implements auth.Store.
func (s *Store) SaveCeremony(ctx context.Context, c auth.NewCeremony) error {
	if c.UserID != "" && !isUUID(c.UserID) {
		return auth.ErrNotFound
	}
	_, err := s.db.ExecContext(ctx, saveCeremony, c.ChallengeHash, c.Kind, c.UserID, string(c.Session), c.Now, c.ExpiresAt)
	return mapError(err)
}

// useCeremony uses a live ceremony once: $1 challenge hash, $2 kind, $3 now,
// $4 the registering user (” for a sign-in). Every condition is in the
// UPDATE's WHERE: of racing finishes, one wins.
const useCeremony = `
UPDATE auth.webauthn_ceremonies SET used_at = $3
WHERE challenge_hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3
  AND user_id IS NOT DISTINCT FROM NULLIF($4, '')::uuid
RETURNING session_data, COALESCE(user_id::text, '')`

// UseCeremony implements auth.Store.
func (s *Store) UseCeremony(ctx context.Context, challengeHash []byte, kind, userID string, now time.Time) (json.RawMessage, string, bool, error) {
	if userID != "" && !isUUID(userID) {
		return nil, "", false, nil
	}
	var (
		session []byte
		owner   string
	)
	err := s.db.QueryRowContext(ctx, useCeremony, challengeHash, kind, now, userID).Scan(&session, &owner)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, mapError(err)
	}
	return session, owner, true, nil
}

// passkeyCredentials: $1 user.
const passkeyCredentials = `
SELECT id::text, credential, sign_count FROM auth.passkeys WHERE user_id = $1 ORDER BY created_at, id`

// PasskeyCredentials implements auth.Store.
func (s *Store) PasskeyCredentials(ctx context.Context, userID string) ([]auth.StoredPasskey, error) {
	if !isUUID(userID) {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, passkeyCredentials, userID)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var out []auth.StoredPasskey
	for rows.Next() {
		var (
			p   auth.StoredPasskey
			raw []byte
		)
		if err := rows.Scan(&p.ID, &raw, &p.SignCount); err != nil {
			return nil, mapError(err)
		}
		p.Credential = raw
		out = append(out, p)
	}
	return out, mapError(rows.Err())
}

// addPasskey keeps a verified passkey and records it: $1 user, $2
// credential id, $3 credential, $4 sign count, $5 name, $6 now, $7 ip,
// $8 user agent.
const addPasskey = `
WITH p AS (
    INSERT INTO auth.passkeys (user_id, credential_id, credential, sign_count, name, created_at)
    VALUES ($1, $2, $3::jsonb, $4, $5, $6)
    RETURNING id, user_id, name, created_at
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $6, 'passkey_added', user_id, $7, $8, jsonb_build_object('passkey_id', id, 'name', name) FROM p
)
SELECT id::text, name, created_at FROM p`

// AddPasskey implements auth.Store.
func (s *Store) AddPasskey(ctx context.Context, userID string, credentialID []byte, credential json.RawMessage, signCount int64, name string, now time.Time) (*auth.Passkey, error) {
	ip, ua := requestClient(ctx)
	var p auth.Passkey
	err := s.db.QueryRowContext(ctx, addPasskey, userID, credentialID, string(credential), signCount, name, now, ip, ua).
		Scan(&p.ID, &p.Name, &p.CreatedAt)
	if isUniqueViolation(err) {
		return nil, &auth.Error{Code: auth.CodeInvalidPasskey, Message: "this passkey is already registered"}
	}
	if err != nil {
		return nil, mapError(err)
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return &p, nil
}

// usePasskey records a sign-in with a passkey, only if its signature
// counter moves forward (or both it and the stored one are 0: an
// authenticator without a counter): $1 passkey, $2 user, $3 the new count,
// $4 the credential as updated, $5 now. Two sign-ins reporting one count
// (a cloned authenticator) cannot both pass.
const usePasskey = `
UPDATE auth.passkeys SET sign_count = $3, credential = $4::jsonb, last_used_at = $5
WHERE id = $1 AND user_id = $2 AND (sign_count < $3 OR (sign_count = 0 AND $3 = 0))`

// UsePasskey implements auth.Store.
func (s *Store) UsePasskey(ctx context.Context, userID, passkeyID string, signCount int64, credential json.RawMessage, now time.Time) (bool, error) {
	if !isUUID(userID) || !isUUID(passkeyID) {
		return false, nil
	}
	res, err := s.db.ExecContext(ctx, usePasskey, passkeyID, userID, signCount, string(credential), now)
	if err != nil {
		return false, mapError(err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// removePasskey deletes a passkey of the user, unless it is the user's
// last way to sign in (keepsAWayIn; $8: passkeys count, and a passkey
// that does not count is never the last way), and ends every other live
// session of the user, announcing them: $1 user, $2 passkey, $3 the
// session kept, $4 now, $5 now in unix microseconds, $6 ip, $7 user agent.
// It runs after lockUser in the same transaction (see keepsAWayIn). It
// returns whether it deleted and whether the passkey is the user's.
var removePasskey = `
WITH p AS (
    DELETE FROM auth.passkeys WHERE id = $2 AND user_id = $1
        AND (NOT $8::boolean OR ` + keepsAWayIn("$1", "NULL::text", "$2::uuid", "$8::boolean") + `)
    RETURNING id, name
), s AS (
    UPDATE auth.sessions SET revoked_at = $4, revoked_reason = 'passkey removed'
    WHERE user_id = $1 AND EXISTS (SELECT 1 FROM p) AND id::text <> $3
      AND revoked_at IS NULL AND expires_at > $4 AND max_expires_at > $4
    RETURNING id
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent, detail)
    SELECT $4, 'passkey_removed', $1, NULLIF($3, '')::uuid, $6, $7,
           jsonb_build_object('passkey_id', p.id, 'name', p.name, 'sessions_ended', (SELECT count(*) FROM s))
    FROM p
)
SELECT (SELECT count(*) FROM p), EXISTS (SELECT 1 FROM auth.passkeys WHERE id = $2 AND user_id = $1),
       COALESCE((SELECT array_agg(id::text) FROM s), '{}'),
       (SELECT count(pg_notify('` + revocation.Channel + `', 's|' || id || '|' || $5)) FROM s)`

// RemovePasskey implements auth.Store.
func (s *Store) RemovePasskey(ctx context.Context, userID, passkeyID, keepSession string, passkeysCount bool, now time.Time) ([]string, auth.PasskeyRemoval, error) {
	if !isUUID(userID) || !isUUID(passkeyID) {
		return nil, auth.PasskeyNone, nil
	}
	if !isUUID(keepSession) {
		keepSession = ""
	}
	ip, ua := requestClient(ctx)
	var (
		outcome auth.PasskeyRemoval
		ended   pq.StringArray
	)
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		outcome, ended = auth.PasskeyNone, nil
		// The user's row lock makes two removals of the user's ways in
		// (passkeys, identities) run one after the other.
		var one int
		if err := tx.QueryRowxContext(ctx, lockUser, userID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		var (
			removed, notified int
			exists            bool
		)
		if err := tx.QueryRowContext(ctx, removePasskey, userID, passkeyID, keepSession, now, micros(now), ip, ua, passkeysCount).
			Scan(&removed, &exists, &ended, &notified); err != nil {
			return err
		}
		switch {
		case removed == 1:
			outcome = auth.PasskeyRemoved
		case exists:
			outcome = auth.PasskeyLastWayIn
		}
		return nil
	})
	if err != nil {
		return nil, "", mapError(err)
	}
	return []string(ended), outcome, nil
}

// purgeWebAuthnCeremonies deletes a batch of expired ceremonies, used or
// not: $1 now, $2 the batch size.
const purgeWebAuthnCeremonies = `
DELETE FROM auth.webauthn_ceremonies WHERE challenge_hash IN (
    SELECT challenge_hash FROM auth.webauthn_ceremonies WHERE expires_at <= $1 LIMIT $2)`
