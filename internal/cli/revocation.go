package cli

import (
	"context"
	"fmt"
	"time"

	"authgate/internal/config"
)

// runToken runs `authgate token revoke --jti J --expires-at T`.
func runToken(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] != "revoke" {
		return usageError("token: the only subcommand is revoke")
	}
	fs := newFlagSet("token revoke", env)
	jti := fs.String("jti", "", "the access token's jti")
	expiresAt := fs.String("expires-at", "", "the token's expiry (RFC 3339): the denylist entry lives until then")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *jti == "" {
		return usageError("token revoke: --jti is required")
	}
	exp, err := time.Parse(time.RFC3339Nano, *expiresAt)
	if err != nil {
		return usageError(fmt.Sprintf("token revoke: --expires-at must be an RFC 3339 instant, got %q", *expiresAt))
	}
	p, err := buildFromEnv(ctx, env)
	if err != nil {
		return err
	}
	defer p.store.Close()
	if err := p.auth.DenyAccessToken(ctx, *jti, exp); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "revoked access token %s\n", *jti)
	return nil
}

// runPurge runs one purge round.
func runPurge(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("purge", env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	p, err := buildFromEnv(ctx, env)
	if err != nil {
		return err
	}
	defer p.store.Close()
	res, err := p.auth.Purge(ctx)
	if err != nil {
		return err
	}
	if res.Skipped {
		fmt.Fprintln(env.Stdout, "another instance is purging; nothing done")
		return nil
	}
	fmt.Fprintf(env.Stdout, "purged %d session(s), %d retired refresh token(s), %d denylisted access token(s), %d audit event(s), %d login throttle(s)\n",
		res.Sessions, res.RetiredTokens, res.DeniedTokens, res.AuditEvents, res.LoginThrottles)
	return nil
}

// buildFromEnv loads the settings and builds the parts an administrative
// command needs.
func buildFromEnv(ctx context.Context, env Env) (*parts, error) {
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return nil, err
	}
	return build(ctx, cfg, nil, newLogger(env.Stderr, "warn", false))
}
