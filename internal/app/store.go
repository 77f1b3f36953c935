package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/postgres"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// IsPostgresURL reports whether a --db value names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgresURL(db string) bool { return postgres.IsURL(db) }

// OpenStore opens the inspector's store named by db, the value of --db: a
// postgres:// or postgresql:// URL opens PostgreSQL (several inspectors may
// share it), anything else is the path of a SQLite file. This is the one
// place where the backend is chosen. log and now may be nil.
func OpenStore(ctx context.Context, db string, log *slog.Logger, now func() time.Time) (inspector.Store, error) {
	if postgres.IsURL(db) {
		return postgres.Open(ctx, db, postgres.Options{Logger: log, Now: now})
	}
	return sqlite.Open(ctx, db, sqlite.Options{Logger: log, Now: now})
}

// ErrNoDatabase: OpenStoreReadOnly found no inspector database at --db.
var ErrNoDatabase = errors.New("no inspector database")

// OpenStoreReadOnly opens the store named by db for a command that only
// reads it (deliveries): it never creates, migrates or writes anything. A
// missing file, or a file or database without the inspector's tables, is an
// error wrapping ErrNoDatabase that names db ("no inspector database at
// PATH"); so is an older schema, which only inspect upgrades.
func OpenStoreReadOnly(ctx context.Context, db string, log *slog.Logger) (inspector.Store, error) {
	if postgres.IsURL(db) {
		st, err := postgres.Open(ctx, db, postgres.Options{Logger: log, ReadOnly: true})
		if errors.Is(err, postgres.ErrNoDatabase) {
			return nil, fmt.Errorf("%w at %s (run `asana-webhooks inspect` with this --db first)", ErrNoDatabase, postgres.Redact(db))
		}
		return st, err
	}
	fi, err := os.Stat(db)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return nil, fmt.Errorf("%w at %s (run `asana-webhooks inspect` first, or pass --db)", ErrNoDatabase, db)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", db, err)
	case fi.IsDir():
		return nil, fmt.Errorf("%s is a directory, not an inspector database file", db)
	}
	st, err := sqlite.Open(ctx, db, sqlite.Options{Logger: log, ReadOnly: true})
	if errors.Is(err, sqlite.ErrNoDatabase) {
		return nil, fmt.Errorf("%w at %s (the file holds no inspector tables)", ErrNoDatabase, db)
	}
	return st, err
}
