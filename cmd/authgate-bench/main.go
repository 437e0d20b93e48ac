// Command authgate-bench is authgate's load tool: it creates a fresh
// database, seeds it, starts the real server, drives it over HTTP, measures
// PostgreSQL's own ceiling with pgbench, and reports both (a table on
// stdout, JSON in --out). Run it from the repository root: `make bench`.
// --pgbouncer adds two servers sharing the database through a private
// PgBouncer (transaction pooling); --soak DURATION adds a leak check
// (goroutines, PostgreSQL connections, open files) around a long refresh
// run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"authgate/internal/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("authgate-bench", flag.ContinueOnError)
	fs.StringVar(&cfg.AdminURL, "admin-url", cfg.AdminURL, "PostgreSQL where the tool may create and drop databases (loopback only)")
	fs.StringVar(&cfg.RepoDir, "repo", cfg.RepoDir, "authgate repository root (the server is built from it, and the refresh SQL read from internal/store)")
	fs.StringVar(&cfg.ServerBin, "server-bin", "", "use this authgate binary instead of building one")
	fs.IntVar(&cfg.Users, "users", cfg.Users, "users to seed")
	fs.IntVar(&cfg.DenylistedTokens, "denylisted-tokens", cfg.DenylistedTokens, "revoked access tokens to seed (every server holds them in memory; the webhook checks each request against them)")
	fs.IntVar(&cfg.Sessions, "sessions", cfg.Sessions, "sessions to seed")
	fs.IntVar(&cfg.SessionsPerClient, "sessions-per-client", cfg.SessionsPerClient, "sessions each client owns and chains, round robin (pgbench clients get as many, and chain up to 4)")
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "concurrent clients (HTTP and pgbench)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time per operation and per pgbench run")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured warm-up before each operation")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "bound on one HTTP request")
	ops := fs.String("ops", "", "operations to measure, comma-separated (default all: "+strings.Join(bench.OperationNames(), ",")+")")
	fs.StringVar(&cfg.WebhookPath, "webhook-url-path", cfg.WebhookPath, "path of the Hasura auth webhook (skipped when the server answers 404)")
	sizes := fs.String("sizes", "", "also measure refresh latency on fresh databases of these session counts, e.g. 10000,1000000")
	sessionsScan := fs.Bool("sessions-scan", false, "same as --sizes 10000,1000000")
	fs.DurationVar(&cfg.HashDuration, "hash-duration", cfg.HashDuration, "how long to measure the raw argon2id hash rate, half just before and half just after the login phase")
	fs.StringVar(&cfg.PgbenchPath, "pgbench", cfg.PgbenchPath, "pgbench binary")
	fs.BoolVar(&cfg.SkipPgbench, "skip-pgbench", false, "do not measure the pgbench ceilings")
	fs.BoolVar(&cfg.PgbenchExtended, "pgbench-extended", cfg.PgbenchExtended, "also run the refresh statement with -M extended (parsed and planned every time, as lib/pq does)")
	fs.IntVar(&cfg.PlainRows, "plain-rows", cfg.PlainRows, "rows of the cheapest-write table")
	var serverEnv multiFlag
	fs.Var(&serverEnv, "server-env", "extra server setting KEY=VALUE (repeatable), e.g. AUTHGATE_DB_MAX_CONNS=8")
	fs.StringVar(&cfg.ServerDBParams, "server-db-params", "", "extra query parameters for the server's DATABASE_URL, e.g. binary_parameters=yes")
	fs.BoolVar(&cfg.PgBouncer, "pgbouncer", false, "also run two servers through a private PgBouncer (transaction pooling) and report their combined refresh figures")
	fs.StringVar(&cfg.PgBouncerPath, "pgbouncer-bin", cfg.PgBouncerPath, "pgbouncer binary for --pgbouncer")
	fs.DurationVar(&cfg.Soak, "soak", 0, "also soak a fresh server with refresh over /actions for this long, e.g. 5m, and compare goroutines, PostgreSQL connections and open files before and after")
	fs.DurationVar(&cfg.SoakSettle, "soak-settle", cfg.SoakSettle, "idle time before each soak snapshot")
	fs.StringVar(&cfg.Out, "out", cfg.Out, "JSON report path")
	fs.DurationVar(&cfg.MaxRuntime, "max-runtime", 0, "stop the whole run after this long (default: what the plan needs plus 10 minutes)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "authgate-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.ServerEnv = serverEnv
	if *ops != "" {
		cfg.Ops = strings.Split(*ops, ",")
	}
	if *sessionsScan && *sizes == "" {
		*sizes = "10000,1000000"
	}
	if *sizes != "" {
		for _, s := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				fmt.Fprintf(os.Stderr, "authgate-bench: --sizes: %q is not a number\n", s)
				return 2
			}
			cfg.Sizes = append(cfg.Sizes, n)
		}
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "authgate-bench: %v\n", err)
		return 2
	}
	if cfg.MaxRuntime == 0 {
		cfg.MaxRuntime = plannedRuntime(cfg) + 10*time.Minute
	}

	// The first Ctrl-C stops the run and cleans up; a second one kills the
	// tool at once (the server child dies with it).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxRuntime)
	defer cancel()

	rep, err := bench.Run(ctx, cfg, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("stopped after --max-runtime %s (cleaned up): %w", cfg.MaxRuntime, err)
	case ctx.Err() != nil:
		err = fmt.Errorf("interrupted (cleaned up): %w", err)
	}
	rep.Flags = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { rep.Flags[f.Name] = f.Value.String() })
	if err != nil {
		rep.Error = err.Error()
	}
	bench.PrintTable(os.Stdout, rep)
	if werr := bench.WriteJSON(rep, cfg.Out); werr != nil {
		fmt.Fprintf(os.Stderr, "authgate-bench: writing %s: %v\n", cfg.Out, werr)
		return 1
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", cfg.Out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "authgate-bench: %v\n", err)
		return 1
	}
	if rep.Integrity != nil && !rep.Integrity.OK {
		return 1
	}
	return 0
}

// plannedRuntime is roughly how long a run of cfg takes, to bound it.
func plannedRuntime(cfg bench.Config) time.Duration {
	ops := len(cfg.Ops)
	if ops == 0 {
		ops = len(bench.OperationNames())
	}
	phase := cfg.Warmup + cfg.Duration + 5*time.Second
	d := time.Duration(ops)*phase + cfg.HashDuration
	if !cfg.SkipPgbench {
		d += 4 * (cfg.Duration + 10*time.Second)
	}
	d += time.Duration(len(cfg.Sizes)) * (phase + 2*time.Minute)
	if cfg.PgBouncer {
		d += 2*phase + 2*time.Minute
	}
	if cfg.Soak > 0 {
		d += cfg.Soak + cfg.Warmup + 2*cfg.SoakSettle + 2*time.Minute
	}
	return d
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
