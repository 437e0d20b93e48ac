package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"authgate/internal/auth"
)

// runUser runs `authgate user <subcommand>`.
func runUser(ctx context.Context, args []string, env Env) error {
	// The audit trail records what the command line does as the CLI's.
	ctx = auth.WithActor(ctx, auth.ActorCLI)
	if len(args) == 0 {
		return usageError("user: missing subcommand (add, list, set-password, import, verify, disable, enable, ban, unban, set-roles, set-claims, revoke-sessions, delete)")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "import":
		return runUserImport(ctx, args, env)
	case "list":
		return runUserList(ctx, args, env)
	}
	fs := newFlagSet("user "+sub, env)
	email := fs.String("email", "", "the user's email")
	var (
		passwordStdin *bool
		defaultRole   *string
		allowedRoles  *string
		until, reason *string
		verified      *bool
	)
	switch sub {
	case "set-password":
		passwordStdin = fs.Bool("password-stdin", false, "read the new password from standard input")
	case "add":
		passwordStdin = fs.Bool("password-stdin", false, "read the password from standard input")
		defaultRole = fs.String("default-role", "user", "the default role")
		allowedRoles = fs.String("allowed-roles", "", "comma-separated allowed roles")
		verified = fs.Bool("verified", false, "mark the address verified (else it is unverified until its owner proves it)")
	case "set-roles":
		defaultRole = fs.String("default-role", "", "the default role")
		allowedRoles = fs.String("allowed-roles", "", "comma-separated allowed roles")
	case "ban":
		until = fs.String("until", "", "when the ban ends: a duration from now (24h), a date (2030-01-01) or an RFC 3339 instant")
		reason = fs.String("reason", "", "why (recorded)")
	case "disable", "enable", "unban", "revoke-sessions", "set-claims", "verify", "delete":
	default:
		return usageError(fmt.Sprintf("user: unknown subcommand %q", sub))
	}
	var claims map[string]string
	if sub == "set-claims" {
		// set-claims takes name=value pairs after its flags.
		if err := fs.Parse(args); err != nil {
			return usageError(fmt.Sprintf("user set-claims: %v", err))
		}
		var err error
		if claims, err = parseClaims(fs.Args()); err != nil {
			return err
		}
	} else if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return usageError(fmt.Sprintf("user %s: --email is required", sub))
	}
	// The one normal form of the address, as every entry point uses it: the
	// command names the account it acted on in that form.
	addr, err := auth.NormalizeEmail(*email)
	if err != nil {
		return err
	}
	if (sub == "add" || sub == "set-password") && !*passwordStdin {
		return usageError(fmt.Sprintf("user %s: --password-stdin is required (passwords are never taken as arguments)", sub))
	}
	if sub == "set-roles" && *defaultRole == "" {
		return usageError("user set-roles: --default-role is required")
	}
	var banUntil time.Time
	if sub == "ban" {
		if banUntil, err = parseUntil(*until, time.Now()); err != nil {
			return err
		}
	}

	p, err := buildFromEnv(ctx, env)
	if err != nil {
		return err
	}
	defer p.store.Close()

	switch sub {
	case "add":
		pw, err := readPassword(env.Stdin)
		if err != nil {
			return err
		}
		u, err := p.auth.AddUser(ctx, addr, pw, *defaultRole, splitList(*allowedRoles))
		if err != nil {
			return err
		}
		if *verified {
			if _, err := p.auth.MarkEmailVerified(ctx, addr); err != nil {
				return err
			}
		}
		fmt.Fprintln(env.Stdout, u.ID)
	case "verify":
		if _, err := p.auth.MarkEmailVerified(ctx, addr); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "verified %s\n", addr)
	case "set-password":
		pw, err := readPassword(env.Stdin)
		if err != nil {
			return err
		}
		n, err := p.auth.SetUserPassword(ctx, addr, pw)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "password set for %s; %d session(s) ended\n", addr, n)
	case "disable", "enable":
		if err := p.auth.SetUserDisabled(ctx, addr, sub == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%sd %s\n", sub, addr)
	case "set-roles":
		if err := p.auth.SetUserRoles(ctx, addr, *defaultRole, splitList(*allowedRoles)); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "roles set for %s\n", addr)
	case "ban":
		n, err := p.auth.BanUser(ctx, addr, banUntil, *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "banned %s until %s; %d session(s) ended\n", addr, banUntil.UTC().Format(time.RFC3339Nano), n)
	case "unban":
		if err := p.auth.UnbanUser(ctx, addr); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "unbanned %s\n", addr)
	case "set-claims":
		set, err := p.auth.SetUserClaims(ctx, addr, claims)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%d claim(s) set for %s\n", len(set), addr)
	case "revoke-sessions":
		n, err := p.auth.RevokeUserSessions(ctx, addr)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, n)
	case "delete":
		n, err := p.auth.DeleteUser(ctx, addr)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted %s; %d session(s) ended\n", addr, n)
	}
	return nil
}

// parseUntil reads user ban's --until: a duration from now (24h, 90m), a
// date (2030-01-01, the start of that day in UTC) or an RFC 3339 instant.
func parseUntil(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return time.Time{}, usageError(fmt.Sprintf("user ban: --until %s is not in the future", v))
		}
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Time{}, usageError(fmt.Sprintf("user ban: --until must be a duration (24h), a date (2030-01-01) or an RFC 3339 instant (2030-01-02T15:04:05Z), got %q", v))
}

// runUserList runs `authgate user list [--search S]`: one line per user,
// by email, under a header; at most auth.MaxListedUsers.
func runUserList(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("user list", env)
	search := fs.String("search", "", "show only users whose email contains this text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	p, err := buildFromEnv(ctx, env)
	if err != nil {
		return err
	}
	defer p.store.Close()
	users, more, err := p.auth.ListUsers(ctx, *search)
	if err != nil {
		return err
	}
	now := time.Now()
	w := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tEMAIL\tROLES\tSTATUS\tCREATED")
	for _, u := range users {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, strings.Join(u.AllowedRoles, ","),
			userStatus(u, now), u.CreatedAt.UTC().Format(time.RFC3339))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	switch {
	case more:
		fmt.Fprintf(env.Stderr, "authgate: showing the first %d users; narrow the list with --search\n", auth.MaxListedUsers)
	case len(users) == 0 && *search != "":
		fmt.Fprintf(env.Stderr, "authgate: no user's email contains %q\n", *search)
	case len(users) == 0:
		fmt.Fprintln(env.Stderr, "authgate: no users yet")
	}
	return nil
}

// userStatus is active, disabled, or banned until when.
func userStatus(u auth.User, now time.Time) string {
	switch {
	case u.Disabled:
		return "disabled"
	case u.BannedUntil != nil && u.BannedUntil.After(now):
		return "banned until " + u.BannedUntil.UTC().Format(time.RFC3339)
	}
	return "active"
}

// parseClaims reads name=value arguments; no arguments clears the claims.
func parseClaims(args []string) (map[string]string, error) {
	claims := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return nil, usageError(fmt.Sprintf("user set-claims: %q is not name=value", a))
		}
		claims[name] = value
	}
	return claims, nil
}

// readPassword reads one line from r (the trailing newline is not part of
// the password).
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("no password on standard input")
	}
	return pw, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
