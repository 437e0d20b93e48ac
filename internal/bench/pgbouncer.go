package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// bouncerParams are what a private PgBouncer's configuration depends on.
type bouncerParams struct {
	dir    string // where its config, userlist, log and pid file go
	port   int    // it listens on 127.0.0.1:port
	dbName string
	// pgHost, pgPort and pgUser are the PostgreSQL it pools for.
	pgHost string
	pgPort string
	pgUser string
}

// bouncerPoolSize is default_pool_size: the server connections PgBouncer
// opens to the database, near the best pool size measured for one server.
const bouncerPoolSize = 16

// pgbouncerConfig returns pgbouncer.ini and userlist.txt for p: transaction
// pooling, trust authentication (loopback only, the user must still be in
// the userlist), no Unix socket, logs in p.dir.
func pgbouncerConfig(p bouncerParams) (ini, userlist string) {
	var b strings.Builder
	fmt.Fprintf(&b, "[databases]\n%s = host=%s port=%s dbname=%s user=%s\n\n", p.dbName, p.pgHost, p.pgPort, p.dbName, p.pgUser)
	b.WriteString("[pgbouncer]\n")
	for _, kv := range [][2]string{
		{"listen_addr", "127.0.0.1"},
		{"listen_port", strconv.Itoa(p.port)},
		{"unix_socket_dir", ""},
		{"auth_type", "trust"},
		{"auth_file", filepath.Join(p.dir, "userlist.txt")},
		{"pool_mode", "transaction"},
		{"max_client_conn", "400"},
		{"default_pool_size", strconv.Itoa(bouncerPoolSize)},
		{"min_pool_size", "0"},
		{"reserve_pool_size", "0"},
		// lib/pq sends extra_float_digits at start-up; PgBouncer refuses
		// startup parameters it does not know unless told to ignore them.
		{"ignore_startup_parameters", "extra_float_digits"},
		{"logfile", filepath.Join(p.dir, "pgbouncer.log")},
		{"pidfile", filepath.Join(p.dir, "pgbouncer.pid")},
		{"log_connections", "0"},
		{"log_disconnections", "0"},
	} {
		fmt.Fprintf(&b, "%s = %s\n", kv[0], kv[1])
	}
	userlist = `"` + strings.ReplaceAll(p.pgUser, `"`, `""`) + `" ""` + "\n"
	return b.String(), userlist
}

// bouncerProc is a private PgBouncer running as a child process.
type bouncerProc struct {
	cmd    *exec.Cmd
	port   int
	dir    string
	exited chan struct{}
}

// startPgBouncer writes the configuration for dbName (PostgreSQL from
// adminURL) into dir/pgbouncer and starts bin on a free loopback port. As
// root it runs as the postgres user (PgBouncer refuses to run as root),
// switched by the kernel at exec, so the child's pid is PgBouncer's own.
func startPgBouncer(ctx context.Context, bin, dir, adminURL, dbName string) (_ *bouncerProc, err error) {
	au, err := url.Parse(adminURL)
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	pgPort := au.Port()
	if pgPort == "" {
		pgPort = "5432"
	}
	pgUser := au.User.Username()
	if pgUser == "" {
		pgUser = "postgres"
	}
	p := bouncerParams{dir: filepath.Join(dir, "pgbouncer"), port: port, dbName: dbName, pgHost: au.Hostname(), pgPort: pgPort, pgUser: pgUser}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	ini, userlist := pgbouncerConfig(p)
	cfgPath := filepath.Join(p.dir, "pgbouncer.ini")
	if err := os.WriteFile(cfgPath, []byte(ini), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(p.dir, "userlist.txt"), []byte(userlist), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, cfgPath)
	attrs := childAttrs()
	if os.Geteuid() == 0 {
		cred, err := runAsPostgres(dir, p.dir)
		if err != nil {
			return nil, err
		}
		attrs.Credential = cred
	}
	cmd.SysProcAttr = attrs
	out, err := os.Create(filepath.Join(p.dir, "pgbouncer.stderr"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	b := &bouncerProc{cmd: cmd, port: port, dir: p.dir, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(b.exited)
	}()
	defer func() {
		if err != nil {
			b.stop(5 * time.Second)
		}
	}()
	return b, b.waitReady(ctx, adminURL, dbName, 15*time.Second)
}

// runAsPostgres makes the bouncer's directory the postgres user's and lets
// it pass through the run's directory, and returns its credentials.
func runAsPostgres(runDir, dir string) (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PgBouncer needs a non-root user to run as: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user postgres: uid %q gid %q", u.Uid, u.Gid)
	}
	// The run's directory: traversable, not listable, by others.
	if err := os.Chmod(runDir, 0o711); err != nil {
		return nil, err
	}
	err = filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(path, uid, gid)
	})
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, err
}

// url is the bouncer's address for dbName, with adminURL's user.
func (b *bouncerProc) url(adminURL, dbName string) (string, error) {
	s, err := databaseURL(adminURL, dbName, "sslmode=disable")
	if err != nil {
		return "", err
	}
	u, _ := url.Parse(s)
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port))
	return u.String(), nil
}

func (b *bouncerProc) pid() int { return b.cmd.Process.Pid }

// waitReady waits until a query through the bouncer answers.
func (b *bouncerProc) waitReady(ctx context.Context, adminURL, dbName string, timeout time.Duration) error {
	u, err := b.url(adminURL, dbName)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		select {
		case <-b.exited:
			return fmt.Errorf("pgbouncer exited at start: %s", b.logTail())
		default:
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)), time.Second); err == nil {
			c.Close()
			db, err := openDB(ctx, u)
			if err == nil {
				var one int
				err = db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
				db.Close()
				if err == nil {
					return nil
				}
			}
			last = err
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgbouncer not ready within %s (%v): %s", timeout, last, b.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends PgBouncer (SIGTERM: immediate shutdown; SIGKILL after
// timeout); it is safe to call more than once.
func (b *bouncerProc) stop(timeout time.Duration) error {
	select {
	case <-b.exited:
		return nil
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		return nil
	case <-time.After(timeout):
		_ = b.cmd.Process.Kill()
		<-b.exited
		return errors.New("pgbouncer did not stop on SIGTERM in time and was killed")
	}
}

func (b *bouncerProc) logTail() string {
	var parts []string
	for _, name := range []string{"pgbouncer.log", "pgbouncer.stderr"} {
		if data, err := os.ReadFile(filepath.Join(b.dir, name)); err == nil && len(data) > 0 {
			parts = append(parts, lastLines(string(data), 5))
		}
	}
	return strings.Join(parts, " | ")
}
