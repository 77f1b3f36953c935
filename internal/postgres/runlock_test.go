package postgres

import (
	"context"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// TestRunLock: a run's lock is seen by another store on the database while
// held, and released by unlock or by Close.
func TestRunLock(t *testing.T) {
	ctx := context.Background()
	dsn := newSchema(t)
	a, b := open(t, dsn), open(t, dsn)
	run, other := inspector.NewHookID(), inspector.NewHookID()
	alive := func(s *Store, id string) bool {
		t.Helper()
		ok, err := s.RunAlive(ctx, id)
		if err != nil {
			t.Fatalf("RunAlive: %v", err)
		}
		return ok
	}
	unlock, err := a.LockRun(ctx, run)
	if err != nil {
		t.Fatalf("LockRun: %v", err)
	}
	if !alive(b, run) {
		t.Error("a run whose lock is held is not alive")
	}
	if !alive(b, run) {
		t.Error("asking twice released the lock")
	}
	if alive(b, other) {
		t.Error("a run nobody holds is alive")
	}
	if err := unlock(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if alive(b, run) {
		t.Error("the run is alive after unlock")
	}
	if _, err := a.LockRun(ctx, run); err != nil {
		t.Fatalf("LockRun again: %v", err)
	}
	a.Close()
	if alive(b, run) {
		t.Error("the run is alive after its store closed")
	}
}
