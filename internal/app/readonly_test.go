package app

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/postgres/pgtest"
)

// TestOpenStoreReadOnly: a reading command never creates, migrates or
// writes: a missing file stays missing, an empty file stays empty (both
// "no inspector database at PATH"), and a real database is read unchanged.
func TestOpenStoreReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(dir, "missing.db")
		_, err := OpenStoreReadOnly(ctx, path, nil)
		if !errors.Is(err, ErrNoDatabase) || !bytes.Contains([]byte(err.Error()), []byte("no inspector database at "+path)) {
			t.Errorf("err = %v; want no inspector database at %s", err, path)
		}
		if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("the file was created: %v", serr)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		path := filepath.Join(dir, "empty.db")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := OpenStoreReadOnly(ctx, path, nil)
		if !errors.Is(err, ErrNoDatabase) {
			t.Errorf("err = %v; want ErrNoDatabase", err)
		}
		if b, _ := os.ReadFile(path); len(b) != 0 {
			t.Errorf("the empty file was written: %d bytes", len(b))
		}
	})
	t.Run("existing database", func(t *testing.T) {
		path := filepath.Join(dir, "real.db")
		rw, err := OpenStore(ctx, path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rw.CreateRun(ctx, inspector.Run{ID: inspector.NewHookID(), PublicURL: "https://x.example"}); err != nil {
			t.Fatal(err)
		}
		if err := rw.Close(); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(path)
		ro, err := OpenStoreReadOnly(ctx, path, nil)
		if err != nil {
			t.Fatalf("OpenStoreReadOnly: %v", err)
		}
		runs, err := ro.ListRuns(ctx)
		if err != nil || len(runs) != 1 {
			t.Errorf("ListRuns = %v, %v; want the one run", runs, err)
		}
		if err := ro.CreateRun(ctx, inspector.Run{ID: inspector.NewHookID(), PublicURL: "https://x.example"}); err == nil {
			t.Error("the read-only store wrote a run")
		}
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Error("the database file changed")
		}
	})
	t.Run("empty postgres schema", func(t *testing.T) {
		_, err := OpenStoreReadOnly(ctx, pgtest.Schema(t), nil)
		if !errors.Is(err, ErrNoDatabase) {
			t.Errorf("err = %v; want ErrNoDatabase", err)
		}
	})
}
