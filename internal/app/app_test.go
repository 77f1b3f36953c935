package app

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// harness is a started inspector with its outputs.
type harness struct {
	in             *Inspector
	stdout, stderr *syncBuffer
}

func newClient(srv *emulator.Server, token string) *asana.Client {
	return asana.NewClient(token, asana.WithBaseURL(srv.BaseURL()), asana.WithTimeouts(10*time.Second, 20*time.Second))
}

// start starts an inspector on a free port whose public URL is its own
// address (unless cfg says otherwise), and closes it when the test ends.
func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	cfg.Stdout, cfg.Stderr = h.stdout, h.stderr
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	in, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.in = in
	t.Cleanup(func() { _ = in.Close() })
	if err := in.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v\nstdout:\n%s\nstderr:\n%s", err, h.stdout, h.stderr)
	}
	return h
}

func dbPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "inspector.db")
}

func runHooks(t *testing.T, in *Inspector) []inspector.Hook {
	t.Helper()
	hooks, err := in.Manager().Hooks(context.Background())
	if err != nil {
		t.Fatalf("Hooks: %v", err)
	}
	return hooks
}

// eventsOf lists the events stored for a hook.
func eventsOf(t *testing.T, st inspector.Store, hookID string) []inspector.Event {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), inspector.EventFilter{HookID: hookID, Limit: 1000})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	return evs
}

func hasHeartbeat(t *testing.T, st inspector.Store, hookID string) bool {
	t.Helper()
	ds, err := st.ListDeliveries(context.Background(), inspector.DeliveryFilter{HookID: hookID, Kind: inspector.KindHeartbeat})
	if err != nil {
		t.Fatalf("ListDeliveries: %v", err)
	}
	return len(ds) > 0
}

func TestCreateHandshakeDeliveriesAndCleanup(t *testing.T) {
	srv := emulatortest.New(t)
	project := srv.ProjectGID()
	db := dbPath(t)
	h := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{project}, DBPath: db})

	hooks := runHooks(t, h.in)
	if len(hooks) != 1 {
		t.Fatalf("run has %d hooks, want 1", len(hooks))
	}
	hook := hooks[0]
	if !strings.HasPrefix(hook.Target, h.in.PublicURL()+"/hooks/"+hook.ID+"?project="+project) {
		t.Errorf("target %q does not use public URL %s and hook %s", hook.Target, h.in.PublicURL(), hook.ID)
	}
	if hook.WorkspaceGID != srv.WorkspaceGID() || !hook.HasSecret || hook.WebhookGID == "" {
		t.Errorf("hook = %+v", hook)
	}
	if got := srv.WebhookGIDs(); !slices.Equal(got, []string{hook.WebhookGID}) {
		t.Fatalf("emulator webhooks = %v, want [%s]", got, hook.WebhookGID)
	}
	st := h.in.Store()
	waitFor(t, "the initial heartbeat", func() bool { return hasHeartbeat(t, st, hook.ID) })

	task, err := srv.CreateTask(srv.Token(), project, "Inspect me")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.UpdateTask(srv.Token(), task, emulator.TaskUpdate{Name: ptr("Inspected")}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddComment(srv.Token(), task, "looks good"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task's events", func() bool {
		var added, changed, story bool
		for _, e := range eventsOf(t, st, hook.ID) {
			switch {
			case e.ResourceGID == task && e.Action == "added":
				added = true
			case e.ResourceGID == task && e.Action == "changed":
				changed = true
			case e.ResourceType == "story" && e.Action == "added":
				story = true
			}
		}
		return added && changed && story
	})
	waitFor(t, "the terminal lines", func() bool {
		out := h.stdout.String()
		return strings.Contains(out, "heartbeat") && strings.Contains(out, "added  task "+task) &&
			strings.Contains(out, "changed  task "+task+"  field=name")
	})

	if err := h.in.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := srv.WebhookGIDs(); len(got) != 0 {
		t.Errorf("after Close the emulator still has webhooks %v", got)
	}
	if !strings.Contains(h.stdout.String(), "deleted webhook "+hook.WebhookGID) {
		t.Errorf("stdout does not say which webhook was deleted:\n%s", h.stdout)
	}
	st2, err := sqlite.Open(context.Background(), db, sqlite.Options{})
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

func ptr[T any](v T) *T { return &v }

// decodeLines decodes every line of s as a JSON object.
func decodeLines(t *testing.T, s string) []map[string]json.RawMessage {
	t.Helper()
	var out []map[string]json.RawMessage
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stdout line is not a JSON object: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestRunCallsOnReadyAndStopsOnCancel(t *testing.T) {
	srv := emulatortest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	in, err := New(Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: dbPath(t),
		Listen: "127.0.0.1:0", OnReady: func(in *Inspector) { ready <- in.Addr() }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	select {
	case addr := <-ready:
		if !strings.HasPrefix(in.PublicURL(), "http://"+addr) || len(srv.WebhookGIDs()) != 1 {
			t.Errorf("ready on %s with public URL %s and webhooks %v", addr, in.PublicURL(), srv.WebhookGIDs())
		}
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not ready")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if gids := srv.WebhookGIDs(); len(gids) != 0 {
		t.Errorf("webhooks left: %v", gids)
	}
}
