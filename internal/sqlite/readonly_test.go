package sqlite

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// TestReadOnlyOpen: a read-only open creates nothing, migrates nothing and
// writes nothing; a missing or empty file is ErrNoDatabase.
func TestReadOnlyOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ro := Options{ReadOnly: true}
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(dir, "missing.db")
		if _, err := Open(ctx, path, ro); !errors.Is(err, ErrNoDatabase) {
			t.Errorf("Open = %v, want ErrNoDatabase", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the file was created: %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		path := filepath.Join(dir, "empty.db")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, path, ro); !errors.Is(err, ErrNoDatabase) {
			t.Errorf("Open = %v, want ErrNoDatabase", err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
			t.Errorf("the empty file changed: %v, %v", fi, err)
		}
	})
	t.Run("database", func(t *testing.T) {
		path := filepath.Join(dir, "a%20b.db") // '%' must not be taken for a URI escape
		rw, err := Open(ctx, path, Options{})
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
		s, err := Open(ctx, path, ro)
		if err != nil {
			t.Fatalf("read-only Open: %v", err)
		}
		if runs, err := s.ListRuns(ctx); err != nil || len(runs) != 1 {
			t.Errorf("ListRuns = %v, %v; want one run", runs, err)
		}
		if err := s.CreateRun(ctx, inspector.Run{ID: inspector.NewHookID(), PublicURL: "https://x.example"}); err == nil {
			t.Error("a read-only store wrote a run")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Error("the database file changed")
		}
	})
}
