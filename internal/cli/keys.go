package cli

import (
	"crypto/rand"
	"errors"
	"fmt"

	"authgate/internal/config"
	"authgate/internal/token"
)

// runKeys runs `authgate keys generate --type T`.
func runKeys(args []string, env Env) error {
	if len(args) == 0 || args[0] != "generate" {
		return usageError("keys: the only subcommand is generate")
	}
	fs := newFlagSet("keys generate", env)
	keyType := fs.String("type", "", "Ed25519, RS256, RS384, RS512, ES256, ES384 or ES512")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *keyType == "" {
		return usageError("keys generate: --type is required (Ed25519, RS256 or ES256)")
	}
	pem, err := token.GenerateKey(*keyType, rand.Reader)
	if err != nil {
		return err
	}
	fmt.Fprint(env.Stdout, pem)
	return nil
}

// runHasuraConfig prints the HASURA_GRAPHQL_JWT_SECRET value Hasura needs
// for the current settings.
func runHasuraConfig(args []string, env Env) error {
	fs := newFlagSet("hasura-config", env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return err
	}
	if cfg.JWT == nil {
		return errors.New("HASURA_GRAPHQL_JWT_SECRET (or AUTHGATE_JWT_PRIVATE_KEYS) is not set")
	}
	if !cfg.JWT.Symmetric() && cfg.PublicURL == "" {
		return errors.New("AUTHGATE_PUBLIC_URL must be set: Hasura fetches the keys from <AUTHGATE_PUBLIC_URL>/.well-known/jwks.json")
	}
	value, err := cfg.JWT.HasuraJWTSecret(cfg.PublicURL)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, value)
	return nil
}
