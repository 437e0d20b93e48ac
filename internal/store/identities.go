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

// var _ auth.IdentityStore asserts the store has the identity methods.
var _ auth.IdentityStore = (*Store)(nil)

// identityRaceAttempts bounds how often a statement that lost a race to a
// unique index (another statement made the same identity, user or link
// meanwhile) looks again. Each new attempt sees what the winner committed,
// so a second attempt settles it; the bound only stops a pathological loop.
const identityRaceAttempts = 5

// resolveIdentity finds, links or makes the user of an identity in one
// statement: $1 provider, $2 subject, $3 the provider's address (” none),
// $4 the provider asserts it verified, $5 now, $6 sign-up allowed, $7 the
// default role, $8 the allowed roles, $9 ip, $10 user agent, $11 the
// sign-up audit detail.
//
// Every branch is decided on the statement's snapshot; what another
// statement commits meanwhile is caught by the unique indexes, not by the
// snapshot: two first sign-ins of one identity both try to insert the
// identity (and the user, whose address is unique), the second waits for
// the first and then fails with 23505, and the caller runs the statement
// again, which now finds the identity. Nothing of a failed statement stays.
//
// candidate is the account with the address. It may be linked only when
// the provider asserts the address verified, the account's address is
// verified too, and it has no identity of this provider yet (linking by an
// unverified address on either side is how accounts are pre-hijacked).
const resolveIdentity = `
WITH existing AS (
    SELECT user_id FROM auth.identities WHERE provider = $1 AND subject = $2
), candidate AS (
    SELECT u.id,
           $4::boolean AND u.email_verified_at IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM auth.identities o WHERE o.user_id = u.id AND o.provider = $1) AS may_link
    FROM auth.users u
    WHERE $3 <> '' AND u.email = $3 AND NOT EXISTS (SELECT 1 FROM existing)
), linked AS (
    INSERT INTO auth.identities (user_id, provider, subject, email, created_at, email_verified)
    SELECT id, $1, $2, $3, $5, true FROM candidate WHERE may_link
    RETURNING user_id
), created AS (
    INSERT INTO auth.users (email, password_hash, default_role, allowed_roles, created_at, updated_at, email_verified_at)
    SELECT $3, NULL, $7, $8, $5, $5, CASE WHEN $4::boolean THEN $5::timestamptz END
    WHERE $6::boolean AND $3 <> '' AND NOT EXISTS (SELECT 1 FROM existing) AND NOT EXISTS (SELECT 1 FROM candidate)
    RETURNING id
), created_identity AS (
    INSERT INTO auth.identities (user_id, provider, subject, email, created_at, email_verified)
    SELECT id, $1, $2, $3, $5, $4::boolean FROM created
    RETURNING user_id
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $5, 'signup', user_id, $9, $10, $11::jsonb FROM created_identity
    UNION ALL
    SELECT $5, '` + string(auth.EventIdentityLinked) + `', user_id, $9, $10, jsonb_build_object('provider', $1::text, 'by', 'email') FROM linked
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM existing) THEN 'existing'
            WHEN EXISTS (SELECT 1 FROM linked) THEN 'linked'
            WHEN EXISTS (SELECT 1 FROM created_identity) THEN 'created'
            WHEN EXISTS (SELECT 1 FROM candidate) THEN 'account_exists'
            WHEN NOT $6::boolean THEN 'signup_off'
            ELSE 'no_email' END,
       COALESCE((SELECT user_id FROM existing), (SELECT user_id FROM linked), (SELECT user_id FROM created_identity))::text`

// ResolveIdentity implements auth.IdentityStore.
func (s *Store) ResolveIdentity(ctx context.Context, r auth.IdentityResolution) (auth.IdentityOutcome, string, error) {
	detail, err := jsonObject(r.Detail)
	if err != nil {
		return "", "", err
	}
	ip, ua := requestClient(ctx)
	var (
		outcome auth.IdentityOutcome
		userID  sql.NullString
	)
	err = raceAgain(func() error {
		return s.db.QueryRowxContext(ctx, resolveIdentity, r.Provider, r.Subject, r.Email, r.EmailVerified, r.Now,
			r.MayCreate, r.DefaultRole, pq.StringArray(r.AllowedRoles), ip, ua, detail).Scan(&outcome, &userID)
	})
	if err != nil {
		return "", "", mapError(err)
	}
	return outcome, userID.String, nil
}

// linkIdentity links an identity to user $1 in one statement: $2 provider,
// $3 subject, $4 the provider's address (” none), $5 now, $6 ip, $7 user
// agent, $8 the audit detail, $9 the provider asserted the address
// verified, $10 when the link was asked for. As in resolveIdentity, a
// racing link of the same identity (or of another identity of the provider
// to the same user) is caught by the unique indexes: the loser fails with
// 23505 and looks again, finding the winner's row.
//
// owner takes the user's row lock, as the proof of an address does
// (proveAddress): a link waits for a proof in progress and then sees its
// cut-off, which kills a link asked for before it (by a squatter's
// session the proof ended); a link that commits first is seen by the
// proof, which removes it unless it proved the address.
const linkIdentity = `
WITH owner AS (
    SELECT id FROM auth.users WHERE id = $1 AND (valid_after IS NULL OR valid_after <= $10)
    FOR NO KEY UPDATE
), current AS (
    SELECT user_id FROM auth.identities WHERE provider = $2 AND subject = $3
), other AS (
    SELECT 1 FROM auth.identities WHERE user_id = $1 AND provider = $2 AND subject <> $3
), linked AS (
    INSERT INTO auth.identities (user_id, provider, subject, email, created_at, email_verified)
    SELECT id, $2, $3, NULLIF($4, ''), $5, $9 FROM owner
    WHERE NOT EXISTS (SELECT 1 FROM current) AND NOT EXISTS (SELECT 1 FROM other)
    RETURNING user_id
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $5, '` + string(auth.EventIdentityLinked) + `', user_id, $6, $7, $8::jsonb FROM linked
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM linked) THEN 'linked'
            WHEN (SELECT user_id FROM current) = $1 THEN 'already'
            WHEN EXISTS (SELECT 1 FROM current) THEN 'taken'
            WHEN EXISTS (SELECT 1 FROM other) THEN 'provider'
            ELSE 'user_gone' END`

// LinkIdentity implements auth.IdentityStore.
func (s *Store) LinkIdentity(ctx context.Context, userID string, id auth.ExternalIdentity, askedAt time.Time, e auth.AuditEvent) (auth.LinkOutcome, error) {
	detail, err := jsonObject(e.Detail)
	if err != nil {
		return "", err
	}
	var outcome auth.LinkOutcome
	err = raceAgain(func() error {
		return s.db.QueryRowxContext(ctx, linkIdentity, userID, id.Provider, id.Subject, id.Email, e.At,
			nullIfEmpty(e.IP), nullIfEmpty(e.UserAgent), detail, id.EmailVerified && id.Email != "", askedAt).Scan(&outcome)
	})
	if err != nil {
		return "", mapError(err)
	}
	return outcome, nil
}

// keepsAWayIn is the one rule of the last way to sign in, shared by
// unlinkIdentity and removePasskey: an SQL condition, true when user (an
// SQL expression) can still sign in once its identity of provider (a text
// expression; NULL: none) and its passkey (a uuid expression; NULL: none)
// are gone, by a password, another identity, or, while passkeys count
// (passkeysCount, a boolean expression: they are configured), another
// passkey. An emailed sign-in is not counted (docs/providers.md says why).
// The statement that uses it runs after lockUser in its transaction, so
// that two removals of a user's last two ways in run one after the other
// and the second sees the first's.
func keepsAWayIn(user, provider, passkey, passkeysCount string) string {
	return `(EXISTS (SELECT 1 FROM auth.users WHERE id = ` + user + ` AND password_hash IS NOT NULL)
        OR EXISTS (SELECT 1 FROM auth.identities o WHERE o.user_id = ` + user + ` AND o.provider IS DISTINCT FROM ` + provider + `)
        OR (` + passkeysCount + ` AND EXISTS (SELECT 1 FROM auth.passkeys k WHERE k.user_id = ` + user + ` AND k.id IS DISTINCT FROM ` + passkey + `)))`
}

// unlinkIdentity deletes user $1's identity of provider $2 unless it is
// the user's last way to sign in (keepsAWayIn; $3: passkeys count). It runs after lockUser (the user's row lock) in the same
// transaction, so under READ COMMITTED its snapshot sees what an unlink
// that held the lock before committed. $4 now, $5 ip, $6 user agent, $7
// the audit detail. It returns whether it deleted and whether there was
// an identity to delete.
var unlinkIdentity = `
WITH gone AS (
    DELETE FROM auth.identities
    WHERE user_id = $1 AND provider = $2 AND ` + keepsAWayIn("$1", "$2", "NULL::uuid", "$3::boolean") + `
    RETURNING user_id
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $4, '` + string(auth.EventIdentityUnlinked) + `', user_id, $5, $6, $7::jsonb FROM gone
)
SELECT EXISTS (SELECT 1 FROM gone),
       EXISTS (SELECT 1 FROM auth.identities WHERE user_id = $1 AND provider = $2)`

// UnlinkIdentity implements auth.IdentityStore.
func (s *Store) UnlinkIdentity(ctx context.Context, userID, provider string, passkeysCount bool, e auth.AuditEvent) (auth.UnlinkOutcome, error) {
	detail, err := jsonObject(e.Detail)
	if err != nil {
		return "", err
	}
	outcome := auth.UnlinkNone
	err = s.withTx(ctx, func(tx *sqlx.Tx) error {
		outcome = auth.UnlinkNone
		// The user's row lock (lockUser) makes two unlinks of one user's
		// identities run one after the other.
		var one int
		if err := tx.QueryRowxContext(ctx, lockUser, userID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		var deleted, exists bool
		if err := tx.QueryRowxContext(ctx, unlinkIdentity, userID, provider, passkeysCount, e.At,
			nullIfEmpty(e.IP), nullIfEmpty(e.UserAgent), detail).Scan(&deleted, &exists); err != nil {
			return err
		}
		switch {
		case deleted:
			outcome = auth.Unlinked
		case exists:
			outcome = auth.UnlinkLastWayIn
		}
		return nil
	})
	if err != nil {
		return "", mapError(err)
	}
	return outcome, nil
}

const identitiesOfUser = `
SELECT provider, subject, email, created_at FROM auth.identities WHERE user_id = $1 ORDER BY created_at, provider`

// Identities implements auth.IdentityStore.
func (s *Store) Identities(ctx context.Context, userID string) ([]*auth.Identity, error) {
	rows, err := s.db.QueryContext(ctx, identitiesOfUser, userID)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	ids := []*auth.Identity{}
	for rows.Next() {
		var (
			id    auth.Identity
			email sql.NullString
		)
		if err := rows.Scan(&id.Provider, &id.Subject, &email, &id.CreatedAt); err != nil {
			return nil, mapError(err)
		}
		id.CreatedAt = id.CreatedAt.UTC()
		if email.Valid {
			id.Email = &email.String
		}
		ids = append(ids, &id)
	}
	return ids, mapError(rows.Err())
}

// raceAgain runs a check-and-insert statement again when it lost a race:
// to a unique index (23505: another statement made the row), or to a
// foreign key (23503: the user it links to was deleted meanwhile). The
// next run sees what the other statement committed.
func raceAgain(run func() error) error {
	var err error
	for range identityRaceAttempts {
		var pqErr *pq.Error
		if err = run(); !errors.As(err, &pqErr) || (pqErr.Code != "23505" && pqErr.Code != "23503") {
			return err
		}
	}
	return err
}
