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
	"net/url"
	"os"
	"strings"
	"sync"
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
	// prepared maps preparedStatements' text to the statement prepared
	// (empty when preparation is off); read-only once the store serves.
	prepared map[string]*sqlx.Stmt
	// sweep is where this store's purge goes on sweeping for idle sessions.
	sweep struct {
		sync.Mutex
		after string
	}
}

// preparedStatements are the request path's statements whose planning
// costs PostgreSQL as much as running them or more: the refresh (measured:
// 1.59 -> 0.55 ms of PostgreSQL CPU per refresh when prepared), a sign-in's
// two (2.8 -> 1.9 ms per sign-in) and the session list.
var preparedStatements = []struct{ name, query string }{
	{"refresh", rotateRefreshToken},
	{"sign-in check", reserveLoginAttempt},
	{"sign-in session", openSession},
	{"session list", listSessions},
}

// Open connects to databaseURL and checks that the database answers.
// It fails when the URL is malformed or the database does not answer in time.
//
// Statements run outside a transaction are retried on serialization
// failures and deadlocks (see retry), and every database wait ends with its
// context, even when the server stopped answering (see connector). When
// neither the URL nor PGCONNECT_TIMEOUT sets connect_timeout, connecting is
// also bounded by DefaultConnectTimeout, for the pool's own attempts.
func Open(ctx context.Context, databaseURL string, pool PoolConfig) (*Store, error) {
	dsn, err := withConnectTimeout(databaseURL, os.Getenv("PGCONNECT_TIMEOUT") != "")
	if err != nil {
		return nil, err
	}
	if dsn, err = withOneSync(dsn); err != nil {
		return nil, err
	}
	c, err := newConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", hideURL(err))
	}
	db := sqlx.NewDb(sql.OpenDB(c), "postgres")
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

// PrepareStatements prepares the request path's statements once per
// connection instead of having PostgreSQL parse and plan them on every
// request; call it after Migrate. Skip it behind a transaction-pooling proxy
// that cannot keep prepared statements (PgBouncer before 1.21). Not safe to
// call while the store serves requests.
func (s *Store) PrepareStatements(ctx context.Context) error {
	prepared := make(map[string]*sqlx.Stmt, len(preparedStatements))
	for _, p := range preparedStatements {
		// database/sql prepares it again on each connection of the pool, once.
		st, err := s.db.PreparexContext(ctx, p.query)
		if err != nil {
			for _, done := range prepared {
				_ = done.Close()
			}
			return fmt.Errorf("preparing the %s statement: %w", p.name, mapError(err))
		}
		prepared[p.query] = st
	}
	s.prepared = prepared
	return nil
}

// stmts runs a query through its prepared statement when the store has one,
// and as it is otherwise.
type stmts struct{ s *Store }

func (q stmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.s.prepared[query]; st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.s.db.QueryContext(ctx, query, args...)
}

func (q stmts) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	if st := q.s.prepared[query]; st != nil {
		return st.QueryxContext(ctx, args...)
	}
	return q.s.db.QueryxContext(ctx, query, args...)
}

func (q stmts) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	if st := q.s.prepared[query]; st != nil {
		return st.QueryRowxContext(ctx, args...)
	}
	return q.s.db.QueryRowxContext(ctx, query, args...)
}

// DefaultConnectTimeout bounds connecting to PostgreSQL (TCP and start-up
// handshake) when the database URL does not say otherwise. Without it
// lib/pq waits for ever on a server that accepts connections but does not
// answer.
const DefaultConnectTimeout = 5 * time.Second

// withConnectTimeout returns dsn (a URL or key=value settings) with
// DefaultConnectTimeout as connect_timeout, unless the user chose one: in
// the URL (which wins because lib/pq lets a later key override an earlier
// one) or in PGCONNECT_TIMEOUT (envTimeout, which the DSN would override).
func withConnectTimeout(dsn string, envTimeout bool) (string, error) {
	if envTimeout {
		return dsn, nil
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		kv, err := pq.ParseURL(dsn)
		if err != nil {
			return "", fmt.Errorf("DATABASE_URL: %w", hideURL(err))
		}
		dsn = kv
	}
	return fmt.Sprintf("connect_timeout=%d %s", int(DefaultConnectTimeout.Seconds()), dsn), nil
}

// withOneSync returns dsn with binary_parameters=yes unless it sets
// binary_parameters itself (a later key wins in lib/pq's key=value form).
// Without it lib/pq sends a query with arguments in two synced steps (parse,
// then bind and execute): two network round trips, and behind a
// transaction-pooling proxy such as PgBouncer the second step may reach
// another server connection, where it fails or, worse, binds to another
// client's statement. With it lib/pq sends each query in one step.
func withOneSync(dsn string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		kv, err := pq.ParseURL(dsn)
		if err != nil {
			return "", fmt.Errorf("DATABASE_URL: %w", hideURL(err))
		}
		dsn = kv
	}
	return "binary_parameters=yes " + dsn, nil
}

// hideURL drops the URL (and the password in it) from a URL parsing error.
func hideURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("not a valid URL: %w", ue.Err)
	}
	return err
}

// New wraps an open database as it is: statements through it are neither
// retried on serialization failures nor bounded beyond what its driver does
// (Open's pool does both). withTx still retries transactions.
func New(db *sqlx.DB) *Store { return &Store{db: db} }

// DB returns the underlying pool (for health checks and tools).
func (s *Store) DB() *sqlx.DB { return s.db }

// Close closes the pool.
func (s *Store) Close() error {
	for _, st := range s.prepared {
		_ = st.Close()
	}
	return s.db.Close()
}

// Ping reports whether the database answers; an error means not ready.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return mapError(err)
	}
	return nil
}

// withTx runs fn in a transaction, committing when fn returns nil and rolling
// back on every other path (a panic included). A transaction that fails
// with a serialization failure or a deadlock is run again, fn included (see
// retry), so fn must do nothing but its statements.
func (s *Store) withTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return retry(ctx, func() error { return s.inTx(ctx, fn) })
}

// inTx is one attempt of withTx.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
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
// never by message text: connection trouble, shutdown, exhausted resources
// and conflicts that persisted through the retries are UNAVAILABLE; a value
// Postgres cannot store (a NUL character, a byte sequence that is not
// UTF-8, a string longer than its column) is BAD_USER_INPUT, so that no
// client input makes a 500.
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
			"53", // insufficient resources (too many connections, disk full, out of memory)
			"57", // operator intervention (shutdown, cannot connect now, statement cancelled)
			"58": // system error (I/O error outside Postgres)
			return auth.Unavailable(err)
		}
		switch pqErr.Code {
		case "40001", // serialization failure: still failing after the retries
			"40P01", // deadlock: likewise
			"40003", // statement completion unknown
			"55P03": // lock not available (lock_timeout)
			return auth.Unavailable(err)
		case "22001", // string data right truncation
			"22021", // character not in repertoire (not UTF-8, NUL)
			"22P05": // untranslatable character (\u0000 in jsonb)
			return &auth.Error{Code: auth.CodeBadUserInput, Message: "the input holds a value that cannot be stored (a NUL character, or too long)", Err: err}
		}
		return err
	}
	var netErr net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, errResultLost) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &netErr) {
		return auth.Unavailable(err)
	}
	return err
}

// isUniqueViolation reports whether err is SQLSTATE 23505.
func isUniqueViolation(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "23505"
}
