package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"authgate/internal/auth"
)

// proveAddress marks user $1's address verified when it is first proven by
// mail: only while it is still $2 (the address the mail went to) and not
// verified yet. In the same statement it removes every identity of the
// user that did not prove this address (its provider did not assert it
// verified, or asserted another), and, for a proof that signs the owner in
// ($4), clears a password and deletes the passkeys set before (a
// squatter's, who registered with the owner's address); such a proof
// refuses a disabled or banned user (it will not sign in). Audited:
// email_verified ($5 the method; what was removed), and identity_unlinked
// for each identity (by: email_proof). $3
// now, $6 ip, $7 user agent.
//
// It runs after the user's row lock in its transaction: a link of an
// identity (linkIdentity takes the same lock) either committed before,
// and this statement's snapshot sees the identity, or waits and then finds
// the cut-off the proof made (see ProveEmail).
const proveAddress = `
WITH u AS (
    SELECT id, email, $4::boolean AND password_hash IS NOT NULL AS clears
    FROM auth.users
    WHERE id = $1 AND email = $2 AND email_verified_at IS NULL
      AND (NOT $4::boolean OR (NOT disabled AND (banned_until IS NULL OR banned_until <= $3)))
), gone AS (
    DELETE FROM auth.identities i USING u
    WHERE i.user_id = u.id AND NOT (i.email_verified AND i.email IS NOT DISTINCT FROM u.email)
    RETURNING i.provider
), keys AS (
    DELETE FROM auth.passkeys k USING u WHERE $4::boolean AND k.user_id = u.id
    RETURNING k.id
), verified AS (
    UPDATE auth.users x SET email_verified_at = $3, updated_at = $3,
           password_hash = CASE WHEN u.clears THEN NULL ELSE x.password_hash END
    FROM u WHERE x.id = u.id
    RETURNING x.id
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $3, '` + string(auth.EventEmailVerified) + `', u.id, $6, $7,
           jsonb_build_object('method', $5::text, 'email', u.email)
           || CASE WHEN u.clears THEN '{"password_cleared": true}'::jsonb ELSE '{}'::jsonb END
           || CASE WHEN EXISTS (SELECT 1 FROM keys) THEN jsonb_build_object('passkeys_removed', (SELECT count(*) FROM keys)) ELSE '{}'::jsonb END
           || CASE WHEN EXISTS (SELECT 1 FROM gone)
                   THEN jsonb_build_object('identities_removed', (SELECT jsonb_agg(provider ORDER BY provider) FROM gone))
                   ELSE '{}'::jsonb END
    FROM u
    UNION ALL
    SELECT $3, '` + string(auth.EventIdentityUnlinked) + `', $1, $6, $7,
           jsonb_build_object('provider', provider, 'by', 'email_proof') FROM gone
)
SELECT EXISTS (SELECT 1 FROM verified), COALESCE((SELECT array_agg(provider ORDER BY provider) FROM gone), '{}'),
       COALESCE((SELECT clears FROM u), false), (SELECT count(*) FROM keys)`

// lockUserEmail takes the user row's lock (as lockUser) and reads its address.
const lockUserEmail = `SELECT email FROM auth.users WHERE id = $1 FOR NO KEY UPDATE`

// proveInTx runs proveAddress for user, after the caller took the user's
// row lock in tx, and, when the proof removed a way in (an identity, a
// password, a passkey) and cutsOff (false: the caller cuts the user off
// itself), cuts the user off (every session opened before the proof ends,
// and links and codes made before die with them).
func proveInTx(ctx context.Context, tx *sqlx.Tx, userID, email string, now time.Time, signIn, cutsOff bool, method string, ip, ua any) (auth.AddressProof, error) {
	var (
		p       auth.AddressProof
		removed pq.StringArray
	)
	if err := tx.QueryRowxContext(ctx, proveAddress, userID, email, now, signIn, method, ip, ua).
		Scan(&p.Verified, &removed, &p.PasswordCleared, &p.PasskeysRemoved); err != nil {
		return auth.AddressProof{}, mapError(err)
	}
	p.UserID, p.IdentitiesRemoved = userID, []string(removed)
	if cutsOff && (len(p.IdentitiesRemoved) > 0 || p.PasswordCleared || p.PasskeysRemoved > 0) {
		ended, err := cutOff(ctx, tx, userID, auth.CutOff{Now: now, Reason: "address proven"}, auth.EventSessionsRevoked,
			map[string]any{"reason": "address proven"}, ip, ua)
		if err != nil {
			return auth.AddressProof{}, err
		}
		p.CutOff, p.SessionsEnded = true, ended
	}
	return p, nil
}

// ProveEmail implements auth.Store.
func (s *Store) ProveEmail(ctx context.Context, userID, email string, now time.Time, method string) (auth.AddressProof, error) {
	ip, ua := requestClient(ctx)
	var p auth.AddressProof
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		p = auth.AddressProof{UserID: userID}
		// proveAddress checks the address itself: only the lock is needed.
		var one int
		if err := tx.QueryRowxContext(ctx, lockUser, userID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		var err error
		p, err = proveInTx(ctx, tx, userID, email, now, true, true, method, ip, ua)
		return err
	})
	if err != nil {
		return auth.AddressProof{}, mapError(err)
	}
	return p, nil
}

// useVerifyToken uses a verify token ($1 its hashes, $2 now) and audits
// the use ($3 ip, $4 user agent); it returns the token's user and address.
// A racing second use waits for the first's row lock and finds it used.
const useVerifyToken = `
WITH used AS (
    UPDATE auth.one_time_tokens SET used_at = $2
    WHERE token_hash = ANY ($1::bytea[]) AND purpose = 'verify' AND used_at IS NULL AND expires_at > $2
    RETURNING user_id, email
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $2, '` + string(auth.EventOneTimeTokenUsed) + `', used.user_id, $3, $4,
           jsonb_build_object('purpose', 'verify', 'email', used.email) FROM used
)
SELECT user_id::text, email FROM used`

// VerifyEmailByToken implements auth.Store: the token's use, then, under
// the user's row lock, the proof of its address (proveInTx).
func (s *Store) VerifyEmailByToken(ctx context.Context, hashes [][]byte, now time.Time, e auth.AuditEvent) (auth.AddressProof, error) {
	ip, ua := nullIfEmpty(e.IP), nullIfEmpty(e.UserAgent)
	var p auth.AddressProof
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		p = auth.AddressProof{}
		var userID, email sql.NullString
		if err := tx.QueryRowxContext(ctx, useVerifyToken, pq.ByteaArray(hashes), now, ip, ua).Scan(&userID, &email); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		var current string
		if err := tx.QueryRowxContext(ctx, lockUserEmail, userID.String).Scan(&current); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil // the user is gone: the token is used up all the same
			}
			return err
		}
		if current != email.String {
			return nil // the address changed since the mail
		}
		var err error
		if p, err = proveInTx(ctx, tx, userID.String, email.String, now, false, true, "link", ip, ua); err != nil {
			return err
		}
		p.Verified = true // an address verified already is no failure
		return nil
	})
	if err != nil {
		return auth.AddressProof{}, mapError(err)
	}
	return p, nil
}
