// Package store is authgate's PostgreSQL persistence: it implements
// auth.Store with hand-written SQL over sqlx and lib/pq.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"authgate/internal/auth"
)

var _ auth.Store = (*Store)(nil)

// PoolConfig sizes the connection pool.
type PoolConfig struct {
	// MaxConns bounds open connections. Idle connections are kept at the same
	// number, so a busy server never churns connections.
	MaxConns int
}

// Store is the PostgreSQL implementation of auth.Store.
type Store struct {
	db *sqlx.DB
}

// Open connects to databaseURL and checks that the database answers.
// It fails when the URL is malformed or the database does not answer in time.
func Open(ctx context.Context, databaseURL string, pool PoolConfig) (*Store, error) {
	db, err := sqlx.Open("postgres", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if pool.MaxConns <= 0 {
		pool.MaxConns = 16
	}
	db.SetMaxOpenConns(pool.MaxConns)
	db.SetMaxIdleConns(pool.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	return &Store{db: db}, nil
}

// New wraps an open database.
func New(db *sqlx.DB) *Store { return &Store{db: db} }

// DB returns the underlying pool (for health checks and tools).
func (s *Store) DB() *sqlx.DB { return s.db }

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// Ping reports whether the database answers; an error means not ready.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return mapError(err)
	}
	return nil
}

// withTx runs fn in a transaction, committing when fn returns nil and rolling
// back on every other path (a panic included).
func (s *Store) withTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return mapError(err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	return mapError(tx.Commit())
}

// mapError turns database failures into domain errors by SQLSTATE class,
// never by message text: connection trouble is UNAVAILABLE.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var ae *auth.Error
	if errors.As(err, &ae) {
		return err
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code.Class() {
		case "08", // connection exception
			"53", // insufficient resources (too many connections, out of memory)
			"57": // operator intervention (shutdown, cannot connect now)
			return auth.Unavailable(err)
		}
		switch pqErr.Code {
		case "40001", "40P01": // serialization failure, deadlock: retry later
			return auth.Unavailable(err)
		}
		return err
	}
	var netErr net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) {
		return auth.Unavailable(err)
	}
	return err
}

// isUniqueViolation reports whether err is SQLSTATE 23505.
func isUniqueViolation(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "23505"
}
