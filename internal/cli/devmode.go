package cli

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"authgate/internal/config"
	"authgate/internal/token"
)

// DevAddr is where `serve --dev` (make run) listens when neither
// AUTHGATE_ADDR nor PORT is set: Hasura keeps its own 8080.
const DevAddr = ":8090"

// devJWTSecretFile holds the development HASURA_GRAPHQL_JWT_SECRET under the
// data directory.
const devJWTSecretFile = "dev-jwt-secret.json"

// devSecret is a setting that development mode fills from a file under the
// data directory when the environment leaves it unset, generating the file
// on first use: the same secrets across restarts, none in the repository.
// More generated secrets are one entry each.
type devSecret struct {
	// setting is the environment variable the file stands in for.
	setting string
	// file is its name under the data directory.
	file string
	// alternatives are settings that make this one unnecessary when set.
	alternatives []string
	// generate makes a new value from random.
	generate func(random io.Reader) (string, error)
}

// devSecrets are the secrets development mode generates.
var devSecrets = []devSecret{
	{
		setting: "HASURA_GRAPHQL_JWT_SECRET", file: devJWTSecretFile,
		alternatives: []string{"AUTHGATE_JWT_PRIVATE_KEYS"},
		generate:     func(random io.Reader) (string, error) { return token.GenerateHasuraSecret("HS256", random) },
	},
	{
		// 32 random bytes, hex: 64 bytes, over the 32 an action secret needs.
		setting: "AUTHGATE_ACTION_SECRET", file: "dev-action-secret",
		generate: randomHex,
	},
	{
		// Refresh tokens have their own key, apart from the JWT key Hasura holds.
		setting: "AUTHGATE_REFRESH_TOKEN_SECRET", file: "dev-refresh-token-secret",
		generate: randomHex,
	},
}

// randomHex is 32 bytes from random, hex-encoded.
func randomHex(random io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// devEnv is the environment development mode runs with.
type devEnv struct {
	getenv  func(string) string
	dataDir string
	// fromFiles maps each setting filled from a development file to the
	// file's path.
	fromFiles map[string]string
	// generated are the files made by this run.
	generated []string
}

// loadDevSecrets returns getenv with each development secret the
// environment leaves unset filled from its file under dataDir. With create,
// missing files are generated from random (serve --dev); without, only
// existing ones are read (hasura-config).
func loadDevSecrets(getenv func(string) string, dataDir string, random io.Reader, create bool) (devEnv, error) {
	d := devEnv{fromFiles: map[string]string{}, dataDir: dataDir}
	values := map[string]string{}
	for _, s := range devSecrets {
		if isSet(getenv, s.setting) || isSet(getenv, s.alternatives...) {
			continue
		}
		path := filepath.Join(dataDir, s.file)
		raw, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist) && !create:
			continue
		case errors.Is(err, os.ErrNotExist):
			value, err := s.generate(random)
			if err != nil {
				return devEnv{}, fmt.Errorf("generating a development %s: %w", s.setting, err)
			}
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return devEnv{}, fmt.Errorf("creating %s: %w", dataDir, err)
			}
			if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
				return devEnv{}, fmt.Errorf("writing %s: %w", path, err)
			}
			raw = []byte(value)
			d.generated = append(d.generated, path)
		case err != nil:
			return devEnv{}, fmt.Errorf("reading %s: %w", path, err)
		}
		values[s.setting] = strings.TrimSpace(string(raw))
		d.fromFiles[s.setting] = path
	}
	d.getenv = func(name string) string {
		if v, ok := values[name]; ok {
			return v
		}
		return getenv(name)
	}
	return d, nil
}

// withDevDefaults returns getenv with development mode's defaults for what
// the environment leaves unset: the listen address DevAddr.
func withDevDefaults(getenv func(string) string) func(string) string {
	return func(name string) string {
		if name == "AUTHGATE_ADDR" && !isSet(getenv, "AUTHGATE_ADDR", "PORT") {
			return DevAddr
		}
		return getenv(name)
	}
}

// isSet reports whether any of the settings is set to something.
func isSet(getenv func(string) string, names ...string) bool {
	for _, n := range names {
		if strings.TrimSpace(getenv(n)) != "" {
			return true
		}
	}
	return false
}

// newLogger logs at level: human-readable text in development, JSON lines
// (for log collectors) otherwise.
func newLogger(w io.Writer, level string, dev bool) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if dev {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// warnDevSecrets says loudly which secrets come from development files.
func warnDevSecrets(logger *slog.Logger, d devEnv) {
	for _, s := range devSecrets {
		if path, ok := d.fromFiles[s.setting]; ok {
			logger.Warn("!!! DEVELOPMENT MODE: " + s.setting + " is not set; using the generated development value in " + path +
				" — never use it in production; set " + s.setting + " instead !!!")
		}
	}
}

// warnUnknownSettings warns about each AUTHGATE_* variable that is not a
// setting, with the one it most likely meant.
func warnUnknownSettings(logger *slog.Logger, environ []string) {
	for _, u := range config.UnknownSettings(environ) {
		if u.Nearest != "" {
			logger.Warn(u.Name+" is not an authgate setting and is ignored; did you mean "+u.Nearest+"?",
				"name", u.Name, "nearest", u.Nearest)
			continue
		}
		logger.Warn(u.Name+" is not an authgate setting and is ignored (docs/operations.md lists them)", "name", u.Name)
	}
}

// devBanner is what `make run` prints once it listens: where to open the
// playground, and the lines Hasura's environment needs, ready to paste.
// Only secrets development mode generated are printed; a value the
// environment set is its owner's, and stays out of the terminal.
func devBanner(w io.Writer, cfg *config.Config, listenAddr string, d devEnv) {
	local := "http://" + browserAddr(listenAddr)
	authgateURL := cfg.PublicURL
	if authgateURL == "" {
		_, port, _ := net.SplitHostPort(listenAddr)
		authgateURL = "http://host.docker.internal:" + port
	}
	var jwtLine string
	switch value, err := cfg.JWT.HasuraJWTSecret(cfg.PublicURL); {
	case d.fromFiles["HASURA_GRAPHQL_JWT_SECRET"] != "" || (err == nil && !cfg.JWT.Symmetric()):
		jwtLine = "HASURA_GRAPHQL_JWT_SECRET=" + shellQuote(value)
	case err != nil:
		jwtLine = "# HASURA_GRAPHQL_JWT_SECRET: set AUTHGATE_PUBLIC_URL, then run authgate hasura-config"
	default:
		jwtLine = "# HASURA_GRAPHQL_JWT_SECRET: the value you set (authgate hasura-config prints it)"
	}
	actionLine := "# AUTHGATE_ACTION_SECRET: the value you set"
	if d.fromFiles["AUTHGATE_ACTION_SECRET"] != "" {
		actionLine = "AUTHGATE_ACTION_SECRET=" + shellQuote(cfg.ActionSecret)
	}

	fmt.Fprintf(w, `
authgate is running in development mode.

  Playground  %[1]s/
  GraphQL     %[1]s/graphql
  Actions     %[1]s/actions (for Hasura)

Hasura's environment, ready to paste (docker run -e …, or a Compose .env file):

  %[2]s
  %[3]s
  AUTHGATE_URL=%[4]s
  HASURA_GRAPHQL_UNAUTHORIZED_ROLE=anonymous

`, local, jwtLine, actionLine, shellQuote(authgateURL))
	if strings.Contains(authgateURL, "host.docker.internal") {
		fmt.Fprintln(w, "Hasura in Docker on Linux also needs --add-host=host.docker.internal:host-gateway (extra_hosts in Compose).")
	}
	if host, _, _ := net.SplitHostPort(listenAddr); isLoopback(host) {
		fmt.Fprintf(w, "authgate listens on %s only: Hasura in Docker cannot reach it there; set AUTHGATE_ADDR=%s.\n", host, DevAddr)
	}
	if len(d.fromFiles) > 0 {
		fmt.Fprintf(w, "The secrets are development secrets kept in %s/ (make reset forgets them); never use them in production.\n", d.dataDir)
	}
	fmt.Fprintln(w)
}

// browserAddr is host:port for a browser on this machine: localhost when
// the server listens on every address.
func browserAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if a, err := netip.ParseAddr(host); host == "" || (err == nil && a.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func isLoopback(host string) bool {
	a, err := netip.ParseAddr(host)
	return host == "localhost" || (err == nil && a.IsLoopback())
}

// shellQuote quotes s for a POSIX shell (and for Compose .env files, which
// strip the quotes).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
