// Command authgate is a login-and-session service for Hasura: short-lived
// JWT access tokens, rotating refresh tokens, and session management, over
// GraphQL and Hasura Actions. See README.md.
package main

//go:generate go tool gqlgen generate
//go:generate go tool gqlgen generate --config admin.gqlgen.yml

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"authgate/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{
		Getenv:    os.Getenv,
		LookupEnv: os.LookupEnv,
		Environ:   os.Environ,
		Stdin:     os.Stdin,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
	})
	stop()
	os.Exit(code)
}
