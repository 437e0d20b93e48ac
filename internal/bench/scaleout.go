package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ScaleOutResult is the scale-out phase: two servers sharing one database
// through PgBouncer in transaction pooling mode, the clients split evenly
// between them.
type ScaleOutResult struct {
	Servers  int    `json:"servers"`
	PoolMode string `json:"pgbouncer_pool_mode"`
	// PoolSize is PgBouncer's default_pool_size: its connections to
	// PostgreSQL, shared by both servers.
	PoolSize int `json:"pgbouncer_pool_size"`
	// ServerEnv is one server's environment, secrets redacted (both have the
	// same but their address).
	ServerEnv map[string]string `json:"server_env"`
	// Ops are the combined figures of both servers: rates and latencies over
	// every client, CPU summed over both servers, RSS the larger server's.
	Ops       []OpResult `json:"operations"`
	Integrity *Integrity `json:"integrity,omitempty"`
	// Revocation is how fast a revocation through one server reaches the
	// other; RevocationError says why it could not be measured.
	Revocation      *RevocationSpread `json:"revocation,omitempty"`
	RevocationError string            `json:"revocation_error,omitempty"`
	// ServerLogLines counts the lines both servers logged at warn level or
	// above over the whole phase, warm-ups included (errors there are not
	// in the measured figures).
	ServerLogLines int      `json:"server_log_lines"`
	Notes          []string `json:"notes,omitempty"`
}

// scaleOutOps are the operations the scale-out phase measures: the
// selected refresh operations, both when none is selected.
func scaleOutOps(cfg Config) []operation {
	var out []operation
	for _, name := range []string{opRefreshActions, opRefreshGraphQL} {
		if len(cfg.Ops) == 0 || slices.Contains(cfg.Ops, name) {
			out = append(out, operations[name])
		}
	}
	if len(out) == 0 {
		out = []operation{operations[opRefreshActions], operations[opRefreshGraphQL]}
	}
	return out
}

// splitWorkers points the second half of workers at b (each client sticks
// to one server), the first half stays with its own.
func splitWorkers(workers []*worker, b *target) {
	for _, w := range workers[len(workers)/2:] {
		w.t = b
	}
}

// scaleOutEnv is the settings a server behind PgBouncer needs: LISTEN on a
// direct connection (it needs a session) and no prepared statements
// (PgBouncer 1.18 cannot keep them in transaction mode).
func scaleOutEnv(directURL string) map[string]string {
	return map[string]string{
		"AUTHGATE_LISTEN_DATABASE_URL": directURL,
		"AUTHGATE_DB_PREPARE":          "false",
	}
}

// runScaleOut seeds a fresh database, starts PgBouncer and two servers
// through it, measures the refresh operations with the clients split
// between the servers, and checks integrity. Everything it starts is
// stopped on every return.
func runScaleOut(ctx context.Context, env *runEnv, rep *Report) error {
	cfg := env.cfg
	res := &ScaleOutResult{Servers: 2, PoolMode: "transaction", PoolSize: bouncerPoolSize}
	rep.ScaleOut = res
	env.progress("scale-out: two servers through PgBouncer (transaction pooling, pool %d)", bouncerPoolSize)
	st, err := env.newStackWith(ctx, cfg.Sessions, stackOptions{noServer: true})
	if err != nil {
		return err
	}
	defer st.close()
	b, err := startPgBouncer(ctx, cfg.PgBouncerPath, env.dir, cfg.AdminURL, st.dbName)
	if err != nil {
		return fmt.Errorf("scale-out: %w", err)
	}
	st.bouncer = b
	env.progress("pgbouncer ready on 127.0.0.1:%d (pid %d)", b.port, b.pid())
	bouncerURL, err := b.url(cfg.AdminURL, st.dbName)
	if err != nil {
		return err
	}
	if bouncerURL, err = databaseURL(bouncerURL, st.dbName, cfg.ServerDBParams); err != nil {
		return err
	}
	directURL, err := databaseURL(cfg.AdminURL, st.dbName, cfg.ServerDBParams)
	if err != nil {
		return err
	}
	var targets []*target
	for i := range 2 {
		srv, err := st.startServer(ctx, bouncerURL, scaleOutEnv(directURL), fmt.Sprintf("-%d", i+1))
		if err != nil {
			return fmt.Errorf("scale-out: %w", err)
		}
		st.servers = append(st.servers, srv)
		targets = append(targets, st.newTarget(srv))
	}
	res.ServerEnv = st.serverSettings
	st.target = targets[0]
	st.workers = newWorkers(targets[0], st.tokens, cfg.Clients, st.perClient)
	splitWorkers(st.workers, targets[1])

	for _, op := range scaleOutOps(cfg) {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := measureOp(ctx, env, st, op)
		r.Label += " ×2 via PgBouncer"
		res.Ops = append(res.Ops, r)
	}
	for i, srv := range st.servers {
		n, first := srv.logWarnings()
		res.ServerLogLines += n
		if n > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("server %d logged %d warning/error lines; first: %s", i+1, n, strings.Join(first, " | ")))
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	env.progress("scale-out: checking for lost or forked sessions")
	in := checkIntegrity(ctx, st.db, st.target, st.workers, st.seeded, cfg.RequestTimeout)
	res.Integrity = &in
	env.progress("scale-out: timing %d revocations through server 1 until server 2 refuses the token", spreadRounds)
	if spread, err := measureRevocationSpread(ctx, targets[0], targets[1]); err != nil {
		res.RevocationError = err.Error()
	} else {
		res.Revocation = &spread
	}
	return nil
}

// stopAll stops the scale-out servers, then PgBouncer (each safe to call
// more than once), within the given time each.
func (s *stack) stopAll(timeout time.Duration) []error {
	var errs []error
	for _, srv := range s.servers {
		if err := srv.stop(timeout); err != nil {
			errs = append(errs, err)
		}
	}
	if s.bouncer != nil {
		if err := s.bouncer.stop(timeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
