package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/jackc/pgx/v5"
)

// TestReadOnlyOpen: a read-only open (the deliveries command) creates no
// table in an empty schema, and a read-only store on a real database reads
// but cannot write.
func TestReadOnlyOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("empty schema: no database, nothing created", func(t *testing.T) {
		dsn := newSchema(t)
		if s, err := Open(ctx, dsn, Options{ReadOnly: true}); err == nil {
			s.Close()
			t.Fatal("read-only Open of an empty schema succeeded")
		} else if !errors.Is(err, ErrNoDatabase) {
			t.Errorf("read-only Open of an empty schema: %v, want ErrNoDatabase", err)
		}
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var tables int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("the read-only open created %d tables", tables)
		}
	})
	t.Run("existing database: reads, refuses writes", func(t *testing.T) {
		dsn := newSchema(t)
		rw := open(t, dsn)
		if err := rw.CreateRun(ctx, inspector.Run{ID: inspector.NewHookID(), PublicURL: "https://x.example"}); err != nil {
			t.Fatal(err)
		}
		ro, err := Open(ctx, dsn, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only Open: %v", err)
		}
		defer ro.Close()
		runs, err := ro.ListRuns(ctx)
		if err != nil || len(runs) != 1 {
			t.Fatalf("ListRuns = %v, %v; want the one run", runs, err)
		}
		if err := ro.CreateRun(ctx, inspector.Run{ID: inspector.NewHookID(), PublicURL: "https://x.example"}); err == nil {
			t.Error("a read-only store wrote a run")
		}
	})
}
