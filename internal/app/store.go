package app

import (
	"context"
	"log/slog"
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
