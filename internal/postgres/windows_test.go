package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// TestSharedWindows: a window one store opens is open for another on the
// same database until closed, until its ttl passes, or once the hook is no
// longer pending; only a pending hook's window opens.
func TestSharedWindows(t *testing.T) {
	ctx := context.Background()
	dsn := newSchema(t)
	a, b := open(t, dsn), open(t, dsn)
	if err := a.CreateRun(ctx, inspector.Run{ID: "run", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	newHook := func() string {
		t.Helper()
		h := inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1"}, Target: "t", RunID: "run"}
		if err := a.CreateHook(ctx, h); err != nil {
			t.Fatal(err)
		}
		return h.ID
	}
	isOpen := func(id string) bool {
		t.Helper()
		open, err := b.HandshakeWindowOpen(ctx, id)
		if err != nil {
			t.Fatalf("HandshakeWindowOpen: %v", err)
		}
		return open
	}

	id := newHook()
	if isOpen(id) {
		t.Error("a window nobody opened is open")
	}
	if err := a.OpenHandshakeWindow(ctx, id, time.Minute); err != nil {
		t.Fatalf("OpenHandshakeWindow: %v", err)
	}
	if !isOpen(id) {
		t.Error("the window opened by another store is not open")
	}
	if err := a.CloseHandshakeWindow(ctx, id); err != nil {
		t.Fatalf("CloseHandshakeWindow: %v", err)
	}
	if isOpen(id) {
		t.Error("a closed window is open")
	}
	if err := a.CloseHandshakeWindow(ctx, id); err != nil {
		t.Errorf("closing a closed window: %v", err)
	}

	// A ttl already over: as a window whose process died long ago.
	if err := a.OpenHandshakeWindow(ctx, id, -time.Second); err != nil {
		t.Fatal(err)
	}
	if isOpen(id) {
		t.Error("a window past its ttl is open")
	}

	// Settled hooks: an open window no longer counts, and none opens.
	if err := a.OpenHandshakeWindow(ctx, id, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveHandshake(ctx, id, asana.NewSecret("s")); err != nil {
		t.Fatal(err)
	}
	if err := a.ActivateHook(ctx, id, "1200000000000099"); err != nil {
		t.Fatal(err)
	}
	if isOpen(id) {
		t.Error("the window of an active hook is open")
	}
	if err := a.OpenHandshakeWindow(ctx, id, time.Minute); !errors.Is(err, inspector.ErrInvalidState) {
		t.Errorf("opening the window of an active hook: %v, want ErrInvalidState", err)
	}
	if err := a.OpenHandshakeWindow(ctx, "nosuchhook", time.Minute); !errors.Is(err, inspector.ErrNotFound) {
		t.Errorf("opening the window of an unknown hook: %v, want ErrNotFound", err)
	}
	if open, err := b.HandshakeWindowOpen(ctx, "nosuchhook"); open || err != nil {
		t.Errorf("the window of an unknown hook: %v, %v; want closed", open, err)
	}
}
