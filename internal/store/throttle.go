package store

import (
	"context"
	"time"

	"authgate/internal/auth"
)

// The throttle's checks share their first ten parameters (throttleArgs):
// $1 account subject (the normalised email, or null), $2 address subject (or
// null), $3 now, $4 and $5 the account's free and maximum failures, $6 and
// $7 the address's, $8 back-off base, $9 back-off maximum and $10 window,
// those three in microseconds.
const throttleSubjects = `
subjects (scope, subject, free, max_failures) AS (
    VALUES ('account', $1::text, $4::int, $5::int), ('address', $2::text, $6::int, $7::int)
)`

// blockedUntil is when throttle row t (free and max its subject's
// thresholds) lets the next attempt through: back-off from the last failure
// once the free failures are spent, and the end of the window once the
// maximum is reached. Null when neither applies.
func blockedUntil(t, free, max string) string {
	return `GREATEST(
    CASE WHEN ` + t + `.failures > ` + free + ` THEN ` + t + `.last_failure_at
        + LEAST($9::float8, $8::float8 * power(2::float8, LEAST(` + t + `.failures - ` + free + ` - 1, 60))) * interval '1 microsecond'
    END,
    CASE WHEN ` + t + `.failures >= ` + max + ` THEN ` + t + `.window_start + $10::float8 * interval '1 microsecond' END)`
}

// The thresholds of throttle row t by its scope, where no subjects row is
// at hand (ON CONFLICT sees only the table's row).
const (
	scopeFree = `CASE t.scope WHEN 'account' THEN $4::int ELSE $6::int END`
	scopeMax  = `CASE t.scope WHEN 'account' THEN $5::int ELSE $7::int END`
)

// newWindow is true when an attempt at $3 starts row t's count again: its
// window has passed, or every failure in it was given back.
const newWindow = `(t.failures = 0 OR t.window_start <= $3::timestamptz - $10::float8 * interval '1 microsecond')`

// throttleArgs are the shared parameters of the throttle statements.
func throttleArgs(a auth.LoginAttempt, more ...any) []any {
	p := a.Policy
	return append([]any{
		nullIfEmpty(a.Account), nullIfEmpty(a.Address), a.Now,
		p.FreeFailures, p.MaxFailures, p.IPFreeFailures, p.IPMaxFailures,
		microseconds(p.BackoffBase), microseconds(p.BackoffMax), microseconds(p.Window),
	}, more...)
}

// heldUntil is the latest instant any of the attempt's subjects is held
// back until, if it is after $3, as the statement's snapshot sees them.
var heldUntil = `
SELECT max(b.until) AS until FROM (
    SELECT ` + blockedUntil("t", "s.free", "s.max_failures") + ` AS until
    FROM subjects s JOIN auth.login_throttle t USING (scope, subject)) b
WHERE b.until > $3`

// reserveLoginAttempt is the login's one read and its reservation: the user
// (columns zero when there is none), whether the throttle holds a subject
// back, and, when it does not, the attempt counted as a failure against
// each subject.
//
// held is the snapshot's view, which spares a held-back attempt any write.
// counted is the check that holds under concurrency: ON CONFLICT takes each
// subject's row lock and sees its latest version, even one committed after
// the snapshot, and its WHERE refuses to count against a subject that a
// concurrent attempt has started holding back meanwhile, so a burst of N
// attempts against a limit of K counts (and hashes) at most K. It takes
// the rows in key order, so two reservations never deadlock; a failure
// after the window has passed starts a new one. prev_failure_at keeps the
// last failure before this reservation, to restore if it is given back.
var reserveLoginAttempt = `
WITH ` + throttleSubjects + `,
held AS (` + heldUntil + `),
counted AS (
    INSERT INTO auth.login_throttle AS t (scope, subject, failures, window_start, last_failure_at)
    SELECT scope, subject, 1, $3, $3 FROM subjects
    WHERE subject IS NOT NULL AND (SELECT until FROM held) IS NULL
    ORDER BY scope
    ON CONFLICT (scope, subject) DO UPDATE SET
        failures        = CASE WHEN ` + newWindow + ` THEN 1 ELSE t.failures + 1 END,
        window_start    = CASE WHEN ` + newWindow + ` THEN $3 ELSE t.window_start END,
        prev_failure_at = t.last_failure_at,
        last_failure_at = GREATEST(t.last_failure_at, $3)
    WHERE COALESCE(` + blockedUntil("t", scopeFree, scopeMax) + ` <= $3, true)
    RETURNING t.scope, t.failures, ` + blockedUntil("t", scopeFree, scopeMax) + ` AS until
)
SELECT ` + candidateColumns + `,
       (SELECT until FROM held) AS blocked_until,
       (SELECT failures FROM counted WHERE scope = 'account') AS account_failures,
       (SELECT until FROM counted WHERE scope = 'account') AS account_until,
       (SELECT failures FROM counted WHERE scope = 'address') AS address_failures,
       (SELECT until FROM counted WHERE scope = 'address') AS address_until
FROM (SELECT 1) one LEFT JOIN auth.users u ON u.email = $1`

// candidateColumns are the user's columns, zero when there is none.
const candidateColumns = `COALESCE(u.id::text, '') AS id, COALESCE(u.email, '') AS email,
       COALESCE(u.password_hash, '') AS password_hash, COALESCE(u.default_role, '') AS default_role,
       u.allowed_roles, COALESCE(u.disabled, false) AS disabled,
       COALESCE(u.created_at, 'epoch') AS created_at, u.custom_claims, u.banned_until, u.valid_after,
       u.email_verified_at, u.locale, ` + totpEnabledColumn

// ReserveLoginAttempt implements auth.ThrottleStore.
func (s *Store) ReserveLoginAttempt(ctx context.Context, a auth.LoginAttempt) (auth.LoginCandidate, error) {
	var row struct {
		userRow
		BlockedUntil    *time.Time `db:"blocked_until"`
		AccountFailures *int       `db:"account_failures"`
		AccountUntil    *time.Time `db:"account_until"`
		AddressFailures *int       `db:"address_failures"`
		AddressUntil    *time.Time `db:"address_until"`
	}
	if err := (stmts{s}).QueryRowxContext(ctx, reserveLoginAttempt, throttleArgs(a)...).StructScan(&row); err != nil {
		return auth.LoginCandidate{}, mapError(err)
	}
	c := auth.LoginCandidate{Found: row.ID != ""}
	if c.Found {
		c.User = row.record()
	}
	c.BlockedUntil = utcOrZero(row.BlockedUntil)
	c.Reserved = auth.Reservation{
		AccountFailures: intOrZero(row.AccountFailures), AccountUntil: utcOrZero(row.AccountUntil),
		AddressFailures: intOrZero(row.AddressFailures), AddressUntil: utcOrZero(row.AddressUntil),
	}
	return c, nil
}

var throttledUntil = `WITH ` + throttleSubjects + heldUntil

// ThrottledUntil implements auth.ThrottleStore.
func (s *Store) ThrottledUntil(ctx context.Context, a auth.LoginAttempt) (time.Time, error) {
	var until *time.Time
	if err := s.db.QueryRowContext(ctx, throttledUntil, throttleArgs(a)...).Scan(&until); err != nil {
		return time.Time{}, mapError(err)
	}
	return utcOrZero(until), nil
}

// recordLoginFailure settles a reservation as a failure: the count was made
// by the reservation, so what is left is the audit trail, with a lockout
// event for each subject whose count the failure brought to the start of
// its back-off or to its maximum (decided by the caller). $1 account
// subject, $2 now, $3 event, $4 user id, $5 session id, $6 ip, $7 user
// agent, $8 detail; for the account and the address: failures, until,
// lockout ($9-$11, $12-$14).
const recordLoginFailure = `
INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent, detail)
SELECT $2::timestamptz, $3::text, $4::uuid, $5::uuid, $6::text, $7::text, $8::jsonb
UNION ALL
SELECT $2, 'lockout', CASE WHEN scope = 'account' THEN $4::uuid END, NULL, $6, $7,
       jsonb_strip_nulls(jsonb_build_object('scope', scope, 'email', $1::text, 'failures', failures, 'until', until))
FROM (VALUES ('account', $9::int, $10::timestamptz, $11::boolean),
             ('address', $12::int, $13::timestamptz, $14::boolean)) l (scope, failures, until, lockout)
WHERE lockout`

// RecordLoginFailure implements auth.ThrottleStore.
func (s *Store) RecordLoginFailure(ctx context.Context, a auth.LoginAttempt, e auth.AuditEvent) error {
	detail, err := jsonObject(e.Detail)
	if err != nil {
		return err
	}
	r, p := a.Reserved, a.Policy
	lockout := func(failures, free, max int) bool { return failures > 0 && (failures == free+1 || failures == max) }
	_, err = s.db.ExecContext(ctx, recordLoginFailure, nullIfEmpty(a.Account), a.Now,
		string(e.Event), nullIfEmpty(e.UserID), nullIfEmpty(e.SessionID), nullIfEmpty(e.IP), nullIfEmpty(e.UserAgent), detail,
		r.AccountFailures, nullIfZero(r.AccountUntil), lockout(r.AccountFailures, p.FreeFailures, p.MaxFailures),
		r.AddressFailures, nullIfZero(r.AddressUntil), lockout(r.AddressFailures, p.IPFreeFailures, p.IPMaxFailures))
	return mapError(err)
}

// giveBack takes one reserved failure back from a subject's count ($1
// scope, $2 subject, $3 the reservation's now); the back-off's start goes
// back to the failure before it, unless a later one moved it since.
func giveBack(scope, subject, now string) string {
	return `
    UPDATE auth.login_throttle SET failures = failures - 1,
        last_failure_at = CASE WHEN last_failure_at = ` + now + ` THEN COALESCE(prev_failure_at, last_failure_at)
                               ELSE last_failure_at END
    WHERE scope = ` + scope + ` AND subject = ` + subject + ` AND failures > 0`
}

// releaseLoginAttempt gives back what a reservation counted and records an
// optional audit event: $1 account subject and $2 address subject (null
// where nothing was counted), $3 the reservation's now, $4 event (null:
// none), $5 user id, $6 ip, $7 user agent, $8 detail.
var releaseLoginAttempt = `
WITH account AS (` + giveBack("'account'", "$1", "$3") + `
), address AS (` + giveBack("'address'", "$2", "$3") + `
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, ip, user_agent, detail)
    SELECT $3::timestamptz, $4::text, $5::uuid, $6::text, $7::text, $8::jsonb WHERE $4::text IS NOT NULL
)
SELECT 1`

// ReleaseLoginAttempt implements auth.ThrottleStore.
func (s *Store) ReleaseLoginAttempt(ctx context.Context, a auth.LoginAttempt, e *auth.AuditEvent) error {
	var event, userID, ip, ua, detail any
	if e != nil {
		d, err := jsonObject(e.Detail)
		if err != nil {
			return err
		}
		event, userID, ip, ua, detail = string(e.Event), nullIfEmpty(e.UserID), nullIfEmpty(e.IP), nullIfEmpty(e.UserAgent), d
	}
	_, err := s.db.ExecContext(ctx, releaseLoginAttempt, reservedSubject(a.Account, a.Reserved.AccountFailures),
		reservedSubject(a.Address, a.Reserved.AddressFailures), a.Now, event, userID, ip, ua, detail)
	return mapError(err)
}

// reservedSubject is subject when the reservation counted against it, else
// null.
func reservedSubject(subject string, failures int) any {
	if failures == 0 {
		return nil
	}
	return nullIfEmpty(subject)
}

// signupWindowPassed is true when row t's sign-up window ($2 now, $4
// window in microseconds) has passed, or its count was given back to 0.
const signupWindowPassed = `(t.failures = 0 OR t.window_start <= $2::timestamptz - $4::float8 * interval '1 microsecond')`

// reserveSignup counts a sign-up of an address ($1) at $2 unless it has made
// $3 in its window ($4 microseconds), and reports when the window ends. The
// count and the check are one UPSERT under the row's lock, so concurrent
// sign-ups cannot pass the limit. Rows of scope 'signup' ($5) count
// sign-ups in the columns named for failures; rows of scope 'mail_address'
// count the emailed flows' requests the same way.
const reserveSignup = `
WITH counted AS (
    INSERT INTO auth.login_throttle AS t (scope, subject, failures, window_start, last_failure_at)
    VALUES ($5, $1, 1, $2, $2)
    ON CONFLICT (scope, subject) DO UPDATE SET
        failures        = CASE WHEN ` + signupWindowPassed + ` THEN 1 ELSE t.failures + 1 END,
        window_start    = CASE WHEN ` + signupWindowPassed + ` THEN $2 ELSE t.window_start END,
        last_failure_at = GREATEST(t.last_failure_at, $2)
    WHERE ` + signupWindowPassed + ` OR t.failures < $3
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM counted),
       (SELECT window_start + $4::float8 * interval '1 microsecond' FROM auth.login_throttle
        WHERE scope = $5 AND subject = $1)`

// ReserveSignup implements auth.SignupStore.
func (s *Store) ReserveSignup(ctx context.Context, a auth.SignupAttempt) (time.Time, error) {
	var (
		counted bool
		until   *time.Time
	)
	err := s.db.QueryRowContext(ctx, reserveSignup, a.Address, a.Now, a.Limit, microseconds(a.Window), signupScope(a)).Scan(&counted, &until)
	if err != nil {
		return time.Time{}, mapError(err)
	}
	if counted {
		return time.Time{}, nil
	}
	// Refused: the window's end as the snapshot saw it (a row made by a
	// concurrent first sign-up is not in it: then a window from now).
	if until == nil || !until.After(a.Now) {
		return a.Now.Add(time.Second), nil
	}
	return until.UTC(), nil
}

const releaseSignup = `
UPDATE auth.login_throttle SET failures = failures - 1 WHERE scope = $2 AND subject = $1 AND failures > 0`

// ReleaseSignup implements auth.SignupStore.
func (s *Store) ReleaseSignup(ctx context.Context, a auth.SignupAttempt) error {
	_, err := s.db.ExecContext(ctx, releaseSignup, a.Address, signupScope(a))
	return mapError(err)
}

// purgeLoginThrottles deletes a batch of rows whose last failure is so old
// that neither their window nor their back-off can hold anyone back:
// $1 the cut-off, $2 the batch size, $3 the cut-off of mail throttles.
const purgeLoginThrottles = `
DELETE FROM auth.login_throttle WHERE (scope, subject) IN (
    SELECT scope, subject FROM auth.login_throttle
    WHERE last_failure_at <= CASE WHEN scope IN ('mail', 'mail_address') THEN $3::timestamptz ELSE $1::timestamptz END
    LIMIT $2)`

// throttlePurgeCutoff is the purge's cut-off for throttle rows; the zero
// time (nothing) when the policy names no retention.
func throttlePurgeCutoff(p auth.PurgePolicy) time.Time {
	if p.ThrottleRetention <= 0 {
		return time.Time{}
	}
	return p.Now.Add(-p.ThrottleRetention)
}

func microseconds(d time.Duration) float64 { return float64(d.Microseconds()) }

// utcOrZero is *t in UTC, or the zero time for null.
func utcOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func intOrZero(n *int) int {
	if n == nil {
		return 0
	}
	return *n
}

// nullIfZero is nil (SQL null) for the zero time, else t.
func nullIfZero(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// nullIfEmpty is nil (SQL null) for "", else s.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// signupScope is a's throttle scope.
func signupScope(a auth.SignupAttempt) string {
	if a.Scope == "" {
		return "signup"
	}
	return a.Scope
}
