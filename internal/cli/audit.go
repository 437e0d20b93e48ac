package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"authgate/internal/auth"
)

// runAudit runs `authgate audit --email E [--since D]`: the user's audit
// trail, oldest first, one line per event.
func runAudit(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("audit", env)
	email := fs.String("email", "", "the user's email")
	since := fs.String("since", "", "a Go duration back from now (24h) or an RFC 3339 instant")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return usageError("audit: --email is required")
	}
	addr, err := auth.NormalizeEmail(*email)
	if err != nil {
		return err
	}
	from, err := parseSince(*since, time.Now())
	if err != nil {
		return err
	}
	p, err := buildFromEnv(ctx, env)
	if err != nil {
		return err
	}
	defer p.store.Close()
	events, err := p.auth.AuditTrail(ctx, addr, from)
	if err != nil {
		return err
	}
	for _, e := range events {
		fmt.Fprintln(env.Stdout, formatAuditEvent(e))
	}
	if len(events) == 0 {
		fmt.Fprintf(env.Stderr, "authgate: no audit events for %s\n", addr)
	}
	return nil
}

// parseSince reads --since: empty (everything kept), a duration back from
// now, or an RFC 3339 instant.
func parseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, usageError(fmt.Sprintf("audit: --since %s is negative", v))
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, usageError(fmt.Sprintf("audit: --since must be a duration (24h) or an RFC 3339 instant, got %q", v))
	}
	return t, nil
}

// formatAuditEvent is one line: the instant, the event, then what is known
// of it. Client-supplied text is quoted, so that no user agent can forge a
// line or drive the terminal.
func formatAuditEvent(e auth.AuditEvent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-22s", e.At.UTC().Format("2006-01-02T15:04:05.000000Z"), e.Event)
	if e.SessionID != "" {
		fmt.Fprintf(&b, " session=%s", e.SessionID)
	}
	if e.IP != "" {
		fmt.Fprintf(&b, " ip=%s", e.IP)
	}
	if e.UserAgent != "" {
		fmt.Fprintf(&b, " ua=%q", e.UserAgent)
	}
	if len(e.Detail) > 0 {
		d, _ := json.Marshal(e.Detail)
		fmt.Fprintf(&b, " %s", d)
	}
	return b.String()
}
