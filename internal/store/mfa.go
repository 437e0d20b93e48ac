package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"authgate/internal/auth"
	"authgate/internal/onetime"
	"authgate/internal/revocation"
)

// mfaState reads the user, its TOTP, its passkey count and the level of the
// caller's live session: $1 user, $2 session (” : none), $3 now.
const mfaState = `
SELECT u.email, t.secret_sealed, t.confirmed_at IS NOT NULL, COALESCE(t.last_used_step, -1),
       (SELECT count(*) FROM auth.passkeys p WHERE p.user_id = u.id),
       COALESCE((SELECT s.auth_level FROM auth.sessions s
                 WHERE $2 <> '' AND s.id = NULLIF($2, '')::uuid AND s.user_id = u.id
                   AND s.revoked_at IS NULL AND s.expires_at > $3 AND s.max_expires_at > $3
                   AND s.created_at >= COALESCE(u.valid_after, '-infinity')), 0)
FROM auth.users u LEFT JOIN auth.user_totp t ON t.user_id = u.id
WHERE u.id = $1`

// MFAState implements auth.Store.
func (s *Store) MFAState(ctx context.Context, userID, sessionID string, now time.Time) (auth.MFAState, error) {
	var st auth.MFAState
	if !isUUID(userID) {
		return st, auth.ErrNotFound
	}
	if !isUUID(sessionID) {
		sessionID = ""
	}
	err := s.db.QueryRowContext(ctx, mfaState, userID, sessionID, now).
		Scan(&st.Email, &st.TOTPSealed, &st.TOTPEnabled, &st.TOTPLastStep, &st.Passkeys, &st.SessionLevel)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.MFAState{}, auth.ErrNotFound
	}
	return st, mapError(err)
}

// saveTOTPEnrollment stores a waiting secret, replacing a waiting one, but
// never one that is on: $1 user, $2 sealed secret, $3 now.
const saveTOTPEnrollment = `
INSERT INTO auth.user_totp (user_id, secret_sealed, created_at) VALUES ($1, $2, $3)
ON CONFLICT (user_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, created_at = EXCLUDED.created_at,
                                    last_used_step = NULL
WHERE auth.user_totp.confirmed_at IS NULL
RETURNING user_id`

// SaveTOTPEnrollment implements auth.Store.
func (s *Store) SaveTOTPEnrollment(ctx context.Context, userID string, sealed []byte, now time.Time) (bool, error) {
	var id string
	err := s.db.QueryRowContext(ctx, saveTOTPEnrollment, userID, sealed, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, mapError(err)
}

// confirmTOTP turns on the waiting secret that was checked ($2), marking
// the step of its first code used: $1 user, $3 step, $4 now, $5 ip, $6
// user agent.
const confirmTOTP = `
WITH t AS (
    UPDATE auth.user_totp SET confirmed_at = $4, last_used_step = $3
    WHERE user_id = $1 AND confirmed_at IS NULL AND secret_sealed = $2
      AND (last_used_step IS NULL OR last_used_step < $3)
    RETURNING user_id
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $4, 'mfa_enabled', user_id, $5, $6, '{"method": "totp"}'::jsonb FROM t
)
SELECT count(*) FROM t`

// replaceRecoveryCodes replaces a user's recovery codes: $1 user, $2 the
// new codes' hashes, $3 now.
const replaceRecoveryCodes = `
WITH gone AS (DELETE FROM auth.mfa_recovery_codes WHERE user_id = $1)
INSERT INTO auth.mfa_recovery_codes (user_id, code_hash, created_at)
SELECT $1, h, $3 FROM unnest($2::bytea[]) AS h`

// ConfirmTOTP implements auth.Store.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, sealed []byte, step int64, recoveryHashes [][]byte, now time.Time) (bool, error) {
	ok := false
	ip, ua := requestClient(ctx)
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, confirmTOTP, userID, sealed, step, now, ip, ua).Scan(&n); err != nil {
			return mapError(err)
		}
		if ok = n == 1; !ok {
			return nil
		}
		_, err := tx.ExecContext(ctx, replaceRecoveryCodes, userID, pq.ByteaArray(recoveryHashes), now)
		return mapError(err)
	})
	return ok, err
}

// The statements that use up a second factor. Two racing uses of one code
// both reach the row; under READ COMMITTED the second waits for the first
// and then finds its condition false, so exactly one wins.
const (
	// useTOTPStep: $1 user, $2 step. A step is accepted once, and never
	// one before the last accepted: a code seen once is dead for its
	// whole window.
	useTOTPStep = `
UPDATE auth.user_totp SET last_used_step = $2
WHERE user_id = $1 AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2)`
	// useRecoveryCode: $1 user, $2 the code's hashes, $3 now; only while
	// TOTP is on (its codes go with it).
	useRecoveryCode = `
UPDATE auth.mfa_recovery_codes SET used_at = $3
WHERE user_id = $1 AND code_hash = ANY($2::bytea[]) AND used_at IS NULL
  AND EXISTS (SELECT 1 FROM auth.user_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL)`
)

// useSecondFactor uses p up inside tx; false when it does not hold.
func useSecondFactor(ctx context.Context, tx *sqlx.Tx, userID string, p auth.SecondFactorProof, now time.Time) (bool, error) {
	var (
		res sql.Result
		err error
	)
	if p.RecoveryHashes != nil {
		res, err = tx.ExecContext(ctx, useRecoveryCode, userID, pq.ByteaArray(p.RecoveryHashes), now)
	} else {
		res, err = tx.ExecContext(ctx, useTOTPStep, userID, p.TOTPStep)
	}
	if err != nil {
		return false, mapError(err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// disableTOTP turns TOTP off, deletes the recovery codes and ends every
// other live session of the user, announcing them: $1 user, $2 the session
// kept (” : none), $3 now, $4 now in unix microseconds, $5 ip, $6 user
// agent, $7 the proof's kind.
const disableTOTP = `
WITH t AS (
    DELETE FROM auth.user_totp WHERE user_id = $1 RETURNING user_id
), codes AS (
    DELETE FROM auth.mfa_recovery_codes WHERE user_id = $1
), s AS (
    UPDATE auth.sessions SET revoked_at = $3, revoked_reason = 'second factor turned off'
    WHERE user_id = $1 AND id::text <> $2 AND revoked_at IS NULL AND expires_at > $3 AND max_expires_at > $3
    RETURNING id
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent, detail)
    SELECT $3, 'mfa_disabled', $1, NULLIF($2, '')::uuid, $5, $6,
           jsonb_build_object('method', 'totp', 'proof', $7::text, 'sessions_ended', (SELECT count(*) FROM s))
    FROM t
)
SELECT id::text, (SELECT count(pg_notify('` + revocation.Channel + `', 's|' || id || '|' || $4)) FROM s) FROM s`

// DisableTOTP implements auth.Store.
func (s *Store) DisableTOTP(ctx context.Context, userID, keepSession string, p auth.SecondFactorProof, now time.Time) ([]string, bool, error) {
	var (
		ended []string
		ok    bool
	)
	ip, ua := requestClient(ctx)
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		ended = nil
		var err error
		if ok, err = useSecondFactor(ctx, tx, userID, p, now); err != nil || !ok {
			return err
		}
		rows, err := tx.QueryContext(ctx, disableTOTP, userID, keepSession, now, micros(now), ip, ua, proofKind(p))
		if err != nil {
			return mapError(err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id string
				n  int
			)
			if err := rows.Scan(&id, &n); err != nil {
				return mapError(err)
			}
			ended = append(ended, id)
		}
		return mapError(rows.Err())
	})
	return ended, ok, err
}

// ReplaceRecoveryCodes implements auth.Store.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, p auth.SecondFactorProof, hashes [][]byte, now time.Time) (bool, error) {
	ok := false
	ip, ua := requestClient(ctx)
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if ok, err = useSecondFactor(ctx, tx, userID, p, now); err != nil || !ok {
			return err
		}
		if _, err := tx.ExecContext(ctx, replaceRecoveryCodes, userID, pq.ByteaArray(hashes), now); err != nil {
			return mapError(err)
		}
		_, err = tx.ExecContext(ctx, insertAuditEvent, now, string(auth.EventRecoveryCodesRegenerated), userID, nil, ip, ua,
			`{"proof": "`+proofKind(p)+`"}`, requestActor(ctx))
		return mapError(err)
	})
	return ok, err
}

func proofKind(p auth.SecondFactorProof) string {
	if p.RecoveryHashes != nil {
		return auth.MethodRecoveryCode
	}
	return auth.MethodTOTP
}

// useMFATicket uses a live MFA ticket of the user, issued after the user's
// cut-off, and records its use: $1 its hashes, $2 user, $3 now, $4 ip, $5
// user agent, $6 detail.
const useMFATicket = `
WITH used AS (
    UPDATE auth.one_time_tokens t SET used_at = $3
    WHERE token_hash = ANY ($1::bytea[]) AND purpose = '` + string(onetime.MFATicket) + `' AND user_id = $2
      AND used_at IS NULL AND expires_at > $3
      AND created_at >= COALESCE((SELECT valid_after FROM auth.users WHERE id = $2), '-infinity')
    RETURNING id, email
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $3, '` + string(auth.EventOneTimeTokenUsed) + `', $2, $4, $5,
           $6::jsonb || jsonb_build_object('purpose', '` + string(onetime.MFATicket) + `', 'email', used.email)
    FROM used
)
SELECT count(*) FROM used`

// UseMFATicket implements auth.Store. The proof is used first: of racing
// uses of one code, the losers wait on its row and find it used; of
// racing uses of one ticket with different codes, the losers wait on the
// ticket's row, find it used and roll their code back.
func (s *Store) UseMFATicket(ctx context.Context, ticketHashes [][]byte, userID string, p auth.SecondFactorProof, now time.Time, e auth.AuditEvent) (auth.MFATicketOutcome, error) {
	if !isUUID(userID) {
		return auth.MFATicketDead, nil
	}
	detail, err := jsonObject(e.Detail)
	if err != nil {
		return "", err
	}
	errRefused := errors.New("refused")
	outcome := auth.MFATicketUsed
	err = s.withTx(ctx, func(tx *sqlx.Tx) error {
		outcome = auth.MFATicketUsed
		ok, err := useSecondFactor(ctx, tx, userID, p, now)
		if err != nil {
			return err
		}
		if !ok {
			outcome = auth.MFACodeRefused
			return errRefused
		}
		var n int
		if err := tx.QueryRowContext(ctx, useMFATicket, pq.ByteaArray(ticketHashes), userID, now,
			nullIfEmpty(e.IP), nullIfEmpty(e.UserAgent), detail).Scan(&n); err != nil {
			return mapError(err)
		}
		if n != 1 {
			outcome = auth.MFATicketDead
			return errRefused
		}
		return nil
	})
	if errors.Is(err, errRefused) {
		return outcome, nil
	}
	return outcome, err
}

// userFactors: $1 user.
const userFactors = `
SELECT EXISTS (SELECT 1 FROM auth.user_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL),
       COALESCE((SELECT json_agg(json_build_object('id', id, 'name', name, 'createdAt', created_at, 'lastUsedAt', last_used_at)
                                 ORDER BY created_at, id)
                 FROM auth.passkeys WHERE user_id = $1), '[]')`

// UserFactors implements auth.Store.
func (s *Store) UserFactors(ctx context.Context, userID string) (bool, []*auth.Passkey, error) {
	var (
		on       bool
		passkeys jsonValue[[]*auth.Passkey]
	)
	err := s.db.QueryRowContext(ctx, userFactors, userID).Scan(&on, &passkeys)
	if err != nil {
		return false, nil, mapError(err)
	}
	for _, p := range passkeys.v {
		p.CreatedAt = p.CreatedAt.UTC()
		if p.LastUsedAt != nil {
			t := p.LastUsedAt.UTC()
			p.LastUsedAt = &t
		}
	}
	return on, passkeys.v, nil
}

// jsonValue scans a json or jsonb column into a T.
type jsonValue[T any] struct{ v T }

// Scan implements sql.Scanner.
func (j *jsonValue[T]) Scan(src any) error {
	switch b := src.(type) {
	case []byte:
		return json.Unmarshal(b, &j.v)
	case string:
		return json.Unmarshal([]byte(b), &j.v)
	case nil:
		return nil
	}
	return fmt.Errorf("json column: unexpected %T", src)
}

// sessionAssurance: $1 user, $2 session.
const sessionAssurance = `
SELECT amr, auth_level FROM auth.sessions WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL`

// SessionAssurance implements auth.Store.
func (s *Store) SessionAssurance(ctx context.Context, userID, sessionID string) (auth.Assurance, error) {
	var (
		amr pq.StringArray
		a   auth.Assurance
	)
	if !isUUID(userID) || !isUUID(sessionID) {
		return a, nil
	}
	err := s.db.QueryRowContext(ctx, sessionAssurance, userID, sessionID).Scan(&amr, &a.Level)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Assurance{}, nil
	}
	a.AMR = []string(amr)
	return a, mapError(err)
}

// isUUID reports whether s is a UUID in its text form (anything else names
// no row, and must not reach a uuid cast).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
			return false
		}
	}
	return true
}
