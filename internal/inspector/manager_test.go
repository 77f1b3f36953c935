package inspector_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// fakeAPI is an in-memory Asana for the Manager. Its create plays the
// handshake the way Asana does: through the receiver's rule (store the
// secret only while the hook's window is open).
type fakeAPI struct {
	store   inspector.Store
	windows *inspector.HandshakeWindows

	mu sync.Mutex
	// handshake is the secret sent during create ("" sends none); created
	// the one in the 201 ("" omits it).
	handshake, created string
	// uncertain makes create return *CreateUncertainError; existing says
	// whether the webhook was created anyway.
	uncertain, existing bool
	// lookupFailed makes the client's own listing after an uncertain create
	// fail (ctx ended: Ctrl+C during the create).
	lookupFailed bool
	// createErr fails the create before anything is created.
	createErr error
	// rateLimitedOnce plays a first attempt answered 429 through the
	// call's asana.CallTrace, then a stranger's handshake during the wait
	// before the retry; strangerStored says whether the store took it.
	rateLimitedOnce, strangerStored bool
	webhooks                        map[string]asana.Webhook
	deleted                         []string
	windowWas                       []bool // whether the window was open during each create
	next                            int
	// afterDelete, if set, runs (without the fake's lock) after a delete
	// removed the webhook and before it returns; beforeGet runs before a
	// get looks the webhook up.
	afterDelete, beforeGet func()
	// deleteErr fails deletes without removing anything.
	deleteErr error
}

func newFakeAPI(st inspector.Store, w *inspector.HandshakeWindows) *fakeAPI {
	return &fakeAPI{store: st, windows: w, webhooks: map[string]asana.Webhook{}, handshake: "s3cret", created: "s3cret"}
}

func hookIDOf(target string) string {
	_, rest, _ := strings.Cut(target, inspector.HookPathPrefix)
	id, _, _ := strings.Cut(rest, "?")
	return id
}

func (f *fakeAPI) CreateWebhook(ctx context.Context, req asana.CreateWebhookRequest) (*asana.CreatedWebhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := hookIDOf(req.Target)
	f.windowWas = append(f.windowWas, f.windows.IsOpen(id))
	if f.rateLimitedOnce {
		trace := asana.ContextCallTrace(ctx)
		if trace == nil {
			trace = &asana.CallTrace{}
		}
		call := func(fn func()) {
			if fn != nil {
				fn()
			}
		}
		call(trace.AttemptStart)
		if trace.AttemptDone != nil {
			trace.AttemptDone(nil) // 429, Retry-After: the client waits
		}
		if f.windows.IsOpen(id) {
			f.strangerStored = f.store.SaveHandshake(ctx, id, asana.NewSecret("stranger-canary")) == nil
		}
		call(trace.AttemptStart) // the retry
	}
	if f.createErr != nil {
		return nil, f.createErr
	}
	if f.handshake != "" && f.windows.IsOpen(id) {
		if err := f.store.SaveHandshake(ctx, id, asana.NewSecret(f.handshake)); err != nil {
			return nil, err
		}
	}
	f.next++
	w := asana.Webhook{GID: fmt.Sprint(9000 + f.next), ResourceType: "webhook", Active: true, Target: req.Target,
		Resource: asana.Compact{GID: req.Resource, ResourceType: "project"}}
	if f.uncertain {
		e := &asana.CreateUncertainError{Err: errors.New("timeout")}
		if f.existing {
			f.webhooks[w.GID] = w
			e.Existing = &w
		}
		if f.lookupFailed {
			e.Existing, e.LookupErr = nil, context.Canceled
		}
		return nil, e
	}
	f.webhooks[w.GID] = w
	return &asana.CreatedWebhook{Webhook: w, Secret: asana.NewSecret(f.created)}, nil
}

func (f *fakeAPI) ListWebhooks(_ context.Context, _, resource string) ([]asana.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []asana.Webhook
	for _, w := range f.webhooks {
		if resource == "" || w.Resource.GID == resource {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b asana.Webhook) int { return strings.Compare(a.GID, b.GID) })
	return out, nil
}

func (f *fakeAPI) GetWebhook(_ context.Context, gid string) (*asana.Webhook, error) {
	f.mu.Lock()
	before := f.beforeGet
	f.mu.Unlock()
	if before != nil {
		before()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.webhooks[gid]
	if !ok {
		return nil, &asana.APIError{StatusCode: http.StatusNotFound}
	}
	return &w, nil
}

func (f *fakeAPI) DeleteWebhook(_ context.Context, gid string) error {
	f.mu.Lock()
	f.deleted = append(f.deleted, gid)
	if f.deleteErr != nil {
		err := f.deleteErr
		f.mu.Unlock()
		return err
	}
	if _, ok := f.webhooks[gid]; !ok {
		f.mu.Unlock()
		return &asana.APIError{StatusCode: http.StatusNotFound}
	}
	delete(f.webhooks, gid)
	after := f.afterDelete
	f.mu.Unlock()
	if after != nil {
		after()
	}
	return nil
}

func (f *fakeAPI) set(fn func(f *fakeAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeAPI) deletedGIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.deleted)
}

// managerEnv is a Manager over a real SQLite store and the fake API.
type managerEnv struct {
	m       *inspector.Manager
	api     *fakeAPI
	store   *sqlite.Store
	notices *[]inspector.Notice
	now     *time.Time
}

func newManagerEnv(t *testing.T, keep bool) *managerEnv {
	t.Helper()
	return newManagerEnvLog(t, keep, nil)
}

// newManagerEnvLog is newManagerEnv with a logger (nil discards).
func newManagerEnvLog(t *testing.T, keep bool, log *slog.Logger) *managerEnv {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &inspector.HandshakeWindows{}
	api := newFakeAPI(st, w)
	var mu sync.Mutex
	notices := &[]inspector.Notice{}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	env := &managerEnv{api: api, store: st, notices: notices, now: &now}
	m, err := inspector.NewManager(inspector.ManagerConfig{
		Store: st, API: api, Windows: w, RunID: inspector.NewHookID(), PublicURL: "https://pub.example/", Keep: keep,
		Logger: log,
		Notify: func(n inspector.Notice) { mu.Lock(); *notices = append(*notices, n); mu.Unlock() },
		Now:    func() time.Time { mu.Lock(); defer mu.Unlock(); return *env.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	env.m = m
	if err := st.CreateRun(context.Background(), inspector.Run{ID: m.RunID(), PublicURL: m.PublicURL()}); err != nil {
		t.Fatal(err)
	}
	return env
}

var spec = inspector.HookSpec{Resource: asana.Compact{GID: "1200", ResourceType: "project"}, Workspace: "100"}

func TestManagerCreate(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(f *fakeAPI)
		wantOK      bool
		wantDeleted bool
		wantErr     string
	}{
		{"secrets match", func(f *fakeAPI) {}, true, false, ""},
		{"201 without secret fails closed", func(f *fakeAPI) { f.created = "" }, false, true, "carried no X-Hook-Secret"},
		{"secret mismatch", func(f *fakeAPI) { f.created = "c201-canary" }, false, true, "differs from the handshake"},
		{"no handshake", func(f *fakeAPI) { f.handshake = "" }, false, true, "no handshake reached"},
		{"uncertain, handshake stored", func(f *fakeAPI) { f.uncertain, f.existing = true, true }, true, false, ""},
		{"uncertain, no handshake", func(f *fakeAPI) { f.uncertain, f.existing, f.handshake = true, true, "" }, false, true, "no handshake secret was stored"},
		{"uncertain, nothing created", func(f *fakeAPI) { f.uncertain = true }, false, false, "outcome unknown"},
		{"uncertain, lookup skipped, found on our own listing", func(f *fakeAPI) { f.uncertain, f.existing, f.lookupFailed = true, true, true }, true, false, ""},
		{"uncertain, lookup skipped, untrusted", func(f *fakeAPI) { f.uncertain, f.existing, f.lookupFailed, f.handshake = true, true, true, "" }, false, true, "no handshake secret was stored"},
		{"create refused", func(f *fakeAPI) {
			f.createErr = &asana.APIError{StatusCode: 403, Errors: []asana.ErrorDetail{{Message: "Duplicated webhook"}}}
		}, false, false, "Duplicated webhook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newManagerEnv(t, false)
			env.api.set(tt.setup)
			h, err := env.m.Create(context.Background(), spec)
			env.api.mu.Lock()
			windowWas := slices.Clone(env.api.windowWas)
			env.api.mu.Unlock()
			if !slices.Equal(windowWas, []bool{true}) {
				t.Errorf("window open during create: %v, want [true]", windowWas)
			}
			hooks, lerr := env.store.ListHooks(context.Background(), inspector.HookFilter{})
			if lerr != nil || len(hooks) != 1 {
				t.Fatalf("hooks = %v, %v", hooks, lerr)
			}
			if tt.wantOK {
				if err != nil || h.State != inspector.HookActive || h.WebhookGID == "" {
					t.Fatalf("Create = %+v, %v; want an active hook", h, err)
				}
				if !strings.HasPrefix(h.Target, "https://pub.example/hooks/"+h.ID+"?project=1200") {
					t.Errorf("target %q", h.Target)
				}
			} else {
				var ce *inspector.CreateError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Create error = %v; want a CreateError with %q", err, tt.wantErr)
				}
				if hooks[0].State != inspector.HookFailed || hooks[0].HasSecret {
					t.Errorf("hook = state %s, has secret %v; want failed without secret", hooks[0].State, hooks[0].HasSecret)
				}
				if !slices.ContainsFunc(*env.notices, func(n inspector.Notice) bool {
					return n.Level == inspector.NoticeWarn && n.HookID == hooks[0].ID
				}) {
					t.Errorf("user not told: notices %+v", *env.notices)
				}
			}
			if got := len(env.api.deletedGIDs()) > 0; got != tt.wantDeleted {
				t.Errorf("deleted in Asana = %v, want %v", env.api.deletedGIDs(), tt.wantDeleted)
			}
			for _, n := range *env.notices {
				if strings.Contains(n.Text, "s3cret") || strings.Contains(n.Text, "c201-canary") {
					t.Errorf("notice leaks a secret: %q", n.Text)
				}
			}
			if err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "c201-canary")) {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

// TestManagerWindowShutDuringRetryWait: while the client waits out a 429
// before it sends the create again, no handshake is accepted; the retry's is.
func TestManagerWindowShutDuringRetryWait(t *testing.T) {
	env := newManagerEnv(t, false)
	env.api.set(func(f *fakeAPI) { f.rateLimitedOnce = true })
	h, err := env.m.Create(context.Background(), spec)
	if err != nil || h.State != inspector.HookActive {
		t.Fatalf("Create = %+v, %v; want an active hook", h, err)
	}
	env.api.mu.Lock()
	stranger := env.api.strangerStored
	env.api.mu.Unlock()
	if stranger {
		t.Error("a handshake during the wait before the retry was stored")
	}
	if env.api.windows.IsOpen(h.ID) {
		t.Error("the window is still open after the create")
	}
}

func TestManagerCleanupDeletesOnlyItsOwn(t *testing.T) {
	env := newManagerEnv(t, false)
	ctx := context.Background()
	ours, err := env.m.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	// A foreign webhook on the same resource, unknown to the store.
	env.api.set(func(f *fakeAPI) {
		f.webhooks["5"] = asana.Webhook{GID: "5", Target: "https://elsewhere.example/x", Resource: spec.Resource}
	})
	deleted, err := env.m.Cleanup(ctx)
	if err != nil || len(deleted) != 1 || deleted[0].ID != ours.ID {
		t.Fatalf("Cleanup = %+v, %v; want our hook", deleted, err)
	}
	if got := env.api.deletedGIDs(); !slices.Equal(got, []string{ours.WebhookGID}) {
		t.Errorf("deleted %v, want [%s]", got, ours.WebhookGID)
	}
	run, err := env.store.GetRun(ctx, env.m.RunID())
	if err != nil || run.EndedAt.IsZero() {
		t.Errorf("run = %+v, %v; want ended", run, err)
	}
}

func TestManagerHealth(t *testing.T) {
	env := newManagerEnv(t, false)
	ctx := context.Background()
	h, err := env.m.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	warnings := func() []string {
		var out []string
		for _, n := range *env.notices {
			if n.Level == inspector.NoticeWarn {
				out = append(out, n.Text)
			}
		}
		*env.notices = nil
		return out
	}
	advance := func(d time.Duration) { *env.now = env.now.Add(d) }

	advance(time.Minute)
	env.m.CheckHealth(ctx)
	if w := warnings(); len(w) != 0 {
		t.Fatalf("healthy webhook warned: %q", w)
	}

	advance(time.Minute)
	failedAt := asana.NewTime(env.now.Add(-30 * time.Second))
	deleteAt := asana.NewTime(env.now.Add(24 * time.Hour))
	env.api.set(func(f *fakeAPI) {
		w := f.webhooks[h.WebhookGID]
		w.LastFailureAt, w.LastFailureContent = &failedAt, "500 Server Error\n\nboom"
		w.DeliveryRetryCount = 2
		w.FailureDeletionTimestamp = &deleteAt
		f.webhooks[h.WebhookGID] = w
	})
	env.m.CheckHealth(ctx)
	got := warnings()
	for _, want := range []string{"a delivery failed at", "500 Server Error", "delivery_retry_count 2", "Asana will delete the webhook"} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("warnings %q lack %q", got, want)
		}
	}
	advance(time.Minute)
	env.m.CheckHealth(ctx)
	if w := warnings(); len(w) != 0 {
		t.Errorf("unchanged trouble warned again: %q", w)
	}

	// Watched since creation, 3 min ago, and no heartbeat ever came: none
	// expected before 8 h, and a few minutes late is no alarm.
	advance(8*time.Hour + 2*time.Minute)
	env.m.CheckHealth(ctx)
	if w := warnings(); len(w) != 0 {
		t.Errorf("after 8 h 5 min without heartbeat: %q, want no warning yet", w)
	}
	advance(time.Hour)
	env.m.CheckHealth(ctx)
	if w := warnings(); len(w) != 1 || !strings.Contains(w[0], "no heartbeat for more than 8h10m (Asana sends one every 8h)") {
		t.Errorf("after 9 h 5 min without heartbeat: %q", w)
	}
	env.m.CheckHealth(ctx)
	if w := warnings(); len(w) != 0 {
		t.Errorf("missing heartbeat warned twice: %q", w)
	}

	// Asana deleted it: reported and created again.
	env.api.set(func(f *fakeAPI) { delete(f.webhooks, h.WebhookGID) })
	env.m.CheckHealth(ctx)
	if w := warnings(); !slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, "was deleted by Asana") }) {
		t.Errorf("deletion not reported: %q", w)
	}
	hooks, err := env.m.Hooks(ctx)
	if err != nil || len(hooks) != 1 || hooks[0].ID == h.ID || hooks[0].WebhookGID == h.WebhookGID {
		t.Fatalf("hooks = %+v, %v; want a re-created one", hooks, err)
	}
}

func TestManagerReconcile(t *testing.T) {
	ctx := context.Background()
	// A first run keeps one webhook; the second, on the same URL, reuses it.
	first := newManagerEnv(t, true)
	kept, err := first.m.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.m.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if len(first.api.deletedGIDs()) != 0 {
		t.Fatal("a --keep run deleted webhooks")
	}
	second, err := inspector.NewManager(inspector.ManagerConfig{Store: first.store, API: first.api,
		Windows: &inspector.HandshakeWindows{}, RunID: inspector.NewHookID(), PublicURL: "https://pub.example", Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := second.Start(ctx, []inspector.HookSpec{spec})
	if err != nil || len(hooks) != 1 || hooks[0].ID != kept.ID {
		t.Fatalf("Start = %+v, %v; want the kept hook reused", hooks, err)
	}
	if _, err := second.Cleanup(ctx); err != nil { // ends, keeping it again
		t.Fatal(err)
	}
	// A third run on another URL deletes it and creates its own.
	third, err := inspector.NewManager(inspector.ManagerConfig{Store: first.store, API: first.api,
		Windows: &inspector.HandshakeWindows{}, RunID: inspector.NewHookID(), PublicURL: "https://other.example"})
	if err != nil {
		t.Fatal(err)
	}
	first.api.set(func(f *fakeAPI) {}) // the fake's handshake ignores windows of other managers
	if _, err := third.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got := first.api.deletedGIDs(); !slices.Equal(got, []string{kept.WebhookGID}) {
		t.Errorf("third run deleted %v, want [%s]", got, kept.WebhookGID)
	}
	h, err := first.store.GetHook(ctx, kept.ID)
	if err != nil || h.State != inspector.HookDeleted {
		t.Errorf("kept hook = %+v, %v; want deleted", h, err)
	}
}

func TestSameFiltersAndTargetURL(t *testing.T) {
	a := []asana.Filter{{ResourceType: "task", Action: "changed", Fields: []string{"name", "due_on"}}, {ResourceType: "story", Action: "added"}}
	b := []asana.Filter{{ResourceType: "story", Action: "added"}, {ResourceType: "task", Action: "changed", Fields: []string{"due_on", "name"}}}
	tests := []struct {
		name string
		x, y []asana.Filter
		want bool
	}{
		{"same, reordered", a, b, true},
		{"none", nil, []asana.Filter{}, true},
		{"different", a, a[:1], false},
		{"different field", a[:1], []asana.Filter{{ResourceType: "task", Action: "changed", Fields: []string{"name"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := inspector.SameFilters(tt.x, tt.y); got != tt.want {
				t.Errorf("SameFilters = %v, want %v", got, tt.want)
			}
		})
	}
	if got := inspector.TargetURL("https://x.example/base/", "abc", "12 3"); got != "https://x.example/base/hooks/abc?project=12+3" {
		t.Errorf("TargetURL = %q", got)
	}
}

// TestManagerDeleteRacesMonitor reproduces a health check that runs while a
// delete of ours is under way: the webhook is already gone from Asana but
// not yet marked deleted in the store. The monitor must not take the 404 for
// Asana's doing and create the webhook again.
func TestManagerDeleteRacesMonitor(t *testing.T) {
	tests := []struct {
		name string
		// arm makes the fake run check in the middle of a delete (or a
		// delete in the middle of a check); the func it returns waits for
		// the delete's result.
		arm func(env *managerEnv, h inspector.Hook, check func()) (deleteErr func() error)
	}{
		{"check while Asana's delete is answered", func(env *managerEnv, h inspector.Hook, check func()) func() error {
			env.api.set(func(f *fakeAPI) { f.afterDelete = check })
			errc := make(chan error, 1)
			go func() { _, err := env.m.Delete(context.Background(), h.ID); errc <- err }()
			return func() error {
				select {
				case err := <-errc:
					return err
				case <-time.After(30 * time.Second):
					return errors.New("delete did not return")
				}
			}
		}},
		{"whole delete between the monitor's listing and its read", func(env *managerEnv, h inspector.Hook, check func()) func() error {
			var err error
			env.api.set(func(f *fakeAPI) {
				f.beforeGet = func() {
					env.api.set(func(f *fakeAPI) { f.beforeGet = nil })
					_, err = env.m.Delete(context.Background(), h.ID)
				}
			})
			check()
			return func() error { return err }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newManagerEnv(t, false)
			ctx := context.Background()
			h, err := env.m.Create(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			var checked atomic.Bool
			check := func() { once.Do(func() { env.m.CheckHealth(ctx); checked.Store(true) }) }
			wait := tt.arm(env, h, check)
			if err := wait(); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if !checked.Load() {
				t.Fatal("the health check did not run during the delete")
			}
			hooks, err := env.m.Hooks(ctx)
			if err != nil || len(hooks) != 0 {
				t.Errorf("active hooks after delete = %+v, %v; want none (re-created behind the user's back)", hooks, err)
			}
			if got, _ := env.api.ListWebhooks(ctx, "", ""); len(got) != 0 {
				t.Errorf("webhooks in Asana after delete = %+v; want none", got)
			}
			got, err := env.store.GetHook(ctx, h.ID)
			if err != nil || got.State != inspector.HookDeleted {
				t.Errorf("hook = %+v, %v; want deleted", got, err)
			}
			for _, n := range *env.notices {
				if strings.Contains(n.Text, "deleted by Asana") {
					t.Errorf("our delete reported as Asana's: %q", n.Text)
				}
			}
		})
	}
}

// TestManagerRejectedWebhookDeleteFails checks that an untrusted webhook
// Asana refuses to delete is not forgotten: the hook stays pending without a
// secret, and the deletion is tried again at the end of the run (even with
// --keep) or, failing that, at the next start.
func TestManagerRejectedWebhookDeleteFails(t *testing.T) {
	boom := &asana.APIError{StatusCode: http.StatusInternalServerError}
	tests := []struct {
		name string
		// retry tries the deletion again.
		retry func(t *testing.T, env *managerEnv) error
	}{
		{"at the end of the run", func(t *testing.T, env *managerEnv) error {
			_, err := env.m.Cleanup(context.Background())
			return err
		}},
		{"at the next start", func(t *testing.T, env *managerEnv) error {
			t.Helper()
			next, err := inspector.NewManager(inspector.ManagerConfig{Store: env.store, API: env.api,
				Windows: &inspector.HandshakeWindows{}, RunID: inspector.NewHookID(), PublicURL: "https://pub.example",
				Notify: func(n inspector.Notice) { *env.notices = append(*env.notices, n) }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = next.Reconcile(context.Background())
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			env := newManagerEnv(t, true)
			env.api.set(func(f *fakeAPI) { f.created, f.deleteErr = "c201-canary", boom })
			_, err := env.m.Create(ctx, spec)
			if err == nil || !strings.Contains(err.Error(), "deleting it in Asana failed") {
				t.Fatalf("Create error = %v; want the failed deletion reported", err)
			}
			hooks, err := env.store.ListHooks(ctx, inspector.HookFilter{})
			if err != nil || len(hooks) != 1 || hooks[0].State != inspector.HookPending || hooks[0].HasSecret {
				t.Fatalf("hooks = %+v, %v; want one pending hook without secret", hooks, err)
			}
			id := hooks[0].ID
			if got, _ := env.api.ListWebhooks(ctx, "", ""); len(got) != 1 {
				t.Fatalf("webhooks in Asana = %+v; want the undeleted one", got)
			}

			// Asana still refuses: the hook stays pending, the user is told.
			*env.notices = nil
			retryErr := tt.retry(t, env)
			if retryErr != nil && !strings.Contains(retryErr.Error(), "500") {
				t.Fatalf("retry while Asana refuses: %v", retryErr)
			}
			if h, err := env.store.GetHook(ctx, id); err != nil || h.State != inspector.HookPending {
				t.Fatalf("hook after a refused retry = %+v, %v; want still pending", h, err)
			}
			// Told once: in a notice (the next start) or in Cleanup's error.
			var le *inspector.LeftError
			inErr := errors.As(retryErr, &le) && len(le.Left) == 1 && le.Left[0].Hook.ID == id && le.Left[0].Untrusted
			inNotice := slices.ContainsFunc(*env.notices, func(n inspector.Notice) bool { return n.Level == inspector.NoticeWarn && n.HookID == id })
			if inErr == inNotice {
				t.Errorf("user told of the refused retry in the error: %v, in a notice: %v (want exactly one); error %v, notices %+v", inErr, inNotice, retryErr, *env.notices)
			}

			env.api.set(func(f *fakeAPI) { f.deleteErr = nil })
			if err := tt.retry(t, env); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if got, _ := env.api.ListWebhooks(ctx, "", ""); len(got) != 0 {
				t.Errorf("webhooks in Asana after the retry = %+v; want none", got)
			}
			if h, err := env.store.GetHook(ctx, id); err != nil || h.State != inspector.HookFailed || h.HasSecret {
				t.Errorf("hook after the retry = %+v, %v; want failed without secret", h, err)
			}
		})
	}
}

func TestManagerDeleteRefusals(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, env *managerEnv, h inspector.Hook) string // returns the id to delete
		want    error
	}{
		{"unknown hook", func(t *testing.T, env *managerEnv, h inspector.Hook) string { return inspector.NewHookID() }, inspector.ErrNotFound},
		{"already deleted", func(t *testing.T, env *managerEnv, h inspector.Hook) string {
			t.Helper()
			if _, err := env.m.Delete(context.Background(), h.ID); err != nil {
				t.Fatal(err)
			}
			return h.ID
		}, inspector.ErrInvalidState},
		{"still pending", func(t *testing.T, env *managerEnv, h inspector.Hook) string {
			t.Helper()
			p := inspector.Hook{ID: inspector.NewHookID(), RunID: env.m.RunID(), Resource: spec.Resource, Target: "https://pub.example/hooks/p"}
			if err := env.store.CreateHook(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			return p.ID
		}, inspector.ErrInvalidState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newManagerEnv(t, false)
			h, err := env.m.Create(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			id := tt.prepare(t, env, h)
			if _, err := env.m.Delete(context.Background(), id); !errors.Is(err, tt.want) {
				t.Errorf("Delete = %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("Asana refuses: the hook stays active and watched", func(t *testing.T) {
		env := newManagerEnv(t, false)
		ctx := context.Background()
		h, err := env.m.Create(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		env.api.set(func(f *fakeAPI) { f.deleteErr = &asana.APIError{StatusCode: http.StatusInternalServerError} })
		if _, err := env.m.Delete(ctx, h.ID); err == nil {
			t.Fatal("Delete succeeded though Asana refused")
		}
		if got, err := env.store.GetHook(ctx, h.ID); err != nil || got.State != inspector.HookActive {
			t.Fatalf("hook = %+v, %v; want still active", got, err)
		}
		// The claim is released: Asana deleting it now is Asana's doing.
		env.api.set(func(f *fakeAPI) { f.deleteErr = nil; delete(f.webhooks, h.WebhookGID) })
		env.m.CheckHealth(ctx)
		hooks, err := env.m.Hooks(ctx)
		if err != nil || len(hooks) != 1 || hooks[0].ID == h.ID {
			t.Errorf("hooks = %+v, %v; want one re-created", hooks, err)
		}
	})
}

// levelCounter counts the log records at Warn or above, which the CLI shows.
type levelCounter struct {
	mu   sync.Mutex
	msgs []string
}

func (c *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *levelCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *levelCounter) WithGroup(string) slog.Handler            { return c }
func (c *levelCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		c.mu.Lock()
		c.msgs = append(c.msgs, r.Level.String()+" "+r.Message)
		c.mu.Unlock()
	}
	return nil
}

func (c *levelCounter) loud() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// TestManagerOneMessagePerFailure: a failure the user is told about in a
// Notice is logged at Debug only, so it is shown once, not also as a
// warning or error log line.
func TestManagerOneMessagePerFailure(t *testing.T) {
	boom := &asana.APIError{StatusCode: http.StatusInternalServerError}
	tests := []struct {
		name string
		run  func(t *testing.T, env *managerEnv)
		// warns is the number of warning notices: 1, or 0 where the
		// returned error is the message.
		warns int
	}{
		{"create refused", func(t *testing.T, env *managerEnv) {
			env.api.set(func(f *fakeAPI) { f.createErr = &asana.APIError{StatusCode: 403} })
			if _, err := env.m.Create(context.Background(), spec); err == nil {
				t.Fatal("Create succeeded")
			}
		}, 1},
		{"secret mismatch", func(t *testing.T, env *managerEnv) {
			env.api.set(func(f *fakeAPI) { f.created = "other" })
			if _, err := env.m.Create(context.Background(), spec); err == nil {
				t.Fatal("Create succeeded")
			}
		}, 1},
		{"secret mismatch, delete refused", func(t *testing.T, env *managerEnv) {
			env.api.set(func(f *fakeAPI) { f.created, f.deleteErr = "other", boom })
			if _, err := env.m.Create(context.Background(), spec); err == nil {
				t.Fatal("Create succeeded")
			}
		}, 1},
		{"cleanup delete refused: told in the error instead", func(t *testing.T, env *managerEnv) {
			h, err := env.m.Create(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			env.api.set(func(f *fakeAPI) { f.deleteErr = fmt.Errorf("delete webhook %s: %w", h.WebhookGID, boom) })
			*env.notices = nil
			_, err = env.m.Cleanup(context.Background())
			var le *inspector.LeftError
			if !errors.As(err, &le) {
				t.Fatalf("Cleanup error = %v; want a LeftError", err)
			}
			msg := err.Error()
			for _, want := range []string{"webhook " + h.WebhookGID + " on 1200", "is left in Asana", "asana-webhooks webhooks delete " + h.WebhookGID, "same --db"} {
				if !strings.Contains(msg, want) {
					t.Errorf("Cleanup error %q does not say %q", msg, want)
				}
			}
			if n := strings.Count(msg, "delete webhook "+h.WebhookGID); n != 0 {
				t.Errorf("Cleanup error repeats the client's prefix %d times: %q", n, msg)
			}
		}, 0},
		{"no heartbeat", func(t *testing.T, env *managerEnv) {
			if _, err := env.m.Create(context.Background(), spec); err != nil {
				t.Fatal(err)
			}
			*env.now = env.now.Add(9 * time.Hour)
			env.m.CheckHealth(context.Background())
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lc := &levelCounter{}
			env := newManagerEnvLog(t, false, slog.New(lc))
			tt.run(t, env)
			warns := 0
			for _, n := range *env.notices {
				if n.Level == inspector.NoticeWarn {
					warns++
				}
			}
			if warns != tt.warns {
				t.Errorf("%d warning notices, want %d: %+v", warns, tt.warns, *env.notices)
			}
			if loud := lc.loud(); len(loud) > 0 {
				t.Errorf("also logged at warning level or above: %q", loud)
			}
		})
	}
}

// TestManagerLeavesLiveRunsHooks: with two runs on one store, the second's
// Reconcile and a Delete from its web UI leave the first run's live webhook
// alone. (A crashed run's lock is released by the kernel, so its leftovers
// are still reconciled: internal/crashtest restarts after SIGKILL.)
func TestManagerLeavesLiveRunsHooks(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	api := newFakeAPI(st, &inspector.HandshakeWindows{})
	newManager := func(w *inspector.HandshakeWindows) *inspector.Manager {
		t.Helper()
		m, err := inspector.NewManager(inspector.ManagerConfig{Store: st, API: api, Windows: w, RunID: inspector.NewHookID(), PublicURL: "https://pub.example"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := newManager(api.windows)
	hooks, err := first.Start(ctx, []inspector.HookSpec{spec})
	if err != nil || len(hooks) != 1 {
		t.Fatalf("first Start = %+v, %v", hooks, err)
	}
	mine := hooks[0]

	second := newManager(api.windows)
	if _, err := second.Start(ctx, nil); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if got := api.deletedGIDs(); len(got) != 0 {
		t.Fatalf("the second run's start deleted %v, the first run's live webhook", got)
	}
	if _, err := second.Delete(ctx, mine.ID); !errors.Is(err, inspector.ErrInvalidState) {
		t.Errorf("the second run's Delete of the first's hook = %v, want ErrInvalidState", err)
	}
	if h, err := st.GetHook(ctx, mine.ID); err != nil || h.State != inspector.HookActive {
		t.Errorf("the first run's hook = %+v, %v; want still active", h, err)
	}

	// Each run's cleanup deletes exactly its own.
	if _, err := second.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if got := api.deletedGIDs(); !slices.Equal(got, []string{mine.WebhookGID}) {
		t.Errorf("deleted = %v, want the first's own cleanup of %s", got, mine.WebhookGID)
	}
}

// TestManagerHeartbeatOfReusedHook: the 8 h heartbeat check of a kept
// webhook counts from its last stored heartbeat, not from when this run
// started watching it: a heartbeat 7 h before the restart makes the warning
// due 1 h after it, not 8 h.
func TestManagerHeartbeatOfReusedHook(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var notices []inspector.Notice
	api := newFakeAPI(st, &inspector.HandshakeWindows{})
	newManager := func() *inspector.Manager {
		t.Helper()
		m, err := inspector.NewManager(inspector.ManagerConfig{Store: st, API: api, Windows: api.windows, RunID: inspector.NewHookID(),
			PublicURL: "https://pub.example", Keep: true,
			Notify: func(n inspector.Notice) { mu.Lock(); notices = append(notices, n); mu.Unlock() },
			Now:    func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := newManager()
	hooks, err := first.Start(ctx, []inspector.HookSpec{spec})
	if err != nil || len(hooks) != 1 {
		t.Fatalf("Start = %+v, %v", hooks, err)
	}
	body := []byte(`{"events":[]}`)
	parsed := inspector.ParseDeliveryBody(body)
	if _, err := st.RecordDelivery(ctx, inspector.Delivery{HookID: hooks[0].ID, ReceivedAt: now, Body: body, Kind: parsed.Kind}, parsed.Events); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Cleanup(ctx); err != nil { // --keep: left for the next run
		t.Fatal(err)
	}

	mu.Lock()
	now = now.Add(7 * time.Hour)
	mu.Unlock()
	second := newManager()
	if got, err := second.Start(ctx, []inspector.HookSpec{spec}); err != nil || len(got) != 1 || got[0].ID != hooks[0].ID {
		t.Fatalf("second Start = %+v, %v; want the kept hook reused", got, err)
	}
	mu.Lock()
	now = now.Add(90 * time.Minute) // 8 h 30 min since the last heartbeat
	notices = nil
	mu.Unlock()
	second.CheckHealth(ctx)
	mu.Lock()
	defer mu.Unlock()
	if !slices.ContainsFunc(notices, func(n inspector.Notice) bool {
		return n.Level == inspector.NoticeWarn && strings.Contains(n.Text, "no heartbeat for more than")
	}) {
		t.Errorf("no heartbeat warning 8 h 30 min after the last heartbeat: %+v", notices)
	}
}

// brokenWindows is a store shared by replicas whose shared windows fail.
type brokenWindows struct{ *sqlite.Store }

func (brokenWindows) OpenHandshakeWindow(context.Context, string, time.Duration) error {
	return errors.New("connection refused")
}
func (brokenWindows) CloseHandshakeWindow(context.Context, string) error { return nil }
func (brokenWindows) HandshakeWindowOpen(context.Context, string) (bool, error) {
	return false, errors.New("connection refused")
}

// TestManagerSharedWindowFailure: when the window cannot be opened for the
// other replicas, Asana is not asked at all and the hook fails, said once.
func TestManagerSharedWindowFailure(t *testing.T) {
	env := newManagerEnv(t, false)
	st := brokenWindows{env.store}
	var notices []inspector.Notice
	m, err := inspector.NewManager(inspector.ManagerConfig{
		Store: st, API: env.api, Windows: env.api.windows, RunID: env.m.RunID(), PublicURL: "https://pub.example/",
		Notify: func(n inspector.Notice) { notices = append(notices, n) },
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Create(context.Background(), spec)
	var ce *inspector.CreateError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Create error = %v; want a CreateError saying why", err)
	}
	env.api.mu.Lock()
	asked := len(env.api.windowWas)
	env.api.mu.Unlock()
	if asked != 0 {
		t.Errorf("Asana was asked %d times; want none", asked)
	}
	hooks, err := env.store.ListHooks(context.Background(), inspector.HookFilter{})
	if err != nil || len(hooks) != 1 || hooks[0].State != inspector.HookFailed {
		t.Errorf("hooks = %+v, %v; want one failed", hooks, err)
	}
	if len(notices) != 1 || notices[0].Level != inspector.NoticeWarn {
		t.Errorf("notices = %+v; want one warning", notices)
	}
	if env.api.windows.IsOpen(hooks[0].ID) {
		t.Error("the window stayed open in this process")
	}
}
