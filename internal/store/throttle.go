package store

import (
	"context"
	"time"

	"authgate/internal/auth"
)

// The throttle statements share their first ten parameters (throttleArgs):
// $1 account subject (the normalised email, or null), $2 address subject (or
// null), $3 now, $4 and $5 the account's free and maximum failures, $6 and
// $7 the address's, $8 back-off base, $9 back-off maximum and $10 window,
// those three in microseconds.
const throttleSubjects = `
subjects (scope, subject, free, max_failures) AS (
    VALUES ('account', $1::text, $4::int, $5::int), ('address', $2::text, $6::int, $7::int)
)`

// blockedUntil is when throttle row t, of subjects row s, lets the next
// attempt through: back-off from the last failure once the free failures
// are spent, and the end of the window once the maximum is reached. Null
// when neither applies.
const blockedUntil = `GREATEST(
    CASE WHEN t.failures > s.free THEN t.last_failure_at
        + LEAST($9::float8, $8::float8 * power(2::float8, LEAST(t.failures - s.free - 1, 60))) * interval '1 microsecond'
    END,
    CASE WHEN t.failures >= s.max_failures THEN t.window_start + $10::float8 * interval '1 microsecond' END)`

// throttleArgs are the shared parameters of the throttle statements.
func throttleArgs(a auth.LoginAttempt, more ...any) []any {
	p := a.Policy
	return append([]any{
		nullIfEmpty(a.Account), nullIfEmpty(a.Address), a.Now,
		p.FreeFailures, p.MaxFailures, p.IPFreeFailures, p.IPMaxFailures,
		microseconds(p.BackoffBase), microseconds(p.BackoffMax), microseconds(p.Window),
	}, more...)
}

// loginCheck is the login's one read: the user (columns zero when there is
// none) and the latest instant any of the attempt's subjects is held back
// until, if it is after now.
const loginCheck = `
WITH ` + throttleSubjects + `
SELECT COALESCE(u.id::text, '') AS id, COALESCE(u.email, '') AS email,
       COALESCE(u.password_hash, '') AS password_hash, COALESCE(u.default_role, '') AS default_role,
       u.allowed_roles, COALESCE(u.disabled, false) AS disabled,
       COALESCE(u.created_at, 'epoch') AS created_at, u.custom_claims, u.banned_until,
       (SELECT max(b.until) FROM (
            SELECT ` + blockedUntil + ` AS until
            FROM subjects s JOIN auth.login_throttle t USING (scope, subject)) b
        WHERE b.until > $3) AS blocked_until
FROM (SELECT 1) one LEFT JOIN auth.users u ON u.email = $1`

// LoginCheck implements auth.ThrottleStore.
func (s *Store) LoginCheck(ctx context.Context, a auth.LoginAttempt) (auth.LoginCandidate, error) {
	var row struct {
		userRow
		BlockedUntil *time.Time `db:"blocked_until"`
	}
	if err := (stmts{s}).QueryRowxContext(ctx, loginCheck, throttleArgs(a)...).StructScan(&row); err != nil {
		return auth.LoginCandidate{}, mapError(err)
	}
	c := auth.LoginCandidate{Found: row.ID != ""}
	if c.Found {
		c.User = row.record()
	}
	if row.BlockedUntil != nil {
		c.BlockedUntil = row.BlockedUntil.UTC()
	}
	return c, nil
}

const throttledUntil = `
WITH ` + throttleSubjects + `
SELECT max(b.until) FROM (
    SELECT ` + blockedUntil + ` AS until
    FROM subjects s JOIN auth.login_throttle t USING (scope, subject)) b
WHERE b.until > $3`

// ThrottledUntil implements auth.ThrottleStore.
func (s *Store) ThrottledUntil(ctx context.Context, a auth.LoginAttempt) (time.Time, error) {
	var until *time.Time
	if err := s.db.QueryRowContext(ctx, throttledUntil, throttleArgs(a)...).Scan(&until); err != nil {
		return time.Time{}, mapError(err)
	}
	if until == nil {
		return time.Time{}, nil
	}
	return until.UTC(), nil
}

// recordLoginFailure counts the failure against each subject and writes the
// audit trail, in one statement. The UPSERT increments under the row lock,
// so concurrent failures all count; it takes the rows in key order, so two
// of them never deadlock. A failure after the window has passed starts a
// new window. A lockout event marks a subject the throttle starts holding
// back: its back-off begins, or it reaches the maximum.
// $11 event, $12 user id, $13 session id, $14 ip, $15 user agent, $16 detail.
const recordLoginFailure = `
WITH ` + throttleSubjects + `,
counted AS (
    INSERT INTO auth.login_throttle AS t (scope, subject, failures, window_start, last_failure_at)
    SELECT scope, subject, 1, $3, $3 FROM subjects WHERE subject IS NOT NULL
    ORDER BY scope
    ON CONFLICT (scope, subject) DO UPDATE SET
        failures        = CASE WHEN t.window_start <= $3::timestamptz - $10::float8 * interval '1 microsecond'
                               THEN 1 ELSE t.failures + 1 END,
        window_start    = CASE WHEN t.window_start <= $3::timestamptz - $10::float8 * interval '1 microsecond'
                               THEN $3 ELSE t.window_start END,
        last_failure_at = GREATEST(t.last_failure_at, $3)
    RETURNING t.scope, t.subject, t.failures, t.window_start, t.last_failure_at
), held AS (
    SELECT t.scope, t.failures, s.free, s.max_failures, ` + blockedUntil + ` AS until
    FROM counted t JOIN subjects s USING (scope, subject)
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent, detail)
    SELECT $3, $11, $12::uuid, $13::uuid, $14, $15, $16::jsonb
    UNION ALL
    SELECT $3, 'lockout', CASE WHEN scope = 'account' THEN $12::uuid END, NULL, $14, $15,
           jsonb_strip_nulls(jsonb_build_object('scope', scope, 'email', $1::text, 'failures', failures, 'until', until))
    FROM held WHERE failures = free + 1 OR failures = max_failures
)
SELECT count(*) FROM held`

// RecordLoginFailure implements auth.ThrottleStore.
func (s *Store) RecordLoginFailure(ctx context.Context, a auth.LoginAttempt, e auth.AuditEvent) error {
	detail, err := jsonObject(e.Detail)
	if err != nil {
		return err
	}
	var n int
	err = s.db.QueryRowContext(ctx, recordLoginFailure, throttleArgs(a, string(e.Event), nullIfEmpty(e.UserID),
		nullIfEmpty(e.SessionID), nullIfEmpty(e.IP), nullIfEmpty(e.UserAgent), detail)...).Scan(&n)
	return mapError(err)
}

// purgeLoginThrottles deletes a batch of rows whose last failure is so old
// that neither their window nor their back-off can hold anyone back:
// $1 the cut-off, $2 the batch size.
const purgeLoginThrottles = `
DELETE FROM auth.login_throttle WHERE (scope, subject) IN (
    SELECT scope, subject FROM auth.login_throttle WHERE last_failure_at <= $1 LIMIT $2)`

// throttlePurgeCutoff is the purge's cut-off for throttle rows; the zero
// time (nothing) when the policy names no retention.
func throttlePurgeCutoff(p auth.PurgePolicy) time.Time {
	if p.ThrottleRetention <= 0 {
		return time.Time{}
	}
	return p.Now.Add(-p.ThrottleRetention)
}

func microseconds(d time.Duration) float64 { return float64(d.Microseconds()) }

// nullIfEmpty is nil (SQL null) for "", else s.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
