package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// buildServer compiles the authgate binary from repoDir into out.
func buildServer(ctx context.Context, repoDir, out string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = repoDir
	cmd.SysProcAttr = childAttrs()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build in %s: %w: %s", repoDir, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// freeLoopbackAddr returns 127.0.0.1:<a port that was free a moment ago>.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// serverProc is the authgate server running as a child process.
type serverProc struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	exited  chan struct{}
	waitErr error
}

// startServer runs `bin serve` with exactly env (nothing inherited, so the
// run is reproducible), its log in logPath.
func startServer(bin string, env []string, addr, logPath string) (*serverProc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// Not CommandContext: the server must get SIGTERM and drain, not be
	// killed, when a run is interrupted; stop does that.
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s serve: %w", bin, err)
	}
	s := &serverProc{cmd: cmd, addr: addr, logPath: logPath, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	return s, nil
}

func (s *serverProc) pid() int    { return s.cmd.Process.Pid }
func (s *serverProc) url() string { return "http://" + s.addr }
func (s *serverProc) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// waitReady polls /readyz until it answers 200, the process exits, or
// timeout passes.
func (s *serverProc) waitReady(ctx context.Context, hc *http.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		reqCtx, reqCancel := context.WithTimeout(ctx, time.Second)
		res, err := get(reqCtx, hc, s.url()+"/readyz")
		reqCancel()
		if err == nil && res.status == http.StatusOK {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("the server exited before it was ready (%v): %s", s.waitErr, s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("the server was not ready within %s: %s", timeout, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM (the server drains in-flight requests), and SIGKILL if
// it has not exited within timeout.
func (s *serverProc) stop(timeout time.Duration) error {
	if !s.running() {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(timeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("the server did not stop on SIGTERM in time and was killed")
	}
	return nil
}

// logTail is the end of the server's log, for error messages.
func (s *serverProc) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	return lastLines(string(b), 5)
}

// logWarnings counts the lines the server logged at warn level or above
// (the tool runs it at warn, so any line is one) and returns the first few.
func (s *serverProc) logWarnings() (int, []string) {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return 0, nil
	}
	var first []string
	n := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		n++
		if len(first) < 3 {
			first = append(first, line)
		}
	}
	return n, first
}

// serverBinary returns the binary to run: cfg's, or one built into dir.
func serverBinary(ctx context.Context, cfg Config, dir string) (string, error) {
	if cfg.ServerBin != "" {
		return filepath.Abs(cfg.ServerBin)
	}
	bin := filepath.Join(dir, "authgate")
	return bin, buildServer(ctx, cfg.RepoDir, bin)
}
