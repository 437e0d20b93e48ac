package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"authgate/internal/pgtest"
)

// TestMain runs the store's tests against PostgreSQL, each on its own
// database (pgtest).
func TestMain(m *testing.M) { pgtest.Main(m) }

// superuser opens databaseURL directly, for what a test does behind the
// store's back (creating triggers that inject failures, reading rows).
func superuser(t *testing.T, databaseURL string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mustExec runs statements on db and fails the test on error.
func mustExec(t *testing.T, db *sql.DB, statements ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range statements {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
