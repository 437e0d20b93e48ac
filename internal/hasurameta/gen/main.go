// Command gen writes hasura/metadata/actions.graphql and actions.yaml from
// schema.graphql; `go generate ./internal/hasurameta` runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"authgate/internal/hasurameta"
)

func main() {
	schemaPath := flag.String("schema", "schema.graphql", "authgate's GraphQL schema")
	outDir := flag.String("out", "hasura/metadata", "the Hasura metadata directory to write actions.graphql and actions.yaml into")
	flag.Parse()
	if err := run(*schemaPath, *outDir); err != nil {
		fmt.Fprintln(os.Stderr, "hasurameta gen:", err)
		os.Exit(1)
	}
}

func run(schemaPath, outDir string) error {
	sdl, err := os.ReadFile(schemaPath)
	if err != nil {
		return err
	}
	gql, yml, err := hasurameta.Generate(string(sdl))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "actions.graphql"), gql, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outDir, "actions.yaml"), yml, 0o644)
}
