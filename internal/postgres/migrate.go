package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockKey is the first half of the advisory lock taken while
// migrating; the second is a hash of the schema, so replicas of one schema
// migrate one at a time and other schemas are not held up.
const migrationLockKey = 0x61775f6d // "aw_m"

// migration is one embedded schema step, named NNNN_description.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		prefix, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and '_'", name)
		}
		body, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies the embedded migrations the schema lacks. Each runs in its
// own transaction together with its schema_migrations row, after taking a
// transaction-scoped advisory lock and reading the version again: replicas
// starting at once apply each migration exactly once, the others waiting for
// the lock and then finding it done.
func migrate(ctx context.Context, pool *pgxpool.Pool, now time.Time) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}
	for _, m := range ms {
		if err := applyMigration(ctx, pool, m, latest, now); err != nil {
			return err
		}
	}
	// With nothing left to apply, still refuse a schema from a newer program.
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		current, err := lockAndReadVersion(ctx, tx)
		if err != nil {
			return err
		}
		if current > latest {
			return fmt.Errorf("database schema version %d is newer than this program's %d", current, latest)
		}
		return nil
	})
}

// ErrNoDatabase: a read-only open found no inspector tables.
var ErrNoDatabase = errors.New("no inspector database here (run `asana-webhooks inspect` with this --db first)")

// checkVersion is the read-only open's check: the schema must be this
// program's, without creating or changing anything.
func checkVersion(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return ErrNoDatabase
	}
	var current int
	if err := pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case current == 0:
		return ErrNoDatabase
	case current > latest:
		return fmt.Errorf("database schema version %d is newer than this program's %d", current, latest)
	case current < latest:
		return fmt.Errorf("database schema version %d is older than this program's %d: run `asana-webhooks inspect` with this --db once to upgrade it", current, latest)
	}
	return nil
}

// lockAndReadVersion takes the migration lock for the transaction, makes sure
// schema_migrations exists and returns the highest applied version.
func lockAndReadVersion(ctx context.Context, tx pgx.Tx) (int, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(COALESCE(current_schema(), '')))`,
		int32(migrationLockKey)); err != nil {
		return 0, fmt.Errorf("take migration lock: %w", err)
	}
	var schema *string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return 0, fmt.Errorf("read current schema: %w", err)
	}
	if schema == nil {
		return 0, fmt.Errorf("no schema to create tables in: the search_path names no existing schema")
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return current, nil
}

func applyMigration(ctx context.Context, pool *pgxpool.Pool, m migration, latest int, now time.Time) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		current, err := lockAndReadVersion(ctx, tx)
		if err != nil {
			return err
		}
		if current > latest {
			return fmt.Errorf("database schema version %d is newer than this program's %d", current, latest)
		}
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`,
			m.version).Scan(&done); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if done {
			return nil
		}
		// No arguments: the simple protocol, which runs every statement of
		// the file.
		if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.version, m.name, now.UTC()); err != nil {
			return fmt.Errorf("record version: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	return nil
}
