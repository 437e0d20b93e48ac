// Package migrations holds authgate's numbered SQL migrations, embedded into
// the binary. A migration is never edited once it has landed: add a new one.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
