package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// TestRunLock: a run's lock is seen from another store on the same file
// while held, and gone after unlock.
func TestRunLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	a, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	run := inspector.NewHookID()
	alive := func() bool {
		t.Helper()
		ok, err := b.RunAlive(ctx, run)
		if err != nil {
			t.Fatalf("RunAlive: %v", err)
		}
		return ok
	}
	if alive() {
		t.Error("a run never locked is alive")
	}
	unlock, err := a.LockRun(ctx, run)
	if err != nil {
		t.Fatalf("LockRun: %v", err)
	}
	if !alive() || !alive() {
		t.Error("a locked run is not alive (or asking released it)")
	}
	if err := unlock(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if alive() {
		t.Error("the run is alive after unlock")
	}
	if _, err := b.RunAlive(ctx, "../x"); !errors.Is(err, inspector.ErrInvalid) {
		t.Errorf("RunAlive of a path-like id = %v, want ErrInvalid", err)
	}
}
