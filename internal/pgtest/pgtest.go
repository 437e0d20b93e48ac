// Package pgtest gives tests a fresh, migrated PostgreSQL database each,
// cloned from a template that is migrated once per test binary, so tests run
// in parallel against real Postgres and start in milliseconds.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq" // the postgres driver

	"authgate/internal/store"
)

// EnvAdminURL names the setting that points tests at a PostgreSQL server
// where they may create and drop databases.
const EnvAdminURL = "AUTHGATE_TEST_DATABASE_URL"

const defaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	mu       sync.Mutex
	admin    *sql.DB
	adminURL string
	template string
)

// Main runs a package's tests (call it from TestMain) and drops the
// package's template database afterwards. With no reachable server it fails
// the run with one line saying what to start; it never skips.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	if template != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+quoteIdent(template)+` WITH (FORCE)`); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: dropping template:", err)
		}
		cancel()
	}
	if admin != nil {
		admin.Close()
	}
	mu.Unlock()
	os.Exit(code)
}

// NewDatabase creates a migrated database for t, drops it when t ends, and
// returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return createDatabase(t, ` TEMPLATE `+quoteIdent(ensureTemplate(t)))
}

// NewEmptyDatabase creates a database for t with no schema at all (tests of
// an upgrade migrate it step by step), drops it when t ends, and returns its
// URL.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	ensureTemplate(t) // connects admin
	return createDatabase(t, "")
}

// createDatabase creates a database (with options, e.g. its template) that
// is dropped when t ends, and returns its URL.
func createDatabase(t testing.TB, options string) string {
	t.Helper()
	name := "authgate_test_" + randomSuffix()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+quoteIdent(name)+options); err != nil {
		t.Fatalf("pgtest: creating database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+quoteIdent(name)+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return withDatabase(adminURL, name)
}

// AdminURL returns the URL of the server's maintenance database.
func AdminURL() string {
	if u := os.Getenv(EnvAdminURL); u != "" {
		return u
	}
	return defaultAdminURL
}

func ensureTemplate(t testing.TB) string {
	mu.Lock()
	defer mu.Unlock()
	if template != "" {
		return template
	}
	adminURL = AdminURL()
	db, err := sql.Open("postgres", adminURL)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: PostgreSQL does not answer at %s (%v): start it (pg_ctlcluster --skip-systemctl-redirect 15 main start) or set %s\n",
			redact(adminURL), err, EnvAdminURL)
		os.Exit(1)
	}
	admin = db
	name := "authgate_tmpl_" + randomSuffix()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+quoteIdent(name)); err != nil {
		t.Fatalf("pgtest: creating template: %v", err)
	}
	template = name
	tdb, err := sql.Open("postgres", withDatabase(adminURL, name))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer tdb.Close()
	if _, err := store.Migrate(ctx, tdb); err != nil {
		t.Fatalf("pgtest: migrating template: %v", err)
	}
	return template
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(fmt.Sprintf("pgtest: %s is not a URL: %v", EnvAdminURL, err))
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func quoteIdent(s string) string { return `"` + s + `"` }
