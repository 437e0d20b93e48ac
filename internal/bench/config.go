// Package bench is authgate's load tool: it creates a fresh database, seeds
// it, starts the real server as a child process, drives it over HTTP from
// many clients, measures what PostgreSQL itself can do with pgbench on the
// same machine, and reports both side by side. cmd/authgate-bench is its
// command line.
package bench

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Config is one run's settings, as given on the command line.
type Config struct {
	// AdminURL is a PostgreSQL where the tool may create and drop databases.
	// It must point at the loopback interface.
	AdminURL string
	// RepoDir is the authgate module root the server binary is built from.
	RepoDir string
	// ServerBin is a prebuilt authgate binary; empty means build one.
	ServerBin string

	Users    int
	Sessions int
	// DenylistedTokens is how many revoked access tokens are seeded, so
	// every server holds a denylist of that size in memory.
	DenylistedTokens int
	// SessionsPerClient is how many sessions each client owns and chains;
	// pgbench clients get as many of their own (and chain pgbenchChains).
	SessionsPerClient int
	Clients           int
	Duration          time.Duration
	Warmup            time.Duration
	RequestTimeout    time.Duration
	// Ops selects operations by name (see OperationNames); empty means all.
	Ops         []string
	WebhookPath string

	// Sizes, when set, re-seeds a database with each number of sessions and
	// reports refresh latency at each.
	Sizes []int

	HashDuration time.Duration
	PgbenchPath  string
	SkipPgbench  bool
	// PgbenchExtended adds a run of the refresh statement with pgbench's
	// extended protocol (parsed and planned every time, as lib/pq does).
	PgbenchExtended bool
	// PlainRows is the size of the "cheapest possible write" table.
	PlainRows int

	// ServerEnv are extra KEY=VALUE settings for the server (they win over
	// the tool's own).
	ServerEnv []string
	// ServerDBParams are extra query parameters for the server's
	// DATABASE_URL (e.g. binary_parameters=yes), for experiments.
	ServerDBParams string

	// PgBouncer adds the scale-out phase: two servers sharing the database
	// through a private PgBouncer in transaction pooling mode.
	PgBouncer     bool
	PgBouncerPath string
	// Soak, when set, adds a soak phase: refresh over /actions for this long
	// on a fresh server, checking for goroutine, connection and file
	// descriptor leaks.
	Soak time.Duration
	// SoakSettle is the idle time before each leak snapshot.
	SoakSettle time.Duration

	Out        string
	MaxRuntime time.Duration
}

// DefaultConfig returns the settings of a plain `make bench`.
func DefaultConfig() Config {
	return Config{
		AdminURL:          "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		RepoDir:           ".",
		Users:             100_000,
		Sessions:          200_000,
		DenylistedTokens:  10_000,
		SessionsPerClient: 64,
		Clients:           32,
		Duration:          20 * time.Second,
		Warmup:            2 * time.Second,
		RequestTimeout:    10 * time.Second,
		WebhookPath:       "/hasura/auth",
		HashDuration:      10 * time.Second,
		PgbenchPath:       "pgbench",
		PgbenchExtended:   true,
		PlainRows:         100_000,
		PgBouncerPath:     "/usr/sbin/pgbouncer",
		SoakSettle:        5 * time.Second,
		Out:               "bench-results/latest.json",
	}
}

// Validate returns the first problem with c, naming the flag.
func (c Config) Validate() error {
	switch {
	case c.Clients < 1 || c.Clients > 10_000:
		return errors.New("--clients must be from 1 to 10000")
	case c.Users < 1:
		return errors.New("--users must be at least 1")
	case c.DenylistedTokens < 0:
		return errors.New("--denylisted-tokens must not be negative")
	case c.SessionsPerClient < 1:
		return errors.New("--sessions-per-client must be at least 1")
	case c.Sessions < 2*c.Clients:
		return fmt.Errorf("--sessions must be at least 2 × --clients (%d): every HTTP and every pgbench client needs a session", 2*c.Clients)
	case c.Duration < time.Second:
		return errors.New("--duration must be at least 1s")
	case c.Warmup < 0:
		return errors.New("--warmup must not be negative")
	case c.RequestTimeout < 100*time.Millisecond:
		return errors.New("--request-timeout must be at least 100ms")
	case c.HashDuration < 0:
		return errors.New("--hash-duration must not be negative")
	case c.PlainRows < 2*c.Clients:
		return errors.New("--plain-rows must be at least 2 × --clients")
	case c.Soak < 0 || (c.Soak > 0 && c.Soak < time.Second):
		return errors.New("--soak must be at least 1s (or 0: no soak)")
	case c.SoakSettle < 0:
		return errors.New("--soak-settle must not be negative")
	case c.PgBouncer && c.Clients < 2:
		return errors.New("--pgbouncer needs at least 2 --clients (they are split across two servers)")
	case !strings.HasPrefix(c.WebhookPath, "/"):
		return errors.New("--webhook-url-path must start with /")
	}
	for _, s := range c.Sizes {
		if s < 2*c.Clients {
			return fmt.Errorf("--sizes: %d is under 2 × --clients", s)
		}
	}
	for _, name := range c.Ops {
		if !knownOperation(name) {
			return fmt.Errorf("--ops: unknown operation %q (known: %s)", name, strings.Join(OperationNames(), ","))
		}
	}
	for _, kv := range c.ServerEnv {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--server-env: %q is not KEY=VALUE", kv)
		}
		if slices.Contains(toolOwnedSettings, k) {
			return fmt.Errorf("--server-env: %s is set by the tool itself", k)
		}
	}
	if _, err := url.ParseQuery(c.ServerDBParams); err != nil {
		return fmt.Errorf("--server-db-params: %v", err)
	}
	return checkLoopbackURL(c.AdminURL)
}

// perClient is how many sessions each client (HTTP and pgbench alike) owns
// in a table of n sessions: SessionsPerClient, fewer when n is too small.
func (c Config) perClient(n int) int {
	k := c.SessionsPerClient
	if most := n / (2 * c.Clients); k > most {
		k = most
	}
	return max(k, 1)
}

// checkLoopbackURL refuses a database URL that leaves this machine: the tool
// sends traffic only to 127.0.0.1 (or ::1, or localhost).
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("--admin-url: %q is not a postgres:// URL", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--admin-url: host %q is not the loopback interface; the tool only talks to 127.0.0.1", host)
}

// databaseURL is admin with its database replaced by name and extra query
// parameters added.
func databaseURL(admin, name, extra string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	q := u.Query()
	if extra != "" {
		more, err := url.ParseQuery(extra)
		if err != nil {
			return "", err
		}
		for k, vs := range more {
			q[k] = vs
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
