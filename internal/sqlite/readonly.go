package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// ErrNoDatabase: a read-only open found no inspector database at the path.
var ErrNoDatabase = errors.New("no inspector database")

// openReadOnly is Open with Options.ReadOnly: every connection is opened
// mode=ro, nothing is created, migrated or checkpointed.
func openReadOnly(ctx context.Context, path string, opts Options) (*Store, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open sqlite store %s: %w", path, ErrNoDatabase)
	case err != nil:
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("open sqlite store %s: a directory, not a database file", path)
	case fi.Size() == 0:
		return nil, fmt.Errorf("open sqlite store %s: the file is empty: %w", path, ErrNoDatabase)
	}
	// A file: URI, so that mode=ro reaches SQLite; '%' is its escape.
	uri := "file:" + strings.ReplaceAll(path, "%", "%25") +
		fmt.Sprintf("?mode=ro&_pragma=busy_timeout(%d)&_pragma=query_only(1)&_pragma=foreign_keys(1)", opts.BusyTimeout.Milliseconds())
	dbs := make([]*sql.DB, 3)
	for i := range dbs {
		if dbs[i], err = sql.Open("sqlite", uri); err != nil {
			for _, d := range dbs[:i] {
				d.Close()
			}
			return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
		}
	}
	wdb, rdb, cdb := dbs[0], dbs[1], dbs[2]
	wdb.SetMaxOpenConns(1)
	rdb.SetMaxOpenConns(opts.ReadConns)
	rdb.SetMaxIdleConns(opts.ReadConns)
	cdb.SetMaxOpenConns(1)
	if err := checkVersion(ctx, rdb); err != nil {
		wdb.Close()
		rdb.Close()
		cdb.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return start(ctx, path, opts, wdb, rdb, cdb, false)
}

// checkVersion requires the schema of this program, without changing
// anything.
func checkVersion(ctx context.Context, db *sql.DB) error {
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	if tables == 0 {
		return ErrNoDatabase
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case current == 0:
		return ErrNoDatabase
	case current > latest:
		return fmt.Errorf("database schema version %d is newer than this program's %d", current, latest)
	case current < latest:
		return fmt.Errorf("database schema version %d is older than this program's %d: run `asana-webhooks inspect` on it once to upgrade it", current, latest)
	}
	return nil
}
