package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"

	"authgate/internal/config"
	"authgate/internal/token"
)

// runKeys runs `authgate keys generate --type T`.
func runKeys(args []string, env Env) error {
	if len(args) == 0 || args[0] != "generate" {
		return usageError("keys: the only subcommand is generate")
	}
	fs := newFlagSet("keys generate", env)
	keyType := fs.String("type", "", "HS256, HS384, HS512, Ed25519, RS256, RS384, RS512, ES256, ES384 or ES512")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch *keyType {
	case "":
		return usageError("keys generate: --type is required (HS256, Ed25519, RS256 or ES256)")
	case "HS256", "HS384", "HS512":
		// A shared secret is used as Hasura reads it: the whole JSON value
		// of HASURA_GRAPHQL_JWT_SECRET, the same on both sides.
		secret, err := token.GenerateHasuraSecret(*keyType, rand.Reader)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, secret)
		return nil
	}
	pem, err := token.GenerateKey(*keyType, rand.Reader)
	if err != nil {
		return fmt.Errorf("keys generate: --type %q is not one of HS256, HS384, HS512, Ed25519, RS256, RS384, RS512, ES256, ES384, ES512", *keyType)
	}
	fmt.Fprint(env.Stdout, pem)
	return nil
}

// runHasuraConfig prints the HASURA_GRAPHQL_JWT_SECRET value Hasura needs
// for the current settings, or for the development key `make run` made
// under --data-dir when no key is set.
func runHasuraConfig(args []string, env Env) error {
	fs := newFlagSet("hasura-config", env)
	dataDir := fs.String("data-dir", ".data", "where `make run` keeps its development key")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dev, err := loadDevSecrets(env.Getenv, *dataDir, nil, false)
	if err != nil {
		return err
	}
	cfg, err := config.Load(dev.getenv)
	if err != nil {
		return err
	}
	if cfg.JWT == nil {
		return fmt.Errorf("HASURA_GRAPHQL_JWT_SECRET (or AUTHGATE_JWT_PRIVATE_KEYS) is not set, and there is no development key in %s (make run makes one)",
			filepath.Join(*dataDir, devJWTSecretFile))
	}
	if !cfg.JWT.Symmetric() && cfg.PublicURL == "" && cfg.JWT.JWKURL() == "" {
		return errors.New("AUTHGATE_PUBLIC_URL must be set (or jwk_url in HASURA_GRAPHQL_JWT_SECRET): Hasura fetches the keys from <AUTHGATE_PUBLIC_URL>/.well-known/jwks.json")
	}
	value, err := cfg.JWT.HasuraJWTSecret(cfg.PublicURL)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, value)
	return nil
}
