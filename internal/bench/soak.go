package bench

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// soakAppName is the application_name of the soak server's PostgreSQL
// connections (its pool and its LISTEN connection), so that counting them
// leaves out the tool's own connections to the same database.
const soakAppName = "authgate-bench-soak"

// SoakSnapshot is what the soak phase reads from the idle server.
type SoakSnapshot struct {
	// Goroutines is the first line of /debug/pprof/goroutine?debug=1.
	Goroutines int `json:"goroutines"`
	// PostgresConns counts pg_stat_activity rows of the run's database
	// with the server's application_name.
	PostgresConns int `json:"postgres_connections"`
	// OpenFDs counts /proc/<pid>/fd.
	OpenFDs int      `json:"open_fds"`
	Errors  []string `json:"errors,omitempty"`
}

// SoakResult is the soak phase: refresh over /actions for a long time on
// one server, with leak counts before and after.
type SoakResult struct {
	Duration      string       `json:"duration"`
	SettleSeconds float64      `json:"settle_seconds"`
	Refresh       OpResult     `json:"refresh_actions"`
	Start         SoakSnapshot `json:"start"`
	End           SoakSnapshot `json:"end"`
	// OK: every count at the end equals its count at the start.
	OK bool `json:"ok"`
}

// parseGoroutineTotal reads N from the first line of a goroutine profile in
// debug=1 form: "goroutine profile: total N".
func parseGoroutineTotal(b []byte) (int, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	rest, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("not a goroutine profile: %q", firstWords(string(line), 6))
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a goroutine count: %q", rest)
	}
	return n, nil
}

// soakChecks compares the end snapshot with the start one: each count
// must be equal (both snapshots are taken on an idle server after the same
// settle, so nothing legitimate differs between them).
func soakChecks(s *SoakResult) []TargetCheck {
	var out []TargetCheck
	for _, c := range []struct {
		name       string
		start, end int
	}{
		{"goroutines", s.Start.Goroutines, s.End.Goroutines},
		{"PostgreSQL connections", s.Start.PostgresConns, s.End.PostgresConns},
		{"open file descriptors", s.Start.OpenFDs, s.End.OpenFDs},
	} {
		ok := c.start == c.end && len(s.Start.Errors) == 0 && len(s.End.Errors) == 0
		out = append(out, check(fmt.Sprintf("soak %s: %s, end = start", s.Duration, c.name), "equal", float64(c.end-c.start), ok,
			fmt.Sprintf("%d → %d", c.start, c.end)))
	}
	return out
}

// runSoak starts a fresh server with pprof on, warms it up, lets it settle,
// takes a snapshot, drives refresh over /actions for cfg.Soak, lets it
// settle again and takes another.
func runSoak(ctx context.Context, env *runEnv, rep *Report) error {
	cfg := env.cfg
	pprofAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	env.progress("soak: %s of refresh over /actions on a fresh server", cfg.Soak)
	st, err := env.newStackWith(ctx, cfg.Sessions, stackOptions{
		env:      map[string]string{"AUTHGATE_PPROF_ADDR": pprofAddr},
		dbParams: "application_name=" + soakAppName,
	})
	if err != nil {
		return err
	}
	defer st.close()
	op := operations[opRefreshActions]
	res := &SoakResult{Duration: cfg.Soak.String(), SettleSeconds: cfg.SoakSettle.Seconds(),
		Refresh: OpResult{Name: op.name, Label: op.label + " (soak)", Clients: cfg.Clients}}
	rep.Soak = res
	if cfg.Warmup > 0 {
		env.progress("soak: warm-up %s", cfg.Warmup)
		drive(ctx, st.workers, op, cfg.Warmup, cfg.RequestTimeout)
	}
	settle := func() error {
		// The server's side of the clients' keep-alive connections would
		// count as goroutines and descriptors: close them, then wait.
		env.hc.CloseIdleConnections()
		closeConns(st.workers)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cfg.SoakSettle):
			return nil
		}
	}
	if err := settle(); err != nil {
		return err
	}
	res.Start = soakSnapshot(ctx, st.db, st.server.pid(), pprofAddr, st.dbName)
	env.progress("soak start: %d goroutines, %d PostgreSQL connections, %d open files", res.Start.Goroutines, res.Start.PostgresConns, res.Start.OpenFDs)

	s := startSamplerOf(st.serverPIDs(), 0, os.Getpid(), st.dbName)
	out := drive(ctx, st.workers, op, cfg.Soak, cfg.RequestTimeout)
	res.Refresh.Usage = s.stop()
	res.Refresh.fill(out)
	env.progress("soak: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors; settling %s", res.Refresh.RequestsPerSec,
		res.Refresh.Latency.P50Ms, res.Refresh.Latency.P99Ms, res.Refresh.ErrorCount, cfg.SoakSettle)
	if err := settle(); err != nil {
		return err
	}
	res.End = soakSnapshot(ctx, st.db, st.server.pid(), pprofAddr, st.dbName)
	env.progress("soak end: %d goroutines, %d PostgreSQL connections, %d open files", res.End.Goroutines, res.End.PostgresConns, res.End.OpenFDs)
	res.OK = true
	for _, c := range soakChecks(res) {
		res.OK = res.OK && c.Status == "PASS"
	}
	if n, first := st.server.logWarnings(); n > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("soak: the server logged %d warning/error lines; first: %s", n, strings.Join(first, " | ")))
	}
	return nil
}

// soakSnapshot reads the idle server's open files, PostgreSQL connections
// and goroutines, in that order (the goroutine request's own connection is
// not open yet when the files are counted).
func soakSnapshot(ctx context.Context, db *sql.DB, pid int, pprofAddr, dbName string) SoakSnapshot {
	var s SoakSnapshot
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err != nil {
		s.Errors = append(s.Errors, "open files: "+err.Error())
	} else {
		s.OpenFDs = len(fds)
	}
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`,
		dbName, soakAppName).Scan(&s.PostgresConns)
	if err != nil {
		s.Errors = append(s.Errors, "PostgreSQL connections: "+err.Error())
	}
	n, err := readGoroutines(ctx, pprofAddr)
	if err != nil {
		s.Errors = append(s.Errors, "goroutines: "+err.Error())
	}
	s.Goroutines = n
	return s
}

// readGoroutines asks the server's pprof listener for its goroutine count,
// on a connection of its own that is closed afterwards.
func readGoroutines(ctx context.Context, pprofAddr string) (int, error) {
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pprofAddr+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return 0, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d", res.StatusCode)
	}
	line, err := bufio.NewReader(res.Body).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return 0, err
	}
	return parseGoroutineTotal(line)
}
