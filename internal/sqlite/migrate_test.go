package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// TestMigrateEventsKeyKeepsDedup builds a file at schema version 1 holding
// events stored by that version, opens it with this one (which rebuilds the
// events table under its new key), and redelivers them: each is found, not
// stored again, and the rows kept their ids and foreign keys.
func TestMigrateEventsKeyKeepsDedup(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "v1.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].version != 1 || ms[1].version != 2 {
		t.Fatalf("migrations start %d, %d; the test expects 1, 2", ms[0].version, ms[1].version)
	}
	raws := []string{
		`{"action":"changed","created_at":"2026-12-04T16:00:00.123Z","resource":{"gid":"7","resource_type":"task"}}`,
		`{"action":"added","resource":{"gid":"8","resource_type":"task"}}`,                          // no created_at
		`{"action":"added","created_at":12,"resource":{"gid":"9","resource_type":"task"}}`,          // not a string
		`{"created_at":"2026-12-04T16:00:00.1\u00322Z","action":"removed","resource":{"gid":"10"}}`, // escaped
	}
	events := make([]inspector.IncomingEvent, len(raws))
	for i, raw := range raws {
		if events[i], err = inspector.NewIncomingEvent([]byte(raw)); err != nil {
			t.Fatal(err)
		}
	}

	// Version 1, written as version 1 wrote it.
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	v1 := []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
		ms[0].sql,
		`INSERT INTO schema_migrations VALUES (1, '` + ms[0].name + `', 0)`,
		`INSERT INTO runs (id, started_at, public_url) VALUES ('run', 0, 'http://x')`,
		`INSERT INTO hooks (id, resource_gid, target, state, run_id, last_run_id, created_at, updated_at)
			VALUES ('hook', '1', 't', 'active', 'run', 'run', 0, 0)`,
		`INSERT INTO deliveries (id, hook_id, received_at, headers, body, kind, event_count) VALUES (1, 'hook', 0, '{}', x'', 'events', 4)`,
	}
	for _, q := range v1 {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("build version 1: %v\n%s", err, q)
		}
	}
	for i, ev := range events {
		if _, err := db.ExecContext(ctx, `INSERT INTO events (id, hook_id, event_key, raw, first_seen_at, last_seen_at, receipts, first_delivery_id)
			VALUES (?, 'hook', ?, ?, 0, 0, 1, 1)`, 100+i, ev.Key, []byte(ev.Raw)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO delivery_events VALUES (1, ?, ?, 1)`, i, 100+i); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("open the version 1 file: %v", err)
	}
	defer s.Close()
	var version int
	if err := s.wdb.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != ms[len(ms)-1].version {
		t.Errorf("schema version %d after open, want %d", version, ms[len(ms)-1].version)
	}
	var fk int
	if err := s.wdb.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d (%v) after the migrations, want 1", fk, err)
	}
	res, err := s.RecordDelivery(ctx, inspector.Delivery{HookID: "hook", Kind: inspector.KindEvents}, events)
	if err != nil {
		t.Fatal(err)
	}
	for i, rc := range res.Events {
		if rc.New || rc.EventID != int64(100+i) || rc.Receipts != 2 {
			t.Errorf("event %d redelivered after the migration: %+v, want event %d, not new, 2 receipts", i, rc, 100+i)
		}
	}
	d, err := s.GetDelivery(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != len(raws) || string(d.Events[0].Event.Raw) != raws[0] {
		t.Errorf("delivery 1 after the migration: %+v", d)
	}
}
