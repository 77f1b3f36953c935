package app

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/postgres"
	"github.com/asana-webhooks/asana-webhooks/internal/postgres/pgtest"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

func TestOpenStore(t *testing.T) {
	pg := pgtest.Schema(t)
	tests := []struct {
		name     string
		db       string
		postgres bool
	}{
		{"sqlite path", filepath.Join(t.TempDir(), "inspector.db"), false},
		{"relative sqlite path", "inspector.db", false},
		{"postgres url", pg, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.postgres {
				t.Chdir(t.TempDir())
			}
			st, err := OpenStore(t.Context(), tt.db, nil, nil)
			if err != nil {
				t.Fatalf("OpenStore: %v", err)
			}
			defer st.Close()
			switch st.(type) {
			case *postgres.Store:
				if !tt.postgres {
					t.Errorf("%s opened PostgreSQL", tt.db)
				}
			case *sqlite.Store:
				if tt.postgres {
					t.Errorf("%s opened SQLite", tt.db)
				}
			default:
				t.Errorf("OpenStore returned a %T", st)
			}
		})
	}
}

// TestInspectorOnPostgres runs the inspector with --db set to a PostgreSQL
// URL: handshake, heartbeat and events are stored there, and the webhook is
// deleted (and marked so) on Close.
func TestInspectorOnPostgres(t *testing.T) {
	srv := emulatortest.New(t)
	project := srv.ProjectGID()
	db := pgtest.Schema(t)
	h := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{project}, DBPath: db})
	if _, ok := h.in.Store().(*postgres.Store); !ok {
		t.Fatalf("the inspector's store is a %T, want *postgres.Store", h.in.Store())
	}
	hooks := runHooks(t, h.in)
	if len(hooks) != 1 || !hooks[0].HasSecret || hooks[0].WebhookGID == "" {
		t.Fatalf("run hooks %+v, want one active hook with a secret", hooks)
	}
	hook := hooks[0]
	st := h.in.Store()
	waitFor(t, "the initial heartbeat", func() bool { return hasHeartbeat(t, st, hook.ID) })
	task, err := srv.CreateTask(srv.Token(), project, "Stored in PostgreSQL")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task's event", func() bool {
		return slices.ContainsFunc(eventsOf(t, st, hook.ID), func(e inspector.Event) bool {
			return e.ResourceGID == task && e.Action == "added"
		})
	})
	if err := h.in.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := srv.WebhookGIDs(); len(got) != 0 {
		t.Errorf("after Close the emulator still has webhooks %v", got)
	}
	st2, err := postgres.Open(context.Background(), db, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	got, err := st2.GetHook(context.Background(), hook.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != inspector.HookDeleted {
		t.Errorf("hook state after Close = %s, want deleted", got.State)
	}
}
