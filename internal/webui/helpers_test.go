package webui

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// Canaries: values that must never appear in a page or a feed message.
const (
	canarySecret = "canary-hook-secret-7f3a9b1c2d4e5f60"
	canaryToken  = "canary-token-0b1c2d3e4f5a6b7c8d9e"
	canarySig    = "canary-signature-5a5a5a5a5a5a5a5a"
)

var base = time.Date(2026, 12, 4, 15, 4, 5, 0, time.UTC)

// fakeActions is an Actions over a store: it records every call, so tests
// can tell whether anything changed. It holds a token it must never leak.
type fakeActions struct {
	store inspector.Store
	runID string
	token string

	mu       sync.Mutex
	webhooks []asana.Webhook
	calls    []string // mutating calls only
	// createErr, when set, is what Create returns.
	createErr error
	// block, when set, holds Create until closed.
	block chan struct{}
}

func (f *fakeActions) Webhooks(ctx context.Context) ([]asana.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]asana.Webhook(nil), f.webhooks...), nil
}

func (f *fakeActions) Projects(ctx context.Context) ([]asana.Project, error) {
	return []asana.Project{{GID: "1200", ResourceType: "project", Name: "Launch plan"}, {GID: "1300", ResourceType: "project", Name: "Old", Archived: true}}, nil
}

func (f *fakeActions) Create(ctx context.Context, req CreateRequest, progress func(string)) (CreateResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "create "+req.ResourceGID)
	block, cerr := f.block, f.createErr
	f.mu.Unlock()
	progress("handshake received")
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return CreateResult{}, ctx.Err()
		}
	}
	if cerr != nil {
		return CreateResult{}, cerr
	}
	h, err := addHook(ctx, f.store, f.runID, req.ResourceGID, "Created "+req.ResourceGID)
	if err != nil {
		return CreateResult{}, err
	}
	f.mu.Lock()
	f.webhooks = append(f.webhooks, webhookOf(h))
	f.mu.Unlock()
	return CreateResult{HookID: h.ID, WebhookGID: h.WebhookGID, Resource: h.Resource, Target: h.Target}, nil
}

func (f *fakeActions) Delete(ctx context.Context, hookID string) error {
	f.mu.Lock()
	f.calls = append(f.calls, "delete "+hookID)
	f.mu.Unlock()
	h, err := f.store.GetHook(ctx, hookID)
	if err != nil {
		return err
	}
	f.mu.Lock()
	for i, w := range f.webhooks {
		if w.GID == h.WebhookGID {
			f.webhooks = append(f.webhooks[:i], f.webhooks[i+1:]...)
			break
		}
	}
	f.mu.Unlock()
	return f.store.MarkHookDeleted(ctx, hookID, "deleted from the test")
}

func (f *fakeActions) DeleteAll(ctx context.Context) (int, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "delete-all")
	f.mu.Unlock()
	hooks, err := f.store.ListHooks(ctx, inspector.HookFilter{States: []inspector.HookState{inspector.HookActive}})
	if err != nil {
		return 0, err
	}
	for _, h := range hooks {
		if err := f.store.MarkHookDeleted(ctx, h.ID, "deleted from the test"); err != nil {
			return 0, err
		}
	}
	f.mu.Lock()
	f.webhooks = nil
	f.mu.Unlock()
	return len(hooks), nil
}

func (f *fakeActions) mutations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// webhookOf is Asana's record of one of our hooks, healthy.
func webhookOf(h inspector.Hook) asana.Webhook {
	return asana.Webhook{
		GID: h.WebhookGID, ResourceType: "webhook", Active: true, Resource: h.Resource, Target: h.Target,
		CreatedAt: asana.TimePtr(base), LastSuccessAt: asana.TimePtr(base.Add(time.Second)), Filters: h.Filters,
	}
}

// addHook stores an active hook with the canary secret.
func addHook(ctx context.Context, st inspector.Store, runID, resourceGID, name string) (inspector.Hook, error) {
	id := inspector.NewHookID()
	h := inspector.Hook{
		ID: id, Resource: asana.Compact{GID: resourceGID, ResourceType: "project", Name: name}, WorkspaceGID: "1000",
		Target: "http://127.0.0.1:9/hooks/" + id + "?project=" + resourceGID, RunID: runID, CreatedAt: base,
		Filters: []asana.Filter{{ResourceType: "task", Action: "changed", Fields: []string{"name"}}},
	}
	if err := st.CreateHook(ctx, h); err != nil {
		return inspector.Hook{}, err
	}
	if err := st.SaveHandshake(ctx, id, asana.NewSecret(canarySecret)); err != nil {
		return inspector.Hook{}, err
	}
	if err := st.ActivateHook(ctx, id, "77"+id[:10]); err != nil {
		return inspector.Hook{}, err
	}
	return st.GetHook(ctx, id)
}

// fixture is a UI over a real SQLite store, a fake Actions and a
// Broadcaster, served on a loopback port.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	store   inspector.Store
	actions *fakeActions
	feed    *Broadcaster
	ui      *UI
	srv     *httptest.Server
	hook    inspector.Hook
	// deliveries are the ids of the seeded deliveries.
	deliveries []int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ui.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	runID := inspector.NewHookID()
	if err := st.CreateRun(ctx, inspector.Run{ID: runID, StartedAt: base, PublicURL: "http://127.0.0.1:9"}); err != nil {
		t.Fatalf("create run: %v", err)
	}
	f := &fixture{t: t, ctx: ctx, store: st, feed: NewBroadcaster()}
	f.actions = &fakeActions{store: st, runID: runID, token: canaryToken}
	if f.hook, err = addHook(ctx, st, runID, "1200", "Launch plan"); err != nil {
		t.Fatalf("add hook: %v", err)
	}
	f.actions.webhooks = []asana.Webhook{webhookOf(f.hook), {
		GID: "555", ResourceType: "webhook", Active: false, Resource: asana.Compact{GID: "1400", ResourceType: "project", Name: "Someone else's"},
		Target: "https://elsewhere.example/hook", LastFailureAt: asana.TimePtr(base.Add(time.Hour)),
		LastFailureContent: "500 Server Error\n\nCould not complete the request", DeliveryRetryCount: 3,
		FailureDeletionTimestamp: asana.TimePtr(base.Add(24 * time.Hour)),
	}}
	// A heartbeat, a delivery of two events, and a redelivery of one.
	f.record(nil)
	ev1 := taskEvent("9001", "name")
	ev2 := taskEvent("9002", "completed")
	f.record([]json.RawMessage{ev1, ev2})
	f.record([]json.RawMessage{ev1})

	ui, err := New(Config{Reader: st, Actions: f.actions, Feed: f.feed, Now: func() time.Time { return base.Add(2 * time.Hour) }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.ui = ui
	f.srv = httptest.NewServer(ui.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func taskEvent(gid, field string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"user":{"gid":"111","resource_type":"user"},"created_at":"2026-12-04T15:00:00.000Z","action":"changed",`+
		`"resource":{"gid":%q,"resource_type":"task","resource_subtype":"default_task"},"parent":{"gid":"1200","resource_type":"project"},`+
		`"change":{"field":%q,"action":"changed"}}`, gid, field))
}

// record stores a delivery to the fixture's hook, with unredacted canary
// headers (the UI must redact them itself), and publishes it.
func (f *fixture) record(raws []json.RawMessage) inspector.RecordResult {
	f.t.Helper()
	body, _ := json.Marshal(map[string][]json.RawMessage{"events": append([]json.RawMessage{}, raws...)})
	parsed := inspector.ParseDeliveryBody(body)
	d := inspector.Delivery{
		HookID: f.hook.ID, ReceivedAt: base.Add(time.Duration(len(f.deliveries)) * time.Minute), RequestID: "req1",
		RemoteAddr: "127.0.0.1:5555", Query: "project=1200",
		Headers: http.Header{"Content-Type": {"application/json"}, "X-Hook-Signature": {canarySig},
			"X-Hook-Secret": {canarySecret}, "Authorization": {"Bearer " + canaryToken}},
		Body: body, Kind: parsed.Kind, Problem: parsed.Problem,
	}
	res, err := f.store.RecordDelivery(f.ctx, d, parsed.Events)
	if err != nil {
		f.t.Fatalf("RecordDelivery: %v", err)
	}
	f.deliveries = append(f.deliveries, res.Delivery.ID)
	f.feed.Observe(res)
	return res
}

// noRedirect returns an HTTP client that does not follow redirects.
func noRedirect() *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends a request to the fixture's server with a loopback Host.
func (f *fixture) do(method, path string, form url.Values, header http.Header) (*http.Response, string) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(f.ctx, method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatalf("new request: %v", err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	res, err := noRedirect().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatalf("read %s %s: %v", method, path, err)
	}
	return res, string(b)
}

// snapshot is what the store and the actions hold, to compare before and
// after requests that must change nothing.
type snapshot struct {
	Hooks     []inspector.Hook
	Stats     inspector.Stats
	Mutations []string
	Webhooks  int
}

func (f *fixture) snapshot() snapshot {
	f.t.Helper()
	hooks, err := f.store.ListHooks(f.ctx, inspector.HookFilter{})
	if err != nil {
		f.t.Fatalf("ListHooks: %v", err)
	}
	st, err := f.store.Stats(f.ctx, "")
	if err != nil {
		f.t.Fatalf("Stats: %v", err)
	}
	whs, _ := f.actions.Webhooks(f.ctx)
	return snapshot{Hooks: hooks, Stats: st, Mutations: f.actions.mutations(), Webhooks: len(whs)}
}

// sseEvent is one event read from a stream.
type sseEvent struct {
	ID, Event, Data string
}

// readSSE reads events from r and sends them on the returned channel until
// r ends.
func readSSE(r io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" || ev.Data != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch
}
