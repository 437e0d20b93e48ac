package store_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/pgtest"
	"authgate/internal/store"
)

// TestQueriesAnswerEveryRow checks that reading answers in full before
// returning them (to retry failures found late) hands back every row and
// value as Postgres sent it.
func TestQueriesAnswerEveryRow(t *testing.T) {
	t.Parallel()
	st := openStore(t, pgtest.NewDatabase(t))
	rows, err := st.DB().QueryContext(context.Background(),
		`SELECT g, decode(lpad(to_hex(g % 256), 2, '0'), 'hex'), CASE WHEN g % 7 = 0 THEN NULL ELSE g::text END, '{"a":1}'::jsonb
		 FROM generate_series(1, $1::int) g`, 2000)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil || types[0].DatabaseTypeName() != "INT4" || types[1].DatabaseTypeName() != "BYTEA" {
		t.Errorf("column types lost: %v", err)
	}
	n := 0
	for rows.Next() {
		n++
		var (
			g     int
			b     []byte
			s     *string
			jsonb []byte
		)
		if err := rows.Scan(&g, &b, &s, &jsonb); err != nil {
			t.Fatal(err)
		}
		if g != n || !bytes.Equal(b, []byte{byte(n % 256)}) || (s == nil) != (n%7 == 0) || (s != nil && *s != fmt.Sprint(n)) || string(jsonb) != `{"a": 1}` {
			t.Fatalf("row %d read as %d %x %v %s", n, g, b, s, jsonb)
		}
	}
	if err := rows.Err(); err != nil || n != 2000 {
		t.Fatalf("%d rows, %v; want 2000", n, err)
	}
}

// TestConflictsReportedLateAreRetried injects serialization failures where
// Postgres reports them after some of the answer was sent: midway through
// a query's rows, and at the statement's implicit commit (deferred
// constraint triggers; SERIALIZABLE's own checks). Both are retried like
// any other: the store reads a whole answer before handing out a row.
func TestConflictsReportedLateAreRetried(t *testing.T) {
	t.Parallel()
	conflict := fmt.Sprintf(`IF nextval('public.authgate_test_attempts') <= %d THEN
        RAISE EXCEPTION 'injected conflict' USING ERRCODE = '40001';
    END IF;`, store.MaxAttempts-1)
	cases := []struct {
		name  string
		setup []string
		query string
	}{
		{"midway through the rows", []string{
			`CREATE FUNCTION public.authgate_test_row(g int) RETURNS int LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF g = 3 THEN ` + conflict + ` END IF;
    RETURN g;
END $$`,
		}, `SELECT public.authgate_test_row(g) FROM generate_series(1, 3) g`},
		{"at commit", []string{
			`CREATE FUNCTION public.authgate_test_conflict() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN ` + conflict + ` RETURN NEW; END $$`,
			`CREATE CONSTRAINT TRIGGER authgate_test_conflict AFTER INSERT ON public.authgate_test_t
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.authgate_test_conflict()`,
		}, `WITH w AS (INSERT INTO public.authgate_test_t VALUES (1)) SELECT generate_series(1, 3)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := pgtest.NewDatabase(t)
			db := superuser(t, url)
			mustExec(t, db, append([]string{`CREATE TABLE public.authgate_test_t (x int)`,
				`CREATE SEQUENCE public.authgate_test_attempts`}, tc.setup...)...)
			st := openStore(t, url)
			var got []int
			rows, err := st.DB().QueryContext(context.Background(), tc.query)
			if err != nil {
				t.Fatalf("the query was not retried: %v", err)
			}
			for rows.Next() {
				var x int
				if err := rows.Scan(&x); err != nil {
					t.Fatal(err)
				}
				got = append(got, x)
			}
			if err := rows.Err(); err != nil || fmt.Sprint(got) != "[1 2 3]" {
				t.Fatalf("rows %v, %v; want [1 2 3] after retries", got, err)
			}
			if n := injectedAttempts(t, db); n != store.MaxAttempts {
				t.Errorf("the statement ran %d times, want %d", n, store.MaxAttempts)
			}
		})
	}
}

// blackHole is a server that accepts TCP connections and never answers:
// a hung or overloaded PostgreSQL, as a client sees it.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestConnectingToAServerThatDoesNotAnswerIsBounded opens the store
// against a server that accepts connections and never answers: the
// caller's deadline bounds the wait, and without one connect_timeout does
// (the user's value when the URL has one, else DefaultConnectTimeout).
func TestConnectingToAServerThatDoesNotAnswerIsBounded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		query    string
		deadline time.Duration // 0: none
		want     time.Duration
	}{
		{"the caller's deadline", "sslmode=disable", 500 * time.Millisecond, 500 * time.Millisecond},
		{"the URL's connect_timeout", "sslmode=disable&connect_timeout=1", 0, time.Second},
		{"the default connect_timeout", "sslmode=disable", 0, store.DefaultConnectTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := "postgres://authgate@" + blackHole(t) + "/authgate?" + tc.query
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel func()
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			start := time.Now()
			st, err := store.Open(ctx, url, store.PoolConfig{MaxConns: 1})
			took := time.Since(start)
			if err == nil {
				st.Close()
				t.Fatal("opened a store on a server that never answers")
			}
			if took < tc.want-100*time.Millisecond || took > tc.want+2*time.Second {
				t.Errorf("gave up after %s, want about %s", took.Round(time.Millisecond), tc.want)
			}
			if code := auth.CodeOf(store.MapError(err)); code != auth.CodeUnavailable {
				t.Errorf("the failure %v is %s, want UNAVAILABLE", err, code)
			}
		})
	}
}

func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, url, store.PoolConfig{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
