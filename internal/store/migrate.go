package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	"authgate/migrations"
)

// Migrate applies every pending migration in migrations.FS and returns the
// versions it applied. Instances starting together are serialised by a lock
// row (not a session advisory lock, so it also works through PgBouncer in
// transaction mode). It fails when a migration fails; applied ones stay.
func Migrate(ctx context.Context, db *sql.DB) ([]int64, error) {
	return MigrateTo(ctx, db, goose.MaxVersion)
}

// MigrateTo is Migrate, stopping after version (tests start from an older
// schema with it, to check an upgrade).
func MigrateTo(ctx context.Context, db *sql.DB, version int64) ([]int64, error) {
	// goose keeps its bookkeeping in the auth schema, which must exist first.
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS auth`); err != nil {
		return nil, fmt.Errorf("creating schema auth: %w", mapError(err))
	}
	versions, err := database.NewStore(database.DialectPostgres, "auth.schema_migrations")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresTableLocker(lock.WithTableName("auth.schema_migrations_lock"))
	if err != nil {
		return nil, err
	}
	provider, err := goose.NewProvider("", db, migrations.FS, goose.WithGoMigrations(migrations.Go...),
		goose.WithStore(versions), goose.WithLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	results, err := provider.UpTo(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("migrating: %w", mapError(err))
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}
