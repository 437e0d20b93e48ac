package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"authgate/internal/config"
	"authgate/internal/refreshtoken"
)

// benchPassword is every seeded user's password.
const benchPassword = "authgate-bench correct horse"

// secrets are the run's keys, random per run, given to the server through
// its environment and used by the tool to compute the same token hashes.
type secrets struct {
	jwtKey, refresh, action string
}

func newSecrets() (secrets, error) {
	r := func() (string, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	}
	var s secrets
	var err error
	if s.jwtKey, err = r(); err != nil {
		return s, err
	}
	if s.refresh, err = r(); err != nil {
		return s, err
	}
	s.action, err = r()
	return s, err
}

// toolOwnedSettings are the server settings the tool sets itself; --server-env
// may not change them.
var toolOwnedSettings = []string{"DATABASE_URL", "HASURA_GRAPHQL_JWT_SECRET", "AUTHGATE_JWT_PRIVATE_KEYS",
	"AUTHGATE_REFRESH_TOKEN_SECRET", "AUTHGATE_ACTION_SECRET", "AUTHGATE_ADDR", "PORT"}

// serverEnv is the server's whole environment: nothing is inherited but
// PATH, so a run does not depend on the caller's shell.
func serverEnv(cfg Config, sec secrets, dbURL, addr string) map[string]string {
	env := map[string]string{
		"PATH":                          os.Getenv("PATH"),
		"DATABASE_URL":                  dbURL,
		"HASURA_GRAPHQL_JWT_SECRET":     `{"type":"HS256","key":"` + sec.jwtKey + `"}`,
		"AUTHGATE_REFRESH_TOKEN_SECRET": sec.refresh,
		"AUTHGATE_ACTION_SECRET":        sec.action,
		"AUTHGATE_ADDR":                 addr,
		"AUTHGATE_LOG_LEVEL":            "warn",
		"AUTHGATE_SHUTDOWN_TIMEOUT":     "5s",
	}
	for _, kv := range cfg.ServerEnv {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// redactedEnv is env fit for a report: secrets and URLs' credentials hidden.
func redactedEnv(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		switch {
		case k == "PATH":
			continue
		case strings.Contains(k, "SECRET") || strings.Contains(k, "KEY"):
			out[k] = "(random, " + fmt.Sprint(len(v)) + " bytes)"
		default:
			out[k] = v
		}
	}
	return out
}

// serverView parses env with the server's own config package, so the tool
// uses exactly the parameters (argon2id, TTLs, refresh-token key) the
// server will.
func serverView(env map[string]string) (*config.Config, *refreshtoken.Keys, error) {
	c, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return nil, nil, fmt.Errorf("server settings: %w", err)
	}
	keys, err := c.RefreshTokenKeys()
	return c, keys, err
}

// runEnv is what every stack of a run shares.
type runEnv struct {
	cfg          Config
	dir          string
	bin          string
	admin        *sql.DB
	sec          secrets
	server       *config.Config
	keys         *refreshtoken.Keys
	passwordHash string
	hc           *http.Client
	progress     func(format string, args ...any)
	// databases counts the databases made, for unique names.
	databases int
}

// stack is one fresh database, seeded, with a server running on it.
type stack struct {
	env     *runEnv
	dbName  string
	dbURL   string
	db      *sql.DB
	server  *serverProc
	target  *target
	workers []*worker
	seed    SeedInfo
	seeded  int64
	// tokens are the seeded sessions' first refresh tokens, perClient per
	// client, in client order.
	tokens    []string
	perClient int
	// servers are the scale-out phase's servers (server is then nil), and
	// bouncer the PgBouncer between them and the database.
	servers []*serverProc
	bouncer *bouncerProc
	// serverSettings is the server's environment, secrets redacted.
	serverSettings map[string]string
}

// newStack creates, migrates and seeds a database of sessions sessions and
// starts a server on it. On failure it cleans up what it made.
func (e *runEnv) newStack(ctx context.Context, sessions int) (*stack, error) {
	return e.newStackWith(ctx, sessions, stackOptions{})
}

// stackOptions vary how newStackWith starts the server.
type stackOptions struct {
	// noServer: create and seed the database only (the caller starts the
	// servers, as the scale-out phase does); workers get no target yet.
	noServer bool
	// env are extra server settings.
	env map[string]string
	// dbParams are extra query parameters of the server's DATABASE_URL.
	dbParams string
}

// newStackWith is newStack with options.
func (e *runEnv) newStackWith(ctx context.Context, sessions int, opts stackOptions) (_ *stack, err error) {
	e.databases++
	s := &stack{env: e, dbName: fmt.Sprintf("authgate_bench_%d_%d_%d", os.Getpid(), time.Now().Unix()%100000, e.databases)}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	e.progress("creating database %s", s.dbName)
	if err := createDatabase(ctx, e.admin, s.dbName); err != nil {
		return nil, err
	}
	if s.dbURL, err = databaseURL(e.cfg.AdminURL, s.dbName, ""); err != nil {
		return nil, err
	}
	if err := migrateDatabase(ctx, e.bin, s.dbURL); err != nil {
		return nil, err
	}
	if s.db, err = openDB(ctx, s.dbURL); err != nil {
		return nil, err
	}
	plan := seedPlan{users: e.cfg.Users, sessions: sessions, clients: e.cfg.Clients, perClient: e.cfg.perClient(sessions), denylisted: e.cfg.DenylistedTokens}
	e.progress("seeding %d users and %d sessions", plan.users, plan.sessions)
	tokens, info, err := seed(ctx, s.db, plan, e.passwordHash, e.keys, e.server.RefreshTokenTTL, e.server.SessionMaxAge, e.server.AccessTokenTTL)
	if err != nil {
		return nil, err
	}
	s.seed = info
	if s.seeded, err = liveSessions(ctx, s.db, time.Now()); err != nil {
		return nil, err
	}
	e.progress("seeded in %.1fs", info.Seconds)

	s.tokens, s.perClient = tokens, plan.perClient
	if opts.noServer {
		return s, nil
	}
	serverURL, err := databaseURL(e.cfg.AdminURL, s.dbName, joinParams(e.cfg.ServerDBParams, opts.dbParams))
	if err != nil {
		return nil, err
	}
	if s.server, err = s.startServer(ctx, serverURL, opts.env, ""); err != nil {
		return nil, err
	}
	s.target = s.newTarget(s.server)
	s.workers = newWorkers(s.target, tokens, e.cfg.Clients, plan.perClient)
	return s, nil
}

// startServer starts one server on the stack's database (through dbURL),
// with extra settings, and waits until it is ready. name tells its log
// apart from the stack's other servers'.
func (s *stack) startServer(ctx context.Context, dbURL string, extra map[string]string, name string) (*serverProc, error) {
	e := s.env
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	env := serverEnv(e.cfg, e.sec, dbURL, addr)
	for k, v := range extra {
		env[k] = v
	}
	s.serverSettings = redactedEnv(env)
	srv, err := startServer(e.bin, envList(env), addr, filepath.Join(e.dir, s.dbName+name+".server.log"))
	if err != nil {
		return nil, err
	}
	if err := srv.waitReady(ctx, e.hc, 30*time.Second); err != nil {
		_ = srv.stop(15 * time.Second)
		return nil, err
	}
	e.progress("server%s ready on %s (pid %d)%s", name, addr, srv.pid(), denylistNote(ctx, e.hc, srv.url()))
	return srv, nil
}

// denylistNote reports how many denylisted access tokens the server holds
// in memory (its /metrics), so a run shows the revocation state the webhook
// and every bearer check were measured against.
func denylistNote(ctx context.Context, hc *http.Client, base string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := get(ctx, hc, base+"/metrics")
	if err != nil || res.status != http.StatusOK {
		return "" // /metrics is on its own address (--server-env AUTHGATE_METRICS_ADDR)
	}
	const series = `authgate_revocation_entries{kind="denylisted_tokens"} `
	for line := range strings.SplitSeq(string(res.body), "\n") {
		if n, ok := strings.CutPrefix(line, series); ok {
			return ", " + n + " denylisted access tokens in its memory"
		}
	}
	return ""
}

// newTarget is what the clients need to talk to srv.
func (s *stack) newTarget(srv *serverProc) *target {
	e := s.env
	return &target{hc: e.hc, base: srv.url(), actionSecret: e.sec.action, webhookPath: e.cfg.WebhookPath,
		keys: e.keys, users: e.cfg.Users, password: benchPassword}
}

// joinParams joins URL query strings, skipping empty ones.
func joinParams(ps ...string) string {
	var out []string
	for _, p := range ps {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "&")
}

// stopServer stops the server; it is safe to call more than once.
func (s *stack) stopServer() error {
	if s.server == nil {
		return nil
	}
	return s.server.stop(15 * time.Second)
}

// close stops the server and drops the database, whatever state the run
// is in (its own timeouts: the run's context may be over).
func (s *stack) close() {
	closeConns(s.workers)
	_ = s.stopServer()
	for _, err := range s.stopAll(15 * time.Second) {
		s.env.progress("warning: %v", err)
	}
	if s.db != nil {
		s.db.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dropDatabase(ctx, s.env.admin, s.dbName); err != nil {
		s.env.progress("warning: %v", err)
	} else {
		s.env.progress("dropped database %s", s.dbName)
	}
}

// progressTo returns a progress printer writing timestamped lines to w.
func progressTo(w io.Writer, start time.Time) func(string, ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(w, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
}

// serverPIDs are the pids of the stack's running servers.
func (s *stack) serverPIDs() []int {
	var out []int
	if s.server != nil {
		out = append(out, s.server.pid())
	}
	for _, srv := range s.servers {
		out = append(out, srv.pid())
	}
	return out
}

// bouncerPID is PgBouncer's pid, 0 when there is none.
func (s *stack) bouncerPID() int {
	if s.bouncer == nil {
		return 0
	}
	return s.bouncer.pid()
}
