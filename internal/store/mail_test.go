package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/mail"
	"authgate/internal/pgtest"
	"authgate/internal/store"
)

var mailT0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// outboxStore is a store on a fresh database and a direct connection to it.
func outboxStore(t *testing.T) (*store.Store, *sql.DB) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	st, err := store.Open(context.Background(), url, store.PoolConfig{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, superuser(t, url)
}

func outboxMail(to string) auth.OutboxMail {
	return auth.OutboxMail{Template: auth.MailReset, To: to, Sealed: []byte("sealed " + to)}
}

func countRows(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMailOutboxInsertRidesInTheStatementOfItsChange checks the fragment the
// flows put into their statements: the mail is written exactly when the
// change is, and not at all when the statement fails.
func TestMailOutboxInsertRidesInTheStatementOfItsChange(t *testing.T) {
	st, db := outboxStore(t)
	ctx := context.Background()
	// A stand-in for a flow's statement: it makes a user ($6 its email) and
	// writes the mail for each user it made.
	statement := `
WITH u AS (
    INSERT INTO auth.users (email, password_hash, default_role, allowed_roles, created_at, updated_at)
    VALUES ($6, 'x', 'user', '{user}', $5, $5) ON CONFLICT (email) DO NOTHING RETURNING id
), m AS (` + store.MailOutboxInsert(1) + ` FROM u)
SELECT count(*) FROM u`
	args := func(email string) []any {
		return append(store.MailOutboxArgs(outboxMail(email), mailT0), email)
	}
	if _, err := st.DB().ExecContext(ctx, statement, args("ann@example.com")...); err != nil {
		t.Fatal(err)
	}
	// The user exists now: the statement makes nothing, so writes no mail.
	if _, err := st.DB().ExecContext(ctx, statement, args("ann@example.com")...); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, `SELECT count(*) FROM auth.mail_outbox WHERE recipient = 'ann@example.com'`); n != 1 {
		t.Fatalf("%d mails written for one change, want 1", n)
	}
	// A statement that fails writes no mail either.
	failing := `
WITH m AS (` + store.MailOutboxInsert(1) + `)
INSERT INTO auth.users (email, password_hash, default_role, allowed_roles, created_at, updated_at)
VALUES ($6, 'x', 'user', '{user}', $5, $5)`
	if _, err := st.DB().ExecContext(ctx, failing, args("ann@example.com")...); err == nil {
		t.Fatal("inserting a taken email succeeded")
	}
	if n := countRows(t, db, `SELECT count(*) FROM auth.mail_outbox`); n != 1 {
		t.Fatalf("%d mails in the outbox after a failed statement, want 1", n)
	}
	var (
		userID  sql.NullString
		payload []byte
		due     time.Time
	)
	if err := db.QueryRow(`SELECT user_id::text, payload, next_attempt_at FROM auth.mail_outbox`).Scan(&userID, &payload, &due); err != nil {
		t.Fatal(err)
	}
	if userID.Valid || string(payload) != "sealed ann@example.com" || !due.Equal(mailT0) {
		t.Fatalf("the mail row is %v, %q, due %v", userID, payload, due)
	}
}

// TestClaimMailSkipsHeldRowsAndLeasesWhatItTakes drives two claimers at the
// exact points that matter: a row another transaction holds is skipped at
// once, not waited for; a claimed row stays out of reach until its lease
// ends, then comes back as the next attempt.
func TestClaimMailSkipsHeldRowsAndLeasesWhatItTakes(t *testing.T) {
	st, db := outboxStore(t)
	ctx := context.Background()
	for i, to := range []string{"first@example.com", "second@example.com"} {
		if err := st.EnqueueMail(ctx, outboxMail(to), mailT0.Add(time.Duration(i)*time.Microsecond)); err != nil {
			t.Fatal(err)
		}
	}
	now := mailT0.Add(time.Second)

	// Another worker is in the middle of claiming the first mail.
	held, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Rollback()
	if _, err := held.Exec(`SELECT id FROM auth.mail_outbox WHERE recipient = 'first@example.com' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, ok, err := st.ClaimMail(quick, now, time.Minute)
	if err != nil || !ok || c.To != "second@example.com" || c.Attempt != 1 {
		t.Fatalf("claim beside a held row = %+v, %v, %v; want the second mail, attempt 1", c, ok, err)
	}
	if _, ok, err := st.ClaimMail(quick, now, time.Minute); ok || err != nil {
		t.Fatalf("a claim took a held or leased row: %v, %v", ok, err)
	}
	if err := held.Rollback(); err != nil {
		t.Fatal(err)
	}
	first, ok, err := st.ClaimMail(ctx, now, time.Minute)
	if err != nil || !ok || first.To != "first@example.com" || string(first.Sealed) != "sealed first@example.com" {
		t.Fatalf("claim after the other worker let go = %+v, %v, %v", first, ok, err)
	}
	// Both are leased for a minute.
	if _, ok, _ := st.ClaimMail(ctx, now.Add(time.Minute-time.Microsecond), time.Minute); ok {
		t.Fatal("a leased mail was claimed before its lease ended")
	}
	again, ok, err := st.ClaimMail(ctx, now.Add(time.Minute), time.Minute)
	if err != nil || !ok || again.ID != first.ID || again.Attempt != 2 {
		t.Fatalf("after the lease: %+v, %v, %v; want the first mail again, attempt 2", again, ok, err)
	}
}

// TestMailOutcomesAreRecordedForTheLatestClaimOnly checks the fencing that
// keeps a worker whose lease ran out from undoing a newer claim's outcome,
// and that a mail finishes (and is audited) once.
func TestMailOutcomesAreRecordedForTheLatestClaimOnly(t *testing.T) {
	st, db := outboxStore(t)
	ctx := context.Background()
	if err := st.EnqueueMail(ctx, outboxMail("ann@example.com"), mailT0); err != nil {
		t.Fatal(err)
	}
	stale, _, err := st.ClaimMail(ctx, mailT0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	latest, _, err := st.ClaimMail(ctx, mailT0.Add(time.Minute), time.Minute)
	if err != nil || latest.Attempt != 2 {
		t.Fatalf("second claim: %+v, %v", latest, err)
	}
	later := mailT0.Add(time.Hour)
	if err := st.RecordMailRetry(ctx, stale, later, "421 stale"); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordMailFailed(ctx, stale, mailT0.Add(2*time.Minute), mail.FailurePermanent, "550 stale"); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, `SELECT count(*) FROM auth.mail_outbox WHERE last_error IS NULL AND failed_at IS NULL AND payload IS NOT NULL`); n != 1 {
		t.Fatal("a stale claim's outcome was recorded")
	}
	// Success counts whoever reports it, once.
	for range 2 {
		if err := st.RecordMailSent(ctx, stale, mailT0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordMailFailed(ctx, latest, mailT0.Add(4*time.Minute), mail.FailurePermanent, "550 late"); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, `SELECT count(*) FROM auth.mail_outbox WHERE sent_at IS NOT NULL AND failed_at IS NULL AND payload IS NULL`); n != 1 {
		t.Fatal("the mail is not sent, with its payload cleared")
	}
	if n := countRows(t, db, `SELECT count(*) FROM auth.audit_events WHERE event = 'mail_sent'`); n != 1 {
		t.Fatalf("%d mail_sent events, want 1", n)
	}
	if n := countRows(t, db, `SELECT count(*) FROM auth.audit_events WHERE event = 'mail_failed'`); n != 0 {
		t.Fatalf("%d mail_failed events for a sent mail", n)
	}
	if depth, err := st.MailOutboxDepth(ctx); err != nil || depth != 0 {
		t.Fatalf("depth = %d, %v", depth, err)
	}
}

// TestPurgeDeletesFinishedMailsPastRetention keeps pending mails whatever
// their age, and finished ones for the retention.
func TestPurgeDeletesFinishedMailsPastRetention(t *testing.T) {
	st, db := outboxStore(t)
	ctx := context.Background()
	for _, to := range []string{"old@example.com", "recent@example.com", "pending@example.com"} {
		if err := st.EnqueueMail(ctx, outboxMail(to), mailT0); err != nil {
			t.Fatal(err)
		}
	}
	finish := func(to string, at time.Time) {
		t.Helper()
		c, ok, err := st.ClaimMail(ctx, at, time.Minute)
		if err != nil || !ok {
			t.Fatalf("claim: %v, %v", ok, err)
		}
		if c.To != to {
			t.Fatalf("claimed %s, want %s", c.To, to)
		}
		if err := st.RecordMailSent(ctx, c, at); err != nil {
			t.Fatal(err)
		}
	}
	finish("old@example.com", mailT0)
	finish("recent@example.com", mailT0.Add(time.Hour))
	now := mailT0.Add(time.Hour + auth.MailOutboxRetention)
	res, err := st.Purge(ctx, auth.PurgePolicy{Now: now.Add(-time.Microsecond), BatchSize: 1, MailOutboxRetention: auth.MailOutboxRetention})
	if err != nil {
		t.Fatal(err)
	}
	if res.MailOutbox != 1 {
		t.Fatalf("purged %d mails, want 1 (the old one)", res.MailOutbox)
	}
	var left []string
	rows, err := db.Query(`SELECT recipient FROM auth.mail_outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		left = append(left, r)
	}
	if len(left) != 2 || left[0] != "recent@example.com" || left[1] != "pending@example.com" {
		t.Fatalf("left after the purge: %v", left)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkMailOutboxCycle is one mail's trip through the outbox's
// statements: written, claimed, recorded as sent (with its audit row).
func BenchmarkMailOutboxCycle(b *testing.B) {
	st, err := store.Open(context.Background(), pgtest.NewDatabase(b), store.PoolConfig{MaxConns: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	m := auth.OutboxMail{Template: auth.MailReset, To: "ann@example.com", Sealed: make([]byte, 400)}
	now := mailT0
	for b.Loop() {
		if err := st.EnqueueMail(ctx, m, now); err != nil {
			b.Fatal(err)
		}
		c, ok, err := st.ClaimMail(ctx, now, time.Minute)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		if err := st.RecordMailSent(ctx, c, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimMailFromALongHistory claims from an outbox of 100,000
// finished mails and 1,000 pending ones: the partial index keeps a claim as
// cheap as in an empty outbox.
func BenchmarkClaimMailFromALongHistory(b *testing.B) {
	url := pgtest.NewDatabase(b)
	st, err := store.Open(context.Background(), url, store.PoolConfig{MaxConns: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, q := range []string{
		`INSERT INTO auth.mail_outbox (template, recipient, created_at, next_attempt_at, attempts, sent_at)
         SELECT 'reset', 'u' || i || '@example.com', $1, $1, 1, $1 FROM generate_series(1, 100000) i`,
		`INSERT INTO auth.mail_outbox (template, recipient, payload, created_at, next_attempt_at)
         SELECT 'reset', 'p' || i || '@example.com', '\x00', $1, $1 FROM generate_series(1, 1000) i`,
	} {
		if _, err := st.DB().Exec(q, mailT0); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := st.DB().Exec(`ANALYZE auth.mail_outbox`); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now := mailT0
	for b.Loop() {
		_, ok, err := st.ClaimMail(ctx, now, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if !ok { // every pending mail is leased: let the leases end
			now = now.Add(2 * time.Minute)
		}
	}
}
