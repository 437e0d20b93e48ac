package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/lib/pq"
)

// CreateDatabaseIfMissing creates the database a postgres:// URL names when
// the server says it does not exist (SQLSTATE 3D000), connecting to the
// same server's "postgres" database to do it, and reports whether it did.
// It is for development (serve --dev gets its own database on a shared
// server); production databases are their operators' to make. Other URL
// forms, and every other connection failure, are left to Open to report.
func CreateDatabaseIfMissing(ctx context.Context, databaseURL string) (bool, error) {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return false, nil
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || name == "postgres" {
		return false, nil
	}
	if err := ping(ctx, databaseURL); !isMissingDatabase(err) {
		return false, nil
	}
	admin := *u
	admin.Path = "/postgres"
	dsn, err := withConnectTimeout(admin.String(), os.Getenv("PGCONNECT_TIMEOUT") != "")
	if err != nil {
		return false, err
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return false, err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name))
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "42P04" { // duplicate_database: made meanwhile
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating database %s: %w", name, hideURL(err))
	}
	return true, nil
}

// ping connects once to databaseURL.
func ping(ctx context.Context, databaseURL string) error {
	dsn, err := withConnectTimeout(databaseURL, os.Getenv("PGCONNECT_TIMEOUT") != "")
	if err != nil {
		return err
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// isMissingDatabase reports whether err is the server's "database does not
// exist".
func isMissingDatabase(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "3D000"
}
