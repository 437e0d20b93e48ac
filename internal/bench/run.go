package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"authgate/internal/password"
)

// Run performs a whole benchmark run and returns its report. It always
// cleans up after itself (server, databases, temporary files), also when
// ctx ends early; the report then holds what was measured so far and the
// error says why it stopped.
func Run(ctx context.Context, cfg Config, progressOut io.Writer) (*Report, error) {
	start := time.Now()
	rep := &Report{StartedAt: start.UTC(), Settings: cfg}
	defer func() { rep.Seconds = time.Since(start).Seconds() }()
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	// Found out now rather than after the single-instance phases.
	if _, err := exec.LookPath(cfg.PgBouncerPath); cfg.PgBouncer && err != nil {
		return rep, fmt.Errorf("--pgbouncer needs PgBouncer at %s (apt-get install pgbouncer, or --pgbouncer-bin): %w", cfg.PgBouncerPath, err)
	}
	progress := progressTo(progressOut, start)

	dir, err := os.MkdirTemp("", "authgate-bench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	admin, err := openDB(ctx, cfg.AdminURL)
	if err != nil {
		return rep, err
	}
	defer admin.Close()
	rep.Machine = machineFacts(ctx, admin, cfg.PgbenchPath)

	if cfg.ServerBin == "" {
		progress("building the server")
	}
	bin, err := serverBinary(ctx, cfg, dir)
	if err != nil {
		return rep, err
	}
	sec, err := newSecrets()
	if err != nil {
		return rep, err
	}
	// The server's view of its settings, for the parameters the tool must
	// share with it (the address and database are filled in per stack).
	serverCfg, keys, err := serverView(serverEnv(cfg, sec, "postgres://127.0.0.1/x?sslmode=disable", "127.0.0.1:1"))
	if err != nil {
		return rep, err
	}
	rep.Server = describeServer(serverCfg)

	progress("hashing the seed password once (argon2id m=%d t=%d p=%d)", serverCfg.Argon2.MemoryKiB, serverCfg.Argon2.Iterations, serverCfg.Argon2.Parallelism)
	hashStart := time.Now()
	pwHash, err := password.New(serverCfg.Argon2, 1, nil).Hash(ctx, benchPassword)
	if err != nil {
		return rep, err
	}
	rep.Seed.PasswordHashSeconds = time.Since(hashStart).Seconds()

	env := &runEnv{cfg: cfg, dir: dir, bin: bin, admin: admin, sec: sec, server: serverCfg, keys: keys,
		passwordHash: pwHash, hc: newHTTPClient(cfg.Clients, cfg.RequestTimeout), progress: progress}
	defer env.hc.CloseIdleConnections()

	// Targets are evaluated on whatever was measured, also after a failure.
	defer func() { rep.Targets = evaluateTargets(rep) }()
	if err := runMain(ctx, env, rep); err != nil {
		return rep, err
	}
	for _, size := range cfg.Sizes {
		if err := runSize(ctx, env, rep, size); err != nil {
			return rep, err
		}
	}
	if cfg.PgBouncer {
		if err := runScaleOut(ctx, env, rep); err != nil {
			return rep, err
		}
	}
	if cfg.Soak > 0 {
		if err := runSoak(ctx, env, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// selectedOps are the operations to measure, in run order.
func selectedOps(cfg Config) []operation {
	var out []operation
	for _, name := range OperationNames() {
		if len(cfg.Ops) == 0 || slices.Contains(cfg.Ops, name) {
			out = append(out, operations[name])
		}
	}
	return out
}

// runMain measures every operation on a database of cfg.Sessions sessions,
// checks integrity, then runs the pgbench ceilings on the same database.
func runMain(ctx context.Context, env *runEnv, rep *Report) error {
	cfg := env.cfg
	ops := selectedOps(cfg)
	st, err := env.newStack(ctx, cfg.Sessions)
	if err != nil {
		return err
	}
	defer st.close()
	pwSeconds := rep.Seed.PasswordHashSeconds
	rep.Seed = st.seed
	rep.Seed.PasswordHashSeconds = pwSeconds
	rep.ServerEnv = st.serverSettings

	for _, op := range ops {
		if err := ctx.Err(); err != nil {
			return err
		}
		rawHashes := op.name == opLogin && cfg.HashDuration > 0
		var before HashRate
		if rawHashes {
			before = measureRawHashes(ctx, env, "before")
		}
		res := measureOp(ctx, env, st, op)
		rep.Ops = append(rep.Ops, res)
		if rawHashes {
			h := combineHashRates(before, measureRawHashes(ctx, env, "after"))
			rep.HashRate = &h
		}
	}
	if n, first := st.server.logWarnings(); n > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the server logged %d warning/error lines; first: %s", n, strings.Join(first, " | ")))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	env.progress("checking for lost or forked sessions")
	in := checkIntegrity(ctx, st.db, st.target, st.workers, st.seeded, cfg.RequestTimeout)
	rep.Integrity = &in
	if err := st.stopServer(); err != nil {
		rep.Notes = append(rep.Notes, err.Error())
	}

	if cfg.SkipPgbench {
		return nil
	}
	if _, err := exec.LookPath(cfg.PgbenchPath); err != nil {
		rep.Notes = append(rep.Notes, "pgbench not found ("+cfg.PgbenchPath+"): no ceilings measured")
		return nil
	}
	return runCeilings(ctx, env, st, rep)
}

// measureRawHashes measures half of the raw argon2id rate, with the server
// idle, just before or just after the login phase.
func measureRawHashes(ctx context.Context, env *runEnv, when string) HashRate {
	d := env.cfg.HashDuration / 2
	env.progress("measuring the raw argon2id hash rate for %s on %d goroutines (%s the login phase)", d, runtime.GOMAXPROCS(0), when)
	return measureHashRate(ctx, env.server.Argon2, d)
}

// measureOp warms op up, then measures it for the configured duration.
func measureOp(ctx context.Context, env *runEnv, st *stack, op operation) OpResult {
	cfg := env.cfg
	res := OpResult{Name: op.name, Label: op.label, Clients: cfg.Clients}
	if op.name == opWebhook {
		if skip := probeWebhook(ctx, st); skip != "" {
			res.Skipped = skip
			env.progress("%s: %s", op.label, skip)
			return res
		}
	}
	if op.name == opMySessions || op.name == opWebhook {
		prime(ctx, st, cfg.RequestTimeout)
	}
	env.progress("%s: warm-up %s, then %s with %d clients", op.label, cfg.Warmup, cfg.Duration, cfg.Clients)
	if cfg.Warmup > 0 {
		drive(ctx, st.workers, op, cfg.Warmup, cfg.RequestTimeout)
	}
	isRefresh := op.name == opRefreshActions || op.name == opRefreshGraphQL
	var (
		before        tableScans
		updatesBefore updateCounts
	)
	if isRefresh {
		waitStatsFlush(ctx)
		before, _ = readTableScans(ctx, st.db)
		updatesBefore, _ = readSessionUpdates(ctx, st.db)
	}
	s := startSamplerOf(st.serverPIDs(), st.bouncerPID(), os.Getpid(), st.dbName)
	out := drive(ctx, st.workers, op, cfg.Duration, cfg.RequestTimeout)
	res.Usage = s.stop()
	res.fill(out)
	if isRefresh {
		waitStatsFlush(ctx)
		if after, err := readTableScans(ctx, st.db); err == nil && before != nil {
			res.SeqScans = after.seqScansSince(before)
		}
		if after, err := readSessionUpdates(ctx, st.db); err == nil {
			d := after.since(updatesBefore)
			res.SessionUpdates = &d
		}
	}
	env.progress("%s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors", op.label, res.RequestsPerSec,
		res.Latency.P50Ms, res.Latency.P99Ms, res.ErrorCount)
	return res
}

// waitStatsFlush gives idle backends time to publish their table statistics
// (PostgreSQL flushes them at most once a second).
func waitStatsFlush(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(1500 * time.Millisecond):
	}
}

// probeWebhook returns why the webhook cannot be measured, or "".
func probeWebhook(ctx context.Context, st *stack) string {
	prime(ctx, st, 5*time.Second)
	reqCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := get(reqCtx, st.target.hc, st.target.base+st.target.webhookPath, "Authorization", "Bearer "+st.workers[0].access)
	switch {
	case err != nil:
		return "not available: " + err.Error()
	case res.status == http.StatusNotFound:
		return "not available: the server answers 404 on " + st.target.webhookPath
	}
	return ""
}

// prime gives every worker without an access token one, by refreshing one
// of its sessions (not measured).
func prime(ctx context.Context, st *stack, timeout time.Duration) {
	op := operations[opRefreshActions]
	for _, w := range st.workers {
		if w.access == "" {
			reqCtx, cancel := context.WithTimeout(ctx, timeout)
			op.run(reqCtx, w)
			cancel()
		}
	}
}

// ceilingRun is one pgbench run of runCeilings: a script, or (rotate) a
// script built afresh for each run with its own time stamp.
type ceilingRun struct {
	script pgbenchScript
	rotate func() (pgbenchScript, time.Time, error)
}

// runCeilings runs pgbench on the main database: authgate's own refresh
// statement, the cheapest writes on a plain table, and (optionally) the
// refresh statement once more, parsed and planned every time.
func runCeilings(ctx context.Context, env *runEnv, st *stack, rep *Report) error {
	cfg := env.cfg
	statement, err := storeStatement(cfg.RepoDir, filepath.Join("internal", "store"), "rotateRefreshToken")
	if err != nil {
		return fmt.Errorf("reading the refresh statement from the source: %w", err)
	}
	perClient := cfg.perClient(cfg.Sessions)
	rotate := func(extended bool) func() (pgbenchScript, time.Time, error) {
		return func() (pgbenchScript, time.Time, error) {
			// Every rotate run starts its chains again from rotation 0.
			if err := resetChains(ctx, st.db); err != nil {
				return pgbenchScript{}, time.Time{}, err
			}
			// Microseconds, as PostgreSQL stores it, so verifyRotations
			// can match it.
			now := time.Now().UTC().Truncate(time.Microsecond)
			s, err := rotateScript(statement, perClient, now, env.server.RefreshReuseGrace, env.server.RefreshTokenTTL,
				env.server.RefreshReplayLimit, env.server.AuditRefreshes)
			if err != nil {
				return s, now, fmt.Errorf("rotateRefreshToken as a pgbench script: %w", err)
			}
			if extended {
				s = s.extended()
			}
			return s, now, nil
		}
	}
	if _, _, err := rotate(false)(); err != nil {
		return err // before spending time on the plain table
	}
	env.progress("creating bench_plain (%d rows, unique index on token_hash)", cfg.PlainRows)
	if err := seedPlainTable(ctx, st.db, cfg.PlainRows, cfg.Clients, perClient); err != nil {
		return err
	}
	threads := min(cfg.Clients, runtime.NumCPU())
	secs := int(cfg.Duration.Round(time.Second) / time.Second)
	runs := []ceilingRun{{rotate: rotate(false)}, {script: plainHOTScript(perClient)}, {script: plainRotateScript(perClient)}}
	if cfg.PgbenchExtended {
		runs = append(runs, ceilingRun{rotate: rotate(true)})
	}
	for _, run := range runs {
		if err := ctx.Err(); err != nil {
			return err
		}
		script := run.script
		var before updateCounts
		if run.rotate != nil {
			if script, _, err = run.rotate(); err != nil {
				return err
			}
			waitStatsFlush(ctx)
			before, _ = readSessionUpdates(ctx, st.db)
		}
		env.progress("pgbench -M %s: %s, %d clients, %ds", script.protocol(), script.label, cfg.Clients, secs)
		r := runPgbench(ctx, cfg.PgbenchPath, env.dir, st.dbURL, st.dbName, script, cfg.Clients, threads, secs)
		if run.rotate != nil {
			waitStatsFlush(ctx)
			r.Verified = verifyRotations(ctx, st.db, r.Transactions, before)
		}
		env.progress("pgbench %s: %.0f tps, p50 %.2f ms, p99 %.2f ms %s", script.name, r.TPS, r.Latency.P50Ms, r.Latency.P99Ms, r.Error)
		rep.Ceilings = append(rep.Ceilings, r)
	}
	return nil
}

// verifyRotations checks that pgbench's transactions really rotated
// sessions (the statement has paths that write nothing): every rotation
// moves one of pgbench's sessions one generation on, and none is revoked.
// It also reports how many of the session updates since before were HOT.
func verifyRotations(ctx context.Context, db *sql.DB, transactions int64, before updateCounts) string {
	var rotations, revoked int64
	err := db.QueryRowContext(ctx, `SELECT coalesce(sum(generation), 0), count(*) FILTER (WHERE revoked_at IS NOT NULL)
		FROM auth.sessions WHERE description = $1`, pgbenchSessionDescription).Scan(&rotations, &revoked)
	if err != nil {
		return "could not verify: " + err.Error()
	}
	verdict := "OK"
	if rotations != transactions || revoked != 0 {
		verdict = "MISMATCH"
	}
	out := fmt.Sprintf("%s: %d rotations by %d transactions, %d sessions revoked", verdict, rotations, transactions, revoked)
	if after, err := readSessionUpdates(ctx, db); err == nil {
		d := after.since(before)
		out += fmt.Sprintf("; %d of %d session updates HOT", d.HOT, d.Updates)
	}
	return out
}

// runSize re-seeds a database with size sessions and measures refresh
// latency over /actions on it.
func runSize(ctx context.Context, env *runEnv, rep *Report, size int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	env.progress("size scan: %d sessions", size)
	st, err := env.newStack(ctx, size)
	if err != nil {
		return err
	}
	defer st.close()
	res := measureOp(ctx, env, st, operations[opRefreshActions])
	rep.Sizes = append(rep.Sizes, SizeResult{Sessions: size, SeedSeconds: st.seed.Seconds, Refresh: res})
	return nil
}
