//go:build unix

package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cluster is a PostgreSQL cluster of the test's own, in a temporary
// directory, that the test may stop and start at will. As root its server
// runs as the postgres user (or nobody): PostgreSQL refuses to run as root.
type cluster struct {
	bin  string // directory of initdb, pg_ctl, postgres
	dir  string // data directory
	log  string
	port int
	cred *syscall.Credential // nil: run as ourselves
}

// startCluster creates and starts a cluster, stopped again when t ends.
// Without PostgreSQL's server programs the test fails: it never skips.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	bin, err := serverPrograms()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{bin: bin}
	base := t.TempDir()
	if os.Geteuid() == 0 {
		c.cred = clusterOwner(t)
		// The server's user must reach its data directory: open up the
		// two directories t.TempDir made (0700, root's), not their contents.
		for _, d := range []string{filepath.Dir(base), base} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.dir, c.log = filepath.Join(base, "pg"), filepath.Join(base, "pg.log")
	if err := os.Mkdir(c.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.log, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if c.cred != nil {
		for _, p := range []string{c.dir, c.log} {
			if err := os.Chown(p, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.run(t, "initdb", "-D", c.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	c.port = freePort(t)
	conf := fmt.Sprintf("\n# cluster_dbfail_test.go\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = ''\n"+
		"fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 50\n", c.port)
	f, err := os.OpenFile(filepath.Join(c.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever state the test left it in; errors do not matter here.
		_ = c.command(context.Background(), "pg_ctl", "-D", c.dir, "-m", "immediate", "-w", "-t", "30", "stop").Run()
	})
	c.start(t)
	return c
}

// url is the cluster's maintenance database.
func (c *cluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// start starts the server and waits until it accepts connections.
func (c *cluster) start(t *testing.T) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.dir, "-l", c.log, "-w", "-t", "60", "start")
}

// stop shuts the server down the way an orchestrator does: fast mode ends
// every session and rolls back open transactions.
func (c *cluster) stop(t *testing.T) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.dir, "-m", "fast", "-w", "-t", "60", "stop")
}

func (c *cluster) run(t *testing.T, program string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := c.command(ctx, program, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		logTail, _ := os.ReadFile(c.log)
		t.Fatalf("%s %s: %v\n%s\nserver log:\n%s", program, strings.Join(args, " "), err, out.Bytes(), tail(logTail, 2000))
	}
}

func (c *cluster) command(ctx context.Context, program string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, program), args...)
	cmd.Dir = filepath.Dir(c.dir)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	// pg_ctl leaves the server running with the log file as its output,
	// not our pipes; WaitDelay is a bound should that ever change.
	cmd.WaitDelay = 10 * time.Second
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// serverPrograms finds a directory holding initdb, pg_ctl and postgres: the
// one of initdb on $PATH, else the newest /usr/lib/postgresql/*/bin.
func serverPrograms() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(versioned, func(a, b string) int { return versionOf(b) - versionOf(a) })
	dirs = append(dirs, versioned...)
	for _, d := range dirs {
		ok := true
		for _, p := range []string{"initdb", "pg_ctl", "postgres"} {
			if st, err := os.Stat(filepath.Join(d, p)); err != nil || st.Mode()&0o111 == 0 {
				ok = false
			}
		}
		if ok {
			return d, nil
		}
	}
	return "", fmt.Errorf("this test starts and stops its own PostgreSQL, but PostgreSQL's server programs " +
		"(initdb, pg_ctl, postgres) are not installed: none on $PATH nor in /usr/lib/postgresql/*/bin; install them " +
		"(Debian/Ubuntu: apt-get install postgresql)")
}

func versionOf(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}

// clusterOwner is the user a root test runs the server as.
func clusterOwner(t *testing.T) *syscall.Credential {
	t.Helper()
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 == nil && err2 == nil {
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		}
	}
	t.Fatal("running as root, and there is neither a postgres nor a nobody user to run PostgreSQL as")
	return nil
}

// freePort is a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
