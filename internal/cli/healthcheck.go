package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"authgate/internal/config"
)

// healthcheckTimeout bounds one check; a container runtime kills a check
// that outlives its own timeout anyway.
const healthcheckTimeout = 3 * time.Second

// runHealthcheck runs `authgate healthcheck [--url U]`: GET /healthz of the
// server this environment configures (AUTHGATE_ADDR or PORT, on loopback
// when it listens on every address) and succeed on 200. Minimal images have
// no curl, so the binary checks itself.
func runHealthcheck(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("healthcheck", env)
	target := fs.String("url", "", "the URL to check (default: /healthz on the configured listen address)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *target == "" {
		addr, err := config.ListenAddr(env.Getenv)
		if err != nil {
			return err
		}
		*target = "http://" + localAddr(addr) + "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		return usageError(fmt.Sprintf("healthcheck: --url %q: %v", *target, err))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s answered %s", *target, resp.Status)
	}
	fmt.Fprintf(env.Stdout, "ok: %s\n", *target)
	return nil
}

// localAddr is host:port a local client dials for a listen address: an
// empty or unspecified host (every address) becomes loopback.
func localAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if a, err := netip.ParseAddr(host); host == "" || (err == nil && a.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
