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
	"authgate/internal/onetime"
	"authgate/internal/password"
	"authgate/internal/sealbox"
	"authgate/internal/store"
	"authgate/internal/token"
)

// Env is the process environment a command runs in.
type Env struct {
	Getenv func(string) string
	// LookupEnv, when set (os.LookupEnv), tells a setting set to "" from an
	// absent one; without it a setting is absent when Getenv returns "".
	LookupEnv func(string) (string, bool)
	// Environ lists the environment as NAME=value (os.Environ), to warn
	// about unknown AUTHGATE_* variables; nil skips the warning.
	Environ func() []string
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
}

// settings is how a command reads its settings: through getenv (Getenv,
// perhaps with development defaults filled in), and LookupEnv for the
// settings getenv leaves empty, which may still be set to "".
func (e Env) settings(getenv func(string) string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if v := getenv(name); v != "" {
			return v, true
		}
		if e.LookupEnv != nil {
			return e.LookupEnv(name)
		}
		return "", false
	}
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command is one line of the help: a command's synopsis (its words, then
// its flags) and what it does. A usage error shows the synopsis of the
// command it is about.
type command struct{ synopsis, about string }

// commands is the command line, in the order the help lists it.
var commands = []command{
	{"serve [--dev] [--data-dir D]", "run the HTTP server (the default command); --dev: development mode (make run)"},
	{"migrate", "apply pending database migrations and exit (needs only DATABASE_URL)"},
	{"healthcheck [--url U]", "exit 0 when the server's /healthz answers (for a container HEALTHCHECK)"},
	{"user add --email E --password-stdin [--default-role R] [--allowed-roles a,b] [--verified]", "create a user (its address unverified unless --verified); prints its id"},
	{"user verify --email E", "mark a user's address verified"},
	{"user list [--search S]", "list the users whose email contains S (all without it)"},
	{"user set-password --email E --password-stdin", "replace a user's password; ends every session"},
	{"user disable --email E", "disable a user and end its sessions"},
	{"user enable --email E", "enable a user again"},
	{"user set-roles --email E --default-role R --allowed-roles a,b", "replace a user's roles (seen at its next refresh)"},
	{"user set-claims --email E [x-hasura-name=value ...]", "replace a user's custom claims (none: clear them)"},
	{"user ban --email E --until T [--reason R]", "ban a user until T: a duration (24h), a date (2030-01-01) or an RFC 3339 instant; every token it holds dies"},
	{"user unban --email E", "lift a ban (old tokens stay dead)"},
	{"user revoke-sessions --email E", "end every session of a user; prints how many"},
	{"user delete --email E", "delete a user; its sessions end at once, its audit trail stays"},
	{"user import [--verified]", "create users from JSON lines on stdin, with password hashes made elsewhere (bcrypt, argon2id); reports each line; addresses unverified unless --verified"},
	{"audit --email E [--since D]", "print a user's security events, oldest first (D: a duration such as 24h, or an RFC 3339 instant)"},
	{"keys generate --type HS256|Ed25519|RS256|ES256", "print a new key: an HS* secret as Hasura's JSON, or a PKCS#8 PEM private key"},
	{"hasura-config [--data-dir D]", "print the HASURA_GRAPHQL_JWT_SECRET value Hasura needs (the development key too)"},
	{"token revoke --jti J --expires-at T", "denylist one access token until it expires"},
	{"purge", "delete expired and revoked rows once"},
	{"providers", "print each identity provider's callback URL and check its discovery document (AUTHGATE_PROVIDERS)"},
	{"mail test --to ADDR [--locale L]", "send one test mail now through AUTHGATE_SMTP_URL (not through the outbox) and print the server's answer"},
}

// usage is the help text.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: authgate [command] [flags]\n\ncommands:\n")
	for _, c := range commands {
		if len(c.synopsis) <= 28 {
			fmt.Fprintf(&b, "  %-30s%s\n", c.synopsis, c.about)
		} else {
			fmt.Fprintf(&b, "  %s\n  %30s%s\n", c.synopsis, "", c.about)
		}
	}
	b.WriteString("\nSettings come from the environment; docs/operations.md lists them.\n")
	return b.String()
}

// synopsisFor is the synopsis of the command a usage error names by its
// words ("user ban: …"), or "" when it names none.
func synopsisFor(msg string) string {
	best, bestWords := "", ""
	for _, c := range commands {
		words := commandWords(c.synopsis)
		if strings.HasPrefix(msg, words+":") && len(words) > len(bestWords) {
			best, bestWords = c.synopsis, words
		}
	}
	return best
}

// commandWords is the synopsis up to its first flag or argument.
func commandWords(synopsis string) string {
	var words []string
	for _, w := range strings.Fields(synopsis) {
		if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[") {
			break
		}
		words = append(words, w)
	}
	return strings.Join(words, " ")
}

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
	case "healthcheck":
		err = runHealthcheck(ctx, args[1:], env)
	case "mail":
		err = runMail(ctx, args[1:], env)
	case "providers":
		err = runProviders(ctx, args[1:], env)
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage())
		return exitOK
	default:
		err = usageError(fmt.Sprintf("unknown command %q", args[0]))
	}
	var ue usageErr
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(env.Stdout, usage())
		return exitOK
	case errors.As(err, &ue):
		// The one line that is wrong, and where to look: never the whole
		// help, which would push the line off the screen.
		fmt.Fprintf(env.Stderr, "authgate: %s\n", ue)
		if synopsis := synopsisFor(string(ue)); synopsis != "" {
			fmt.Fprintf(env.Stderr, "usage: authgate %s (authgate --help for every command)\n", synopsis)
		} else {
			fmt.Fprintln(env.Stderr, "run authgate --help for every command")
		}
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
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
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
	// clock is the system clock aligned with the database's (see clock.Aligned).
	clock *clock.Aligned
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
	// Every command takes revocation instants from the database's clock.
	clk := clock.NewAligned(clock.System{})
	if err := clk.Align(ctx, st.DatabaseNow); err != nil {
		st.Close()
		return nil, fmt.Errorf("reading the database's clock: %w", err)
	}
	if off := clk.Offset(); off > time.Second || off < -time.Second {
		logger.Warn("this machine's clock is off from the database's; authgate keeps time by the database's", "offset", off.String())
	}
	var issuer *token.Issuer
	if cfg.JWT != nil {
		issuer = token.NewIssuer(cfg.JWT, clk, rand.Reader, cfg.AccessTokenTTL)
	}
	keys, err := cfg.RefreshTokenKeys()
	if err != nil {
		st.Close()
		return nil, err
	}
	var (
		mailBox     *sealbox.Box
		oneTimeKeys *onetime.Keys
	)
	if cfg.RefreshTokenSecret != "" {
		previous := make([][]byte, len(cfg.RefreshTokenPreviousSecrets))
		for i, p := range cfg.RefreshTokenPreviousSecrets {
			previous[i] = []byte(p)
		}
		if mailBox, err = newMailBox([]byte(cfg.RefreshTokenSecret), previous...); err != nil {
			st.Close()
			return nil, err
		}
		// One-time tokens are hashed under a key derived from the same
		// secret (apart from the outbox's): the previous secrets still find
		// tokens made before a rotation.
		if oneTimeKeys, err = onetime.NewKeys([]byte(cfg.RefreshTokenSecret), previous...); err != nil {
			st.Close()
			return nil, fmt.Errorf("AUTHGATE_REFRESH_TOKEN_SECRET: %w", err)
		}
	}
	mfaKeys, err := cfg.MFA.Keys()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("AUTHGATE_MFA_ENCRYPTION_KEY: %w", err)
	}
	passkeys, err := cfg.MFA.Passkeys(cfg.Mail.AppName)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("AUTHGATE_WEBAUTHN_RP_ID: %w", err)
	}
	hasher := password.New(cfg.Argon2, cfg.HashConcurrency, rand.Reader)
	var leeway time.Duration
	if cfg.JWT != nil {
		leeway = cfg.JWT.AllowedSkew()
	}
	svc := auth.New(st, revocations, issuer, hasher, keys, clk, rand.Reader, auth.Config{
		RefreshTokenTTL:    cfg.RefreshTokenTTL,
		SessionMaxAge:      cfg.SessionMaxAge,
		RefreshReuseGrace:  cfg.RefreshReuseGrace,
		RefreshReplayLimit: cfg.RefreshReplayLimit,
		AuditRefreshes:     cfg.AuditRefreshes,
		SignupEnabled:      cfg.SignupEnabled,
		SignupRole:         cfg.SignupRole,
		SignupIPLimit:      cfg.SignupIPLimit,
		AccessTokenTTL:     cfg.AccessTokenTTL,
		AccessTokenLeeway:  leeway,
		Throttle:           cfg.LoginThrottle,
		AuditRetention:     cfg.AuditRetention,
		Mail:               mailConfig(mailBox, cfg.Mail),
		OneTimeKeys:        oneTimeKeys,
		EmailVerification:  cfg.EmailVerification,
		EmailTokenTTL:      cfg.EmailTokenTTL,
		EmailSignInTTL:     cfg.EmailSignInTTL,
		Redirects:          cfg.Redirects,
		EmailIPLimit:       cfg.EmailIPLimit,
		Providers:          providerIDs(cfg.Providers),
		PublicURL:          cfg.PublicURL,
		MFA: auth.MFAConfig{Keys: mfaKeys, Passkeys: passkeys, Issuer: cfg.Mail.AppName,
			RequiredRoles: cfg.MFA.RequiredRoles},
	})
	return &parts{cfg: cfg, store: st, auth: svc, issuer: issuer, clock: clk, mailBox: mailBox}, nil
}

func runMigrate(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("migrate", env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// Only the database matters here: a deployment can migrate before the
	// rest of its settings exist.
	st, err := store.Open(ctx, config.DatabaseURL(env.Getenv), store.PoolConfig{MaxConns: 2})
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
