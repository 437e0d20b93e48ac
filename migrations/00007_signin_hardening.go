package migrations

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"

	"authgate/internal/auth"
)

// Go holds the migrations written in Go, for what SQL cannot do alone.
var Go = []*goose.Migration{
	goose.NewGoMigration(7, &goose.GoFunc{RunTx: up00007}, &goose.GoFunc{RunTx: down00007}),
}

// up00007 brings every stored email address to auth.NormalizeEmail's form
// (NFC, Unicode lower case, an ASCII domain), which sign-up, login, the CLI
// and import use from this version on; before, addresses were only trimmed
// and lower-cased, so an NFD or Unicode-domain address would no longer be
// found. Accounts are never merged: an address whose normal form another
// account has (or several do), or that the normal form refuses (a local
// part mixing scripts), stays as it is and is reported in the audit trail
// as email_not_normalized, for an administrator to settle. Every change is
// reported as email_normalized.
func up00007(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, loginThrottleUp); err != nil {
		return err
	}
	return normalizeStoredEmails(ctx, tx)
}

func down00007(ctx context.Context, tx *sql.Tx) error {
	// Normalised addresses stay normalised: the earlier form is gone, and
	// the earlier code finds them as they are.
	_, err := tx.ExecContext(ctx, loginThrottleDown)
	return err
}

// loginThrottleUp lets the login throttle reserve an attempt before its
// password is hashed: the statement that checks the hold-back counts the
// attempt as a failure, and the outcome settles it (a correct password
// removes the account's count and gives one back to the address). A count
// given back may reach 0: such a row holds nobody back, like no row.
// prev_failure_at is the last failure before the latest reservation, so
// that giving that reservation back restores when the back-off started.
// Scope 'signup': subject is a client address, failures counts its
// sign-ups in the window that began at window_start.
const loginThrottleUp = `
ALTER TABLE auth.login_throttle
    DROP CONSTRAINT login_throttle_scope_check,
    ADD CONSTRAINT login_throttle_scope_check CHECK (scope IN ('account', 'address', 'signup')),
    DROP CONSTRAINT login_throttle_failures_check,
    ADD CONSTRAINT login_throttle_failures_check CHECK (failures >= 0),
    ADD COLUMN prev_failure_at timestamptz`

const loginThrottleDown = `
DELETE FROM auth.login_throttle WHERE scope = 'signup' OR failures = 0;
ALTER TABLE auth.login_throttle
    DROP COLUMN prev_failure_at,
    DROP CONSTRAINT login_throttle_failures_check,
    ADD CONSTRAINT login_throttle_failures_check CHECK (failures > 0),
    DROP CONSTRAINT login_throttle_scope_check,
    ADD CONSTRAINT login_throttle_scope_check CHECK (scope IN ('account', 'address'))`

// storedEmail is one user's address as stored, and its normal form (or
// why there is none).
type storedEmail struct {
	id, email, normal string
	refused           error
}

func normalizeStoredEmails(ctx context.Context, tx *sql.Tx) error {
	found, err := emailsToNormalize(ctx, tx)
	if err != nil {
		return err
	}
	targets := map[string]int{}
	for _, u := range found {
		if u.refused == nil {
			targets[u.normal]++
		}
	}
	for _, u := range found {
		switch {
		case u.refused != nil:
			err = reportEmail(ctx, tx, u.id, auth.EventEmailNotNormalized, map[string]any{"email": u.email, "reason": errorMessage(u.refused)})
		case targets[u.normal] > 1:
			err = reportCollision(ctx, tx, u, "other addresses have the same normal form")
		default:
			var changed bool
			if changed, err = renameEmail(ctx, tx, u); err != nil {
				return err
			}
			if changed {
				err = reportEmail(ctx, tx, u.id, auth.EventEmailNormalized, map[string]any{"from": u.email, "to": u.normal})
			} else {
				err = reportCollision(ctx, tx, u, "another account has this address's normal form")
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// emailsToNormalize reads every stored address and returns those that are
// not in their normal form. They are read in full before anything is
// written: the connection cannot run a statement while rows stream.
func emailsToNormalize(ctx context.Context, tx *sql.Tx) ([]storedEmail, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id::text, email FROM auth.users ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []storedEmail
	for rows.Next() {
		var u storedEmail
		if err := rows.Scan(&u.id, &u.email); err != nil {
			return nil, err
		}
		u.normal, u.refused = auth.NormalizeEmail(u.email)
		if u.refused != nil || u.normal != u.email {
			found = append(found, u)
		}
	}
	return found, rows.Err()
}

// renameEmail gives u its normal address unless another account has it,
// or the database refuses it (its own check of the lower case can differ
// from Go's for rare letters): then nothing changes and it reports false.
func renameEmail(ctx context.Context, tx *sql.Tx, u storedEmail) (bool, error) {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT rename_email`); err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, `
UPDATE auth.users SET email = $2, updated_at = now()
WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM auth.users WHERE email = $2)`, u.id, u.normal)
	if err != nil {
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT rename_email`); rerr != nil {
			return false, rerr
		}
		return false, nil
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func reportCollision(ctx context.Context, tx *sql.Tx, u storedEmail, reason string) error {
	return reportEmail(ctx, tx, u.id, auth.EventEmailNotNormalized, map[string]any{
		"email": u.email, "normalized": u.normal, "reason": reason,
	})
}

func reportEmail(ctx context.Context, tx *sql.Tx, userID string, event auth.AuditEventKind, detail map[string]any) error {
	d, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO auth.audit_events (at, event, user_id, detail) VALUES (now(), $1, $2, $3)`,
		string(event), userID, string(d))
	if err != nil {
		return fmt.Errorf("recording %s: %w", event, err)
	}
	return nil
}

// errorMessage is the message of a domain error, without its code.
func errorMessage(err error) string {
	var e *auth.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
