package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/lib/pq"
)

// openDB opens a small pool on url and checks that the database answers.
func openDB(ctx context.Context, url string) (*sql.DB, error) {
	db, err := sql.Open("postgres", url)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("PostgreSQL does not answer (start one, or point --admin-url at one): %w", err)
	}
	return db, nil
}

// createDatabase creates an empty database called name.
func createDatabase(ctx context.Context, admin *sql.DB, name string) error {
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		return fmt.Errorf("creating database %s: %w", name, err)
	}
	return nil
}

// dropDatabase drops name, disconnecting whoever is still connected.
func dropDatabase(ctx context.Context, admin *sql.DB, name string) error {
	_, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)")
	if err != nil {
		return fmt.Errorf("dropping database %s: %w", name, err)
	}
	return nil
}

// migrateDatabase runs `authgate migrate` against url, as an operator would.
func migrateDatabase(ctx context.Context, bin, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "migrate")
	cmd.Env = []string{"DATABASE_URL=" + url, "AUTHGATE_LOG_LEVEL=warn"}
	cmd.SysProcAttr = childAttrs()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("authgate migrate: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// liveSessions counts the sessions that can still be refreshed at now.
func liveSessions(ctx context.Context, db *sql.DB, now time.Time) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM auth.sessions
		WHERE revoked_at IS NULL AND expires_at > $1 AND max_expires_at > $1`, now).Scan(&n)
	return n, err
}

// tableScans is how often PostgreSQL scanned auth's tables sequentially and
// by index, from its statistics.
type tableScans map[string][2]int64

func readTableScans(ctx context.Context, db *sql.DB) (tableScans, error) {
	// Statistics of this backend's own finished work are flushed before the
	// snapshot; other backends flush theirs within a second of going idle.
	rows, err := db.QueryContext(ctx, `SELECT relname, coalesce(seq_scan, 0), coalesce(idx_scan, 0)
		FROM pg_stat_user_tables WHERE schemaname = 'auth' AND relname IN ('sessions', 'users', 'retired_refresh_tokens')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := tableScans{}
	for rows.Next() {
		var name string
		var seq, idx int64
		if err := rows.Scan(&name, &seq, &idx); err != nil {
			return nil, err
		}
		out[name] = [2]int64{seq, idx}
	}
	return out, rows.Err()
}

// seqScansSince returns the sequential scans per table since before.
func (after tableScans) seqScansSince(before tableScans) map[string]int64 {
	out := map[string]int64{}
	for name, a := range after {
		out[name] = a[0] - before[name][0]
	}
	return out
}

// updateCounts are PostgreSQL's counts of updates of auth.sessions, and of
// those that were heap-only (HOT: no index touched).
type updateCounts struct {
	Updates int64 `json:"updates"`
	HOT     int64 `json:"hot"`
}

func readSessionUpdates(ctx context.Context, db *sql.DB) (updateCounts, error) {
	var c updateCounts
	err := db.QueryRowContext(ctx, `SELECT coalesce(n_tup_upd, 0), coalesce(n_tup_hot_upd, 0)
		FROM pg_stat_user_tables WHERE schemaname = 'auth' AND relname = 'sessions'`).Scan(&c.Updates, &c.HOT)
	return c, err
}

// since returns the updates counted after before.
func (c updateCounts) since(before updateCounts) updateCounts {
	return updateCounts{Updates: c.Updates - before.Updates, HOT: c.HOT - before.HOT}
}
