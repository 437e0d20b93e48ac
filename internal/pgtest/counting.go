package pgtest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Counter counts the statements a pool sends to PostgreSQL: every query,
// exec, prepare, begin and commit/rollback is one round trip.
type Counter struct {
	n atomic.Int64
	// preparedRuns counts the queries and execs of prepared statements.
	preparedRuns atomic.Int64
}

// Load returns the count so far.
func (c *Counter) Load() int64 { return c.n.Load() }

// PreparedRuns returns how many of the counted round trips ran a prepared
// statement (PostgreSQL neither parsed nor planned them again).
func (c *Counter) PreparedRuns() int64 { return c.preparedRuns.Load() }

// CountingDB opens a pool on url whose round trips c counts. The pool is
// closed when t ends.
func CountingDB(t testing.TB, url string) (*sqlx.DB, *Counter) {
	t.Helper()
	base, err := pq.NewConnector(url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c := &Counter{}
	db := sqlx.NewDb(sql.OpenDB(countingConnector{base: base, c: c}), "postgres")
	t.Cleanup(func() { db.Close() })
	return db, c
}

type countingConnector struct {
	base driver.Connector
	c    *Counter
}

func (cc countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := cc.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, c: cc.c}, nil
}

func (cc countingConnector) Driver() driver.Driver { return cc.base.Driver() }

// countingConn counts at the driver boundary, where database/sql hands each
// statement to lib/pq.
type countingConn struct {
	driver.Conn
	c *Counter
}

func (c *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.c.n.Add(1)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.c.n.Add(1)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.c.n.Add(1)
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: st, c: c.c}, nil
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.c.n.Add(1)
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return countingTx{Tx: tx, c: c.c}, nil
}

func (c *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

type countingStmt struct {
	driver.Stmt
	c *Counter
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.c.n.Add(1)
	s.c.preparedRuns.Add(1)
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.c.n.Add(1)
	s.c.preparedRuns.Add(1)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

type countingTx struct {
	driver.Tx
	c *Counter
}

func (t countingTx) Commit() error   { t.c.n.Add(1); return t.Tx.Commit() }
func (t countingTx) Rollback() error { t.c.n.Add(1); return t.Tx.Rollback() }
