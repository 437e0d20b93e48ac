package store

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"time"

	"github.com/lib/pq"
)

// connector opens lib/pq connections wrapped in conn, which
//   - retries every statement run outside a transaction on a serialization
//     failure or a deadlock (see retry), beneath the store's calls to
//     s.db.QueryRowContext and friends;
//   - ends every database wait when its context ends, even when the server
//     has stopped answering: lib/pq then only sends a cancel request, which
//     a hung or unreachable server never acts on, and keeps reading.
type connector struct {
	pq *pq.Connector
}

var _ driver.Connector = connector{}

// newConnector returns a connector for dsn (a URL or key=value settings).
func newConnector(dsn string) (connector, error) {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return connector{}, err
	}
	c.Dialer(socketDialer{})
	return connector{pq: c}, nil
}

// pqConn is every interface lib/pq's connection implements that
// database/sql uses; conn must keep offering all of them.
type pqConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// Connect opens a connection, giving up when ctx ends. lib/pq bounds the
// start-up handshake with connect_timeout only, not with ctx: a server that
// accepts connections but does not answer (hung, overloaded, SIGSTOPped)
// would hold a request past its deadline. The abandoned attempt finishes in
// the background (bounded by connect_timeout) and its connection is closed.
func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	type opened struct {
		cn     driver.Conn
		socket net.Conn
		err    error
	}
	done := make(chan opened, 1)
	go func() {
		var socket net.Conn
		cn, err := c.pq.Connect(context.WithValue(ctx, socketKey{}, &socket))
		done <- opened{cn, socket, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			return nil, o.err
		}
		pc, ok := o.cn.(pqConn)
		if !ok {
			o.cn.Close()
			return nil, fmt.Errorf("store: %T lacks a method database/sql uses", o.cn)
		}
		return &conn{pqConn: pc, socket: o.socket}, nil
	case <-ctx.Done():
		go func() {
			// A failed connect hands back a typed nil *pq.conn, which is
			// no nil interface: only a connection that opened is closed.
			if o := <-done; o.err == nil {
				o.cn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// Driver implements driver.Connector.
func (c connector) Driver() driver.Driver { return c.pq.Driver() }

// socketKey carries, in the context of Connect, where socketDialer leaves
// the connection's socket.
type socketKey struct{}

// socketDialer is lib/pq's default dialer that also hands the socket it
// opened to Connect (lib/pq's cancel requests dial without one).
type socketDialer struct{}

func (d socketDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d socketDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (socketDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	socket, err := d.DialContext(ctx, network, address)
	if err == nil {
		if slot, ok := ctx.Value(socketKey{}).(*net.Conn); ok {
			*slot = socket
		}
	}
	return socket, err
}

// conn is a lib/pq connection that retries statements outside a
// transaction and bounds every wait by its context. Inside a transaction a
// failed statement has aborted the transaction, so it is not retried here:
// withTx retries the whole transaction. database/sql never uses a
// connection from two goroutines at once, so inTx and broken need no lock.
type conn struct {
	pqConn
	socket net.Conn // nil if the dialer did not see it
	inTx   bool
	// broken: a context ended while the connection was in use, so its
	// socket may carry a forced deadline; it must not be used again.
	broken bool
}

// aLongTimeAgo is a deadline that has passed: setting it on a socket ends
// every read and write in progress on it at once.
var aLongTimeAgo = time.Unix(1, 0)

// bounded runs op, ending its reads and writes if ctx ends first: then
// lib/pq fails op with a network error (UNAVAILABLE) and drops the
// connection, and so does database/sql.
func (c *conn) bounded(ctx context.Context, op func() error) error {
	if c.socket == nil || ctx.Done() == nil {
		return op()
	}
	stop := context.AfterFunc(ctx, func() { _ = c.socket.SetDeadline(aLongTimeAgo) })
	err := op()
	if !stop() {
		c.broken = true
	}
	return err
}

// IsValid implements driver.Validator.
func (c *conn) IsValid() bool { return !c.broken && c.pqConn.IsValid() }

// ResetSession implements driver.SessionResetter.
func (c *conn) ResetSession(ctx context.Context) error {
	if c.broken {
		return driver.ErrBadConn
	}
	return c.pqConn.ResetSession(ctx)
}

// Ping implements driver.Pinger.
func (c *conn) Ping(ctx context.Context) error {
	return c.bounded(ctx, func() error { return c.pqConn.Ping(ctx) })
}

// PrepareContext implements driver.ConnPrepareContext. Its statements are
// bounded and retried like the connection's own (see stmt).
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var st driver.Stmt
	err := c.bounded(ctx, func() (err error) {
		st, err = c.pqConn.PrepareContext(ctx, query)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &stmt{Stmt: st, c: c}, nil
}

// stmt is a prepared statement of conn, run with the same bounds, retries
// and whole-answer reading as the connection's unprepared statements.
type stmt struct {
	driver.Stmt
	c *conn
}

// ExecContext implements driver.StmtExecContext.
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (res driver.Result, err error) {
	err = s.c.bounded(ctx, func() error {
		return s.c.retried(ctx, func() (err error) {
			res, err = s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
			return err
		})
	})
	return res, err
}

// QueryContext implements driver.StmtQueryContext.
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (rows driver.Rows, err error) {
	err = s.c.bounded(ctx, func() error {
		return s.c.retried(ctx, func() (err error) {
			rows, err = readAll(s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args))
			return err
		})
	})
	return rows, err
}

// Begin implements driver.Conn (database/sql calls BeginTx instead).
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx implements driver.ConnBeginTx.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var tx driver.Tx
	err := c.bounded(ctx, func() (err error) {
		tx, err = c.pqConn.BeginTx(ctx, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.inTx = true
	return &txn{Tx: tx, c: c, ctx: ctx}, nil
}

// txn ends a transaction within its context and marks the end on its
// connection.
type txn struct {
	driver.Tx
	c   *conn
	ctx context.Context
}

func (t *txn) Commit() error {
	t.c.inTx = false
	return t.c.bounded(t.ctx, t.Tx.Commit)
}

// Rollback is also what database/sql runs when the transaction's context
// ends; on a server that stopped answering it then fails at once, and
// closing the connection rolls the transaction back.
func (t *txn) Rollback() error {
	t.c.inTx = false
	return t.c.bounded(t.ctx, t.Tx.Rollback)
}

// ExecContext implements driver.ExecerContext.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (res driver.Result, err error) {
	err = c.bounded(ctx, func() error {
		return c.retried(ctx, func() (err error) {
			res, err = c.pqConn.ExecContext(ctx, query, args)
			return err
		})
	})
	return res, err
}

// QueryContext implements driver.QueryerContext. It reads the whole answer
// before returning it, so that every wait on the server happens within
// ctx's bounds, and so that a failure anywhere in the answer can be retried
// before the caller has seen a row: Postgres may report one midway through
// the rows, or at the statement's implicit commit (a deferred constraint
// trigger, SERIALIZABLE's checks), after the last row. The store's queries
// return a handful of rows, so holding them costs little. Only the first
// result of a multi-statement query is returned; the store sends none.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (rows driver.Rows, err error) {
	err = c.bounded(ctx, func() error {
		return c.retried(ctx, func() (err error) {
			rows, err = c.queryAll(ctx, query, args)
			return err
		})
	})
	return rows, err
}

// retried runs one statement, retrying it (see retry) unless it is part of
// a transaction.
func (c *conn) retried(ctx context.Context, statement func() error) error {
	if c.inTx {
		return statement()
	}
	return retry(ctx, statement)
}

// queryAll runs query and reads every row of its (first) result.
func (c *conn) queryAll(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return readAll(c.pqConn.QueryContext(ctx, query, args))
}

// readAll reads every row of a statement's (first) result.
func readAll(rows driver.Rows, err error) (driver.Rows, error) {
	if err != nil {
		return nil, err
	}
	all := &bufferedRows{columns: rows.Columns()}
	all.types, _ = rows.(columnTyper)
	for {
		row := make([]driver.Value, len(all.columns))
		err := rows.Next(row)
		if err == io.EOF {
			break
		}
		if err != nil {
			rows.Close()
			return nil, afterSending(err)
		}
		for i, v := range row {
			// lib/pq may hand out slices of its read buffer, which the
			// next row overwrites.
			if b, ok := v.([]byte); ok {
				row[i] = bytes.Clone(b)
			}
		}
		all.rows = append(all.rows, row)
	}
	if err := rows.Close(); err != nil {
		return nil, afterSending(err)
	}
	return all, nil
}

// errResultLost means the connection failed after a statement was sent:
// whether it took effect is unknown. mapError reports it as UNAVAILABLE.
var errResultLost = errors.New("store: the connection failed while reading a statement's result")

// afterSending keeps database/sql from running a statement again that may
// have taken effect: database/sql retries on driver.ErrBadConn, which a
// driver may only return before it sent the statement.
func afterSending(err error) error {
	if errors.Is(err, driver.ErrBadConn) {
		return errResultLost
	}
	return err
}

// columnTyper is the column information lib/pq's rows offer.
type columnTyper interface {
	driver.RowsColumnTypeScanType
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypePrecisionScale
}

// bufferedRows is a result read in full. Column types come from the
// original (closed) rows, which keep their description.
type bufferedRows struct {
	columns []string
	rows    [][]driver.Value
	types   columnTyper
}

var _ columnTyper = (*bufferedRows)(nil)

func (r *bufferedRows) Columns() []string { return r.columns }

func (r *bufferedRows) Close() error {
	r.rows = nil
	return nil
}

func (r *bufferedRows) Next(dest []driver.Value) error {
	if len(r.rows) == 0 {
		return io.EOF
	}
	copy(dest, r.rows[0])
	r.rows = r.rows[1:]
	return nil
}

func (r *bufferedRows) ColumnTypeScanType(i int) reflect.Type {
	if r.types == nil {
		return reflect.TypeFor[any]()
	}
	return r.types.ColumnTypeScanType(i)
}

func (r *bufferedRows) ColumnTypeDatabaseTypeName(i int) string {
	if r.types == nil {
		return ""
	}
	return r.types.ColumnTypeDatabaseTypeName(i)
}

func (r *bufferedRows) ColumnTypeLength(i int) (int64, bool) {
	if r.types == nil {
		return 0, false
	}
	return r.types.ColumnTypeLength(i)
}

func (r *bufferedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if r.types == nil {
		return 0, 0, false
	}
	return r.types.ColumnTypePrecisionScale(i)
}
