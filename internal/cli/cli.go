// Package cli is authgate's command line: it parses a command and its
// flags, builds the parts from the settings, and runs serve, migrate or an
// administrative command.
package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"authgate/internal/auth"
	"authgate/internal/clock"
	"authgate/internal/config"
	"authgate/internal/password"
	"authgate/internal/refreshtoken"
	"authgate/internal/sealbox"
	"authgate/internal/store"
	"authgate/internal/token"
)

// Env is the process environment a command runs in.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const usage = `usage: authgate [command] [flags]

commands:
  serve [--dev]                 run the HTTP server (the default command)
  migrate                       apply pending database migrations and exit
  user add --email E --password-stdin [--default-role R] [--allowed-roles a,b]
                                create a user; prints its id
  user disable --email E        disable a user and end its sessions
  user enable --email E         enable a user again
  user set-roles --email E --default-role R --allowed-roles a,b
                                replace a user's roles (seen at its next refresh)
  user set-claims --email E [x-hasura-name=value ...]
                                replace a user's custom claims (none: clear them)
  user ban --email E --until T [--reason R]
                                ban a user until T (RFC 3339); every token it holds dies
  user unban --email E          lift a ban (old tokens stay dead)
  user revoke-sessions --email E
                                end every session of a user; prints how many
  user import                   create users from JSON lines on stdin, with password
                                hashes made elsewhere (bcrypt, argon2id); reports each line
  audit --email E [--since D]   print a user's security events, oldest first (D: a
                                duration such as 24h, or an RFC 3339 instant)

  keys generate --type Ed25519|RS256|ES256
                                print a new PKCS#8 PEM private key
  hasura-config                 print the HASURA_GRAPHQL_JWT_SECRET value Hasura needs
  token revoke --jti J --expires-at T
                                denylist one access token until it expires
  purge                         delete expired and revoked rows once
  mail test --to ADDR [--locale L]
                                send one test mail now through AUTHGATE_SMTP_URL (not
                                through the outbox) and print the server's answer

Settings come from the environment; see README.md.
`

// Run runs the command in args and returns the process exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		args = []string{"serve"}
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], env)
	case "migrate":
		err = runMigrate(ctx, args[1:], env)
	case "user":
		err = runUser(ctx, args[1:], env)
	case "keys":
		err = runKeys(args[1:], env)
	case "hasura-config":
		err = runHasuraConfig(args[1:], env)
	case "token":
		err = runToken(ctx, args[1:], env)
	case "purge":
		err = runPurge(ctx, args[1:], env)
	case "audit":
		err = runAudit(ctx, args[1:], env)
	case "mail":
		err = runMail(ctx, args[1:], env)
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return exitOK
	default:
		err = usageError(fmt.Sprintf("unknown command %q", args[0]))
	}
	var ue usageErr
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "authgate: %s\n\n%s", ue, usage)
		return exitUsage
	default:
		fmt.Fprintf(env.Stderr, "authgate: %s\n", oneLine(err))
		return exitError
	}
}

type usageErr string

func (u usageErr) Error() string { return string(u) }

func usageError(msg string) error { return usageErr(msg) }

// oneLine describes err on one line, showing a domain error's message only.
func oneLine(err error) string {
	var ae *auth.Error
	if errors.As(err, &ae) {
		return fmt.Sprintf("%s (%s)", ae.Message, ae.Code)
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func newFlagSet(name string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError(fmt.Sprintf("%s: %v", fs.Name(), err))
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0)))
	}
	return nil
}

// parts are the built pieces a command works with.
type parts struct {
	cfg    *config.Config
	store  *store.Store
	auth   *auth.Service
	issuer *token.Issuer
	// mailBox seals and opens the mail outbox; nil without JWT settings.
	mailBox *sealbox.Box
}

// build opens the database, applies migrations and assembles the service.
// Without JWT settings the service can still run administrative commands.
// revocations is the in-memory revocation state (nil for commands that
// authenticate nobody).
func build(ctx context.Context, cfg *config.Config, revocations auth.Revocations, logger *slog.Logger) (*parts, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL, store.PoolConfig{MaxConns: cfg.DBMaxConns})
	if err != nil {
		return nil, err
	}
	applied, err := store.Migrate(ctx, st.DB().DB)
	if err != nil {
		st.Close()
		return nil, err
	}
	if len(applied) > 0 {
		logger.Info("applied migrations", "versions", applied)
	}
	if cfg.DBPrepare {
		if err := st.PrepareStatements(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	clk := clock.System{}
	var (
		issuer  *token.Issuer
		keys    refreshtoken.Keys
		mailBox *sealbox.Box
	)
	if cfg.JWT != nil {
		issuer = token.NewIssuer(cfg.JWT, clk, rand.Reader, cfg.AccessTokenTTL)
		secret := []byte(cfg.RefreshTokenSecret)
		if len(secret) == 0 {
			secret = cfg.JWT.SymmetricKey()
		}
		if keys, err = refreshtoken.NewKeys(secret); err != nil {
			st.Close()
			return nil, fmt.Errorf("AUTHGATE_REFRESH_TOKEN_SECRET: %w", err)
		}
		if mailBox, err = newMailBox(secret); err != nil {
			st.Close()
			return nil, err
		}
	}
	hasher := password.New(cfg.Argon2, cfg.HashConcurrency, rand.Reader)
	var leeway time.Duration
	if cfg.JWT != nil {
		leeway = cfg.JWT.AllowedSkew()
	}
	svc := auth.New(st, revocations, issuer, hasher, keys, clk, rand.Reader, auth.Config{
		RefreshTokenTTL:   cfg.RefreshTokenTTL,
		SessionMaxAge:     cfg.SessionMaxAge,
		RefreshReuseGrace: cfg.RefreshReuseGrace,
		SignupEnabled:     cfg.SignupEnabled,
		SignupRole:        cfg.SignupRole,
		AccessTokenTTL:    cfg.AccessTokenTTL,
		AccessTokenLeeway: leeway,
		Throttle:          cfg.LoginThrottle,
		AuditRetention:    cfg.AuditRetention,
		Mail:              mailConfig(mailBox, cfg.Mail),
	})
	return &parts{cfg: cfg, store: st, auth: svc, issuer: issuer, mailBox: mailBox}, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func runMigrate(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("migrate", env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.PoolConfig{MaxConns: 2})
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := store.Migrate(ctx, st.DB().DB)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "applied %d migration(s)\n", len(applied))
	return nil
}
