package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"authgate/internal/auth"
)

// runUser runs `authgate user <subcommand>`.
func runUser(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError("user: missing subcommand (add, import, disable, enable, ban, unban, set-roles, set-claims, revoke-sessions)")
	}
	sub, args := args[0], args[1:]
	if sub == "import" {
		return runUserImport(ctx, args, env)
	}
	fs := newFlagSet("user "+sub, env)
	email := fs.String("email", "", "the user's email")
	var (
		passwordStdin *bool
		defaultRole   *string
		allowedRoles  *string
		until, reason *string
	)
	switch sub {
	case "add":
		passwordStdin = fs.Bool("password-stdin", false, "read the password from standard input")
		defaultRole = fs.String("default-role", "user", "the default role")
		allowedRoles = fs.String("allowed-roles", "", "comma-separated allowed roles")
	case "set-roles":
		defaultRole = fs.String("default-role", "", "the default role")
		allowedRoles = fs.String("allowed-roles", "", "comma-separated allowed roles")
	case "ban":
		until = fs.String("until", "", "RFC 3339 instant the ban ends")
		reason = fs.String("reason", "", "why (recorded)")
	case "disable", "enable", "unban", "revoke-sessions", "set-claims":
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
	if sub == "add" && !*passwordStdin {
		return usageError("user add: --password-stdin is required (passwords are never taken as arguments)")
	}
	if sub == "set-roles" && *defaultRole == "" {
		return usageError("user set-roles: --default-role is required")
	}
	var banUntil time.Time
	if sub == "ban" {
		if banUntil, err = time.Parse(time.RFC3339Nano, *until); err != nil {
			return usageError(fmt.Sprintf("user ban: --until must be an RFC 3339 instant (e.g. 2030-01-02T15:04:05Z), got %q", *until))
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
		fmt.Fprintln(env.Stdout, u.ID)
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
	}
	return nil
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
