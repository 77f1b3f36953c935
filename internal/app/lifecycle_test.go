package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/postgres/pgtest"
	"github.com/asana-webhooks/asana-webhooks/internal/receiver"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// createProject makes a second project in the emulator through the API.
func createProject(t *testing.T, srv *emulator.Server, name string) string {
	t.Helper()
	body := fmt.Sprintf(`{"data":{"name":%q,"workspace":%q}}`, name, srv.WorkspaceGID())
	req, _ := http.NewRequest(http.MethodPost, srv.BaseURL()+"/projects", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data struct {
			GID string `json:"gid"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("create project: %d %v", res.StatusCode, err)
	}
	return out.Data.GID
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestTwoResourcesTwoSecrets(t *testing.T) {
	srv := emulatortest.New(t)
	p1 := srv.ProjectGID()
	p2 := createProject(t, srv, "Second project")
	h := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{p1, p2}, DBPath: dbPath(t)})
	hooks := runHooks(t, h.in)
	if len(hooks) != 2 || hooks[0].ID == hooks[1].ID || hooks[0].Resource.GID == hooks[1].Resource.GID {
		t.Fatalf("hooks = %+v; want two, on two resources", hooks)
	}
	st := h.in.Store()
	s0, err0 := st.Secret(context.Background(), hooks[0].ID)
	s1, err1 := st.Secret(context.Background(), hooks[1].ID)
	if err0 != nil || err1 != nil || s0.Equal(s1) {
		t.Fatalf("secrets: %v %v, equal %v; want two different ones", err0, err1, s0.Equal(s1))
	}
	tasks := map[string]string{}
	for _, hk := range hooks {
		task, err := srv.CreateTask(srv.Token(), hk.Resource.GID, "task in "+hk.Resource.GID)
		if err != nil {
			t.Fatal(err)
		}
		tasks[hk.ID] = task
	}
	for _, hk := range hooks {
		waitFor(t, "the task event of "+hk.Resource.GID, func() bool {
			return slices.ContainsFunc(eventsOf(t, st, hk.ID), func(e inspector.Event) bool { return e.ResourceGID == tasks[hk.ID] })
		})
	}
	// Each webhook only sees its own project's task.
	for _, hk := range hooks {
		for other, task := range tasks {
			if other == hk.ID {
				continue
			}
			if slices.ContainsFunc(eventsOf(t, st, hk.ID), func(e inspector.Event) bool { return e.ResourceGID == task }) {
				t.Errorf("hook %s stored an event of the other project's task", hk.ID)
			}
		}
	}
}

func TestKeepThenRestartReuses(t *testing.T) {
	srv := emulatortest.New(t)
	project := srv.ProjectGID()
	db, addr := dbPath(t), freeAddr(t)
	cfg := Config{Client: newClient(srv, srv.Token()), Resources: []string{project}, DBPath: db, Listen: addr, Keep: true,
		Filters: []asana.Filter{{ResourceType: "task", Action: "added"}, {ResourceType: "task", Action: "changed"}}}
	first := start(t, cfg)
	kept := runHooks(t, first.in)[0]
	waitFor(t, "the first run's heartbeat", func() bool { return hasHeartbeat(t, first.in.Store(), kept.ID) })
	if err := first.in.Close(); err != nil {
		t.Fatal(err)
	}
	if got := srv.WebhookGIDs(); !slices.Equal(got, []string{kept.WebhookGID}) {
		t.Fatalf("after a --keep run, emulator webhooks = %v, want [%s]", got, kept.WebhookGID)
	}
	if !strings.Contains(first.stdout.String(), "keeping webhook "+kept.WebhookGID) {
		t.Errorf("the --keep run does not say it keeps the webhook:\n%s", first.stdout)
	}

	// Same store, same public URL, filters in another order, no --keep.
	cfg.Keep = false
	cfg.Filters = []asana.Filter{cfg.Filters[1], cfg.Filters[0]}
	second := start(t, cfg)
	hooks := runHooks(t, second.in)
	if len(hooks) != 1 || hooks[0].ID != kept.ID || hooks[0].WebhookGID != kept.WebhookGID {
		t.Fatalf("second run hooks = %+v; want the kept hook %s reused", hooks, kept.ID)
	}
	if !strings.Contains(second.stdout.String(), "reusing kept webhook "+kept.WebhookGID) {
		t.Errorf("second run does not say it reuses:\n%s", second.stdout)
	}
	if got := srv.WebhookGIDs(); len(got) != 1 {
		t.Fatalf("emulator webhooks = %v; want only the reused one", got)
	}
	// Should a delivery have failed while no inspector ran, the emulator
	// backs off: a heartbeat now releases its queue.
	srv.Heartbeat(kept.WebhookGID)
	task, err := srv.CreateTask(srv.Token(), project, "after restart")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an event verified after the restart", func() bool {
		return slices.ContainsFunc(eventsOf(t, second.in.Store(), kept.ID), func(e inspector.Event) bool { return e.ResourceGID == task })
	})
	if err := second.in.Close(); err != nil {
		t.Fatal(err)
	}
	if got := srv.WebhookGIDs(); len(got) != 0 {
		t.Errorf("the run without --keep left %v", got)
	}
}

func TestStartDeletesStaleWebhooks(t *testing.T) {
	srv := emulatortest.New(t)
	project := srv.ProjectGID()
	db := dbPath(t)
	// A run kept its webhook on another public URL: the next run on a new
	// URL deletes it rather than reusing it.
	first := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{project}, DBPath: db, Keep: true})
	old := runHooks(t, first.in)[0]
	if err := first.in.Close(); err != nil {
		t.Fatal(err)
	}
	second := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{project}, DBPath: db})
	hooks := runHooks(t, second.in)
	if len(hooks) != 1 || hooks[0].ID == old.ID {
		t.Fatalf("hooks = %+v; want a new one", hooks)
	}
	if got := srv.WebhookGIDs(); slices.Contains(got, old.WebhookGID) || len(got) != 1 {
		t.Errorf("emulator webhooks = %v; the stale %s should be gone", got, old.WebhookGID)
	}
	if !strings.Contains(second.stdout.String(), "deleted webhook "+old.WebhookGID+" kept by an earlier run on another public URL") {
		t.Errorf("stdout:\n%s", second.stdout)
	}
}

// echoTarget is a foreign receiver that answers every handshake.
func echoTarget(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get(asana.HeaderSecret); v != "" {
			w.Header().Set(asana.HeaderSecret, v)
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestCloseLeavesForeignWebhooks(t *testing.T) {
	srv := emulatortest.New(t)
	project := srv.ProjectGID()
	client := newClient(srv, srv.Token())
	foreign, err := client.CreateWebhook(context.Background(), asana.CreateWebhookRequest{Resource: project, Target: echoTarget(t).URL + "/theirs"})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, Config{Client: client, Resources: []string{project}, DBPath: dbPath(t)})
	ours := runHooks(t, h.in)[0]
	if got := srv.WebhookGIDs(); len(got) != 2 {
		t.Fatalf("emulator webhooks = %v, want ours and the foreign one", got)
	}
	if err := h.in.Close(); err != nil {
		t.Fatal(err)
	}
	if got := srv.WebhookGIDs(); !slices.Equal(got, []string{foreign.Webhook.GID}) {
		t.Errorf("after Close emulator webhooks = %v, want only the foreign %s (ours was %s)", got, foreign.Webhook.GID, ours.WebhookGID)
	}
	if strings.Contains(h.stdout.String(), foreign.Webhook.GID) {
		t.Errorf("the foreign webhook is mentioned:\n%s", h.stdout)
	}
}

func TestHealthMonitorRecreatesDeletedWebhook(t *testing.T) {
	srv := emulatortest.New(t)
	client := newClient(srv, srv.Token())
	h := start(t, Config{Client: client, Resources: []string{srv.ProjectGID()}, DBPath: dbPath(t)})
	old := runHooks(t, h.in)[0]
	if err := client.DeleteWebhook(context.Background(), old.WebhookGID); err != nil {
		t.Fatal(err)
	}
	h.in.Manager().CheckHealth(context.Background())
	hooks := runHooks(t, h.in)
	if len(hooks) != 1 || hooks[0].ID == old.ID || hooks[0].WebhookGID == old.WebhookGID {
		t.Fatalf("hooks after the check = %+v; want a new one replacing %s", hooks, old.ID)
	}
	if got := srv.WebhookGIDs(); !slices.Equal(got, []string{hooks[0].WebhookGID}) {
		t.Errorf("emulator webhooks = %v, want [%s]", got, hooks[0].WebhookGID)
	}
	gone, err := h.in.Store().GetHook(context.Background(), old.ID)
	if err != nil || gone.State != inspector.HookDeleted {
		t.Errorf("old hook = %+v, %v; want deleted", gone, err)
	}
	if !strings.Contains(h.stdout.String(), "webhook "+old.WebhookGID+" on "+srv.ProjectGID()+" was deleted by Asana") {
		t.Errorf("stdout does not report the deletion:\n%s", h.stdout)
	}
	task, err := srv.CreateTask(srv.Token(), srv.ProjectGID(), "after re-create")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an event on the re-created webhook", func() bool {
		return slices.ContainsFunc(eventsOf(t, h.in.Store(), hooks[0].ID), func(e inspector.Event) bool { return e.ResourceGID == task })
	})
}

// crashBetweenHandshakeAndCreated simulates a run that crashed after the
// handshake was stored and before the 201 was handled: it stores a run and
// a pending hook, serves the receiver on addr with the window open, and lets
// Asana create the webhook; the hook is never activated.
func crashBetweenHandshakeAndCreated(t *testing.T, srv *emulator.Server, db, addr string) inspector.Hook {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run := inspector.Run{ID: inspector.NewHookID(), PublicURL: "http://" + addr}
	if err := st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	id := inspector.NewHookID()
	hook := inspector.Hook{ID: id, RunID: run.ID, Resource: asana.Compact{GID: srv.ProjectGID(), ResourceType: "project"},
		WorkspaceGID: srv.WorkspaceGID(), Target: inspector.TargetURL(run.PublicURL, id, srv.ProjectGID()), Keep: true}
	if err := st.CreateHook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	windows := &inspector.HandshakeWindows{}
	rcv, err := receiver.New(receiver.Config{Store: st, Windows: windows})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: rcv}
	go func() { _ = hs.Serve(ln) }()
	windows.Open(id)
	if _, err := newClient(srv, srv.Token()).CreateWebhook(ctx, asana.CreateWebhookRequest{Resource: srv.ProjectGID(), Target: hook.Target}); err != nil {
		t.Fatal(err)
	}
	windows.Close(id)
	if err := hs.Close(); err != nil {
		t.Fatal(err)
	}
	return hook
}

func TestCrashRecoveryAdoptsListedPendingHook(t *testing.T) {
	srv := emulatortest.New(t)
	db, addr := dbPath(t), freeAddr(t)
	pending := crashBetweenHandshakeAndCreated(t, srv, db, addr)
	gids := srv.WebhookGIDs()
	if len(gids) != 1 {
		t.Fatalf("emulator webhooks = %v", gids)
	}
	// Restart on the same store and URL, keeping: the webhook is adopted and
	// reused, not created again.
	h := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: db, Listen: addr, Keep: true})
	hooks := runHooks(t, h.in)
	if len(hooks) != 1 || hooks[0].ID != pending.ID || hooks[0].WebhookGID != gids[0] {
		t.Fatalf("hooks = %+v; want the pending hook %s adopted as %s", hooks, pending.ID, gids[0])
	}
	if !strings.Contains(h.stdout.String(), "adopted webhook "+gids[0]) {
		t.Errorf("stdout:\n%s", h.stdout)
	}
	// The heartbeat sent while the "crashed" inspector was down failed, and
	// the emulator backs off: send one now, which also releases the queue.
	srv.Heartbeat(gids[0])
	task, err := srv.CreateTask(srv.Token(), srv.ProjectGID(), "after adoption")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an event verified with the adopted secret", func() bool {
		return slices.ContainsFunc(eventsOf(t, h.in.Store(), pending.ID), func(e inspector.Event) bool { return e.ResourceGID == task })
	})
}

func TestCrashRecoveryDiscardsUnlistedPendingSecret(t *testing.T) {
	srv := emulatortest.New(t)
	db, addr := dbPath(t), freeAddr(t)
	pending := crashBetweenHandshakeAndCreated(t, srv, db, addr)
	// Asana never completed it (here: it is gone).
	if err := newClient(srv, srv.Token()).DeleteWebhook(context.Background(), srv.WebhookGIDs()[0]); err != nil {
		t.Fatal(err)
	}
	h := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: db, Listen: addr})
	got, err := h.in.Store().GetHook(context.Background(), pending.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != inspector.HookFailed || got.HasSecret {
		t.Errorf("pending hook after start = state %s, has secret %v; want failed without secret", got.State, got.HasSecret)
	}
	if _, err := h.in.Store().Secret(context.Background(), pending.ID); !errors.Is(err, inspector.ErrNoSecret) {
		t.Errorf("Secret = %v, want ErrNoSecret", err)
	}
	if hooks := runHooks(t, h.in); len(hooks) != 1 || hooks[0].ID == pending.ID {
		t.Errorf("run hooks = %+v; want one new hook", hooks)
	}
}

// fakeAsana answers the calls of a run, and on POST /webhooks performs the
// handshake with one secret and answers 201 with another.
type fakeAsana struct {
	mu      sync.Mutex
	deleted []string
	// created201 is the secret of the 201 ("" is "another-secret", a
	// mismatch); deleteStatus, when set, answers every delete with it.
	created201   string
	deleteStatus int
}

func (f *fakeAsana) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/1.0/projects/{gid}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"data":{"gid":%q,"resource_type":"project","name":"P","workspace":{"gid":"100","resource_type":"workspace"}}}`, r.PathValue("gid"))
	})
	mux.HandleFunc("GET /api/1.0/webhooks", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[],"next_page":null}`)
	})
	mux.HandleFunc("POST /api/1.0/webhooks", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Data struct {
				Resource, Target string
			} `json:"data"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		req, _ := http.NewRequest(http.MethodPost, body.Data.Target, nil)
		req.Header.Set(asana.HeaderSecret, "handshake-secret")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("handshake: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		f.mu.Lock()
		secret := cmp.Or(f.created201, "another-secret")
		f.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"data":{"gid":"777","resource_type":"webhook","active":true,"target":%q,"resource":{"gid":%q,"resource_type":"project"}},"X-Hook-Secret":%q}`,
			body.Data.Target, body.Data.Resource, secret)
	})
	mux.HandleFunc("DELETE /api/1.0/webhooks/{gid}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if f.deleteStatus != 0 {
			f.mu.Unlock()
			w.WriteHeader(f.deleteStatus)
			fmt.Fprint(w, `{"errors":[{"message":"Forbidden"}]}`)
			return
		}
		f.deleted = append(f.deleted, r.PathValue("gid"))
		f.mu.Unlock()
		fmt.Fprint(w, `{"data":{}}`)
	})
	return mux
}

func TestSecretMismatchDeletesWebhook(t *testing.T) {
	fake := &fakeAsana{}
	api := httptest.NewServer(fake.handler(t))
	defer api.Close()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	db := dbPath(t)
	in, err := New(Config{Client: asana.NewClient("tok", asana.WithBaseURL(api.URL+"/api/1.0")), Resources: []string{"555"},
		DBPath: db, Listen: "127.0.0.1:0", Stdout: stdout, Stderr: stderr})
	if err != nil {
		t.Fatal(err)
	}
	runErr := in.Run(context.Background())
	var ce *inspector.CreateError
	if !errors.As(runErr, &ce) || !strings.Contains(ce.Error(), "differs from the handshake") {
		t.Fatalf("Run = %v; want a secret mismatch", runErr)
	}
	// Said once: in the warning, not again in the final error or a log line.
	all := stdout.String() + stderr.String() + runErr.Error()
	if n := strings.Count(all, "differs from the handshake"); n != 1 {
		t.Errorf("the mismatch is told %d times, want once:\n%s\n%s\nerror: %v", n, stdout, stderr, runErr)
	}
	if strings.Contains(stderr.String(), "level=WARN") || strings.Contains(stderr.String(), "level=ERROR") {
		t.Errorf("logged besides the warning:\n%s", stderr)
	}
	fake.mu.Lock()
	deleted := slices.Clone(fake.deleted)
	fake.mu.Unlock()
	if !slices.Equal(deleted, []string{"777"}) {
		t.Errorf("deleted in Asana: %v, want [777]", deleted)
	}
	if !strings.Contains(stdout.String(), "warning: webhook on 555 not created: the secret in Asana's 201 differs") {
		t.Errorf("the user is not told:\n%s", stdout)
	}
	st, err := sqlite.Open(context.Background(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hooks, err := st.ListHooks(context.Background(), inspector.HookFilter{})
	if err != nil || len(hooks) != 1 || hooks[0].State != inspector.HookFailed || hooks[0].HasSecret {
		t.Errorf("hooks = %+v, %v; want one failed hook without secret", hooks, err)
	}
	for _, s := range []string{"handshake-secret", "another-secret"} {
		if strings.Contains(stdout.String()+stderr.String()+runErr.Error(), s) {
			t.Errorf("output contains secret %q", s)
		}
	}
}

func TestMonitorRunsOnItsInterval(t *testing.T) {
	srv := emulatortest.New(t)
	client := newClient(srv, srv.Token())
	h := start(t, Config{Client: client, Resources: []string{srv.ProjectGID()}, DBPath: dbPath(t), HealthInterval: 50 * time.Millisecond})
	old := runHooks(t, h.in)[0]
	if err := client.DeleteWebhook(context.Background(), old.WebhookGID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the monitor to re-create the webhook", func() bool {
		gids := srv.WebhookGIDs()
		return len(gids) == 1 && gids[0] != old.WebhookGID
	})
	if err := h.in.Close(); err != nil {
		t.Fatal(err)
	}
	if gids := srv.WebhookGIDs(); len(gids) != 0 {
		t.Errorf("the re-created webhook was left behind: %v", gids)
	}
}

// TestCleanupFailureSaysOnce: a webhook Asana refuses to delete at the end of
// the run is reported once, by the error Close returns, which names it and
// says how to remove it; no log line and no warning repeat it.
func TestCleanupFailureSaysOnce(t *testing.T) {
	fake := &fakeAsana{created201: "handshake-secret"}
	api := httptest.NewServer(fake.handler(t))
	defer api.Close()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	in, err := New(Config{Client: asana.NewClient("tok", asana.WithBaseURL(api.URL+"/api/1.0")), Resources: []string{"555"},
		DBPath: dbPath(t), Listen: "127.0.0.1:0", Stdout: stdout, Stderr: stderr})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v\n%s%s", err, stdout, stderr)
	}
	fake.mu.Lock()
	fake.deleteStatus = http.StatusForbidden
	fake.mu.Unlock()
	closeErr := in.Close()
	var le *inspector.LeftError
	if !errors.As(closeErr, &le) {
		t.Fatalf("Close = %v; want a LeftError", closeErr)
	}
	msg := closeErr.Error()
	for _, want := range []string{"webhook 777 on 555", "left in Asana", "asana-webhooks webhooks delete 777", "same --db"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Close error %q does not say %q", msg, want)
		}
	}
	if strings.HasPrefix(msg, "clean up webhooks") || strings.Count(msg, "777") != 2 {
		t.Errorf("Close error repeats itself: %q", msg)
	}
	if out := stdout.String() + stderr.String(); strings.Contains(out, "777: ") || strings.Contains(out, "level=ERROR") || strings.Contains(out, "warning: could not delete") {
		t.Errorf("the failure is also printed or logged:\n%s", out)
	}
}

// TestSecondInspectorLeavesTheFirstsWebhooks: two inspectors running at the
// same time on one store (the default --db is one file; a PostgreSQL
// database is meant to be shared): the second's start must not take the
// first's live webhooks for leftovers and delete them.
func TestSecondInspectorLeavesTheFirstsWebhooks(t *testing.T) {
	tests := []struct {
		name string
		db   func(t *testing.T) string
	}{
		{"sqlite", dbPath},
		{"postgres", func(t *testing.T) string { return pgtest.Schema(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := emulatortest.New(t)
			db := tt.db(t)
			first := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: db})
			mine := runHooks(t, first.in)[0]
			other := createProject(t, srv, "Other")
			second := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{other}, DBPath: db})
			theirs := runHooks(t, second.in)[0]
			if got := srv.WebhookGIDs(); !slices.Contains(got, mine.WebhookGID) || !slices.Contains(got, theirs.WebhookGID) {
				t.Fatalf("emulator webhooks = %v; want the first's %s and the second's %s", got, mine.WebhookGID, theirs.WebhookGID)
			}
			if hooks := runHooks(t, first.in); len(hooks) != 1 || hooks[0].ID != mine.ID {
				t.Errorf("the first run's hooks = %+v; want its hook still active", hooks)
			}
			if err := second.in.Close(); err != nil {
				t.Fatal(err)
			}
			if got := srv.WebhookGIDs(); !slices.Equal(got, []string{mine.WebhookGID}) {
				t.Errorf("after the second closed: emulator webhooks = %v, want the first's %s", got, mine.WebhookGID)
			}
			if err := first.in.Close(); err != nil {
				t.Fatal(err)
			}
			if got := srv.WebhookGIDs(); len(got) != 0 {
				t.Errorf("after both closed: emulator webhooks = %v", got)
			}
		})
	}
}

// TestReplicasShareHandshakeWindows: two inspectors on one PostgreSQL
// database, as replicas behind one public URL. The first creates a webhook
// whose target leads to the second (as a load balancer may send Asana's
// handshake to any replica): the second accepts the handshake because the
// first opened the window in the database, the first confirms the 201
// against the secret the second stored, and the second verifies and stores
// the webhook's deliveries.
func TestReplicasShareHandshakeWindows(t *testing.T) {
	srv := emulatortest.New(t)
	db := pgtest.Schema(t)
	other := createProject(t, srv, "Other")
	second := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{other}, DBPath: db})
	first := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: db,
		PublicURL: "http://" + second.in.Addr(), SkipPreflight: true})
	hooks := runHooks(t, first.in)
	if len(hooks) != 1 || hooks[0].State != inspector.HookActive || !hooks[0].HasSecret {
		t.Fatalf("the first replica's hooks = %+v; want one active, with the secret the second stored", hooks)
	}
	task, err := srv.CreateTask(srv.Token(), srv.ProjectGID(), "seen by the other replica")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task's event, received by the second replica", func() bool {
		return slices.ContainsFunc(eventsOf(t, second.in.Store(), hooks[0].ID), func(e inspector.Event) bool { return e.ResourceGID == task })
	})
	for _, d := range srv.Deliveries(hooks[0].WebhookGID) {
		if !strings.HasPrefix(d.URL, "http://"+second.in.Addr()+"/") || !d.Success {
			t.Errorf("emulator %s delivery to %s: status %d, success %v; want every one to the second replica, accepted",
				d.Kind, d.URL, d.Status, d.Success)
		}
	}
}

// TestReplicasShareOneWebhook: two --replica inspectors on one PostgreSQL
// database and one public URL. The first creates the webhook; the second
// creates none and receives; when the first stops, the webhook stays and the
// second takes it over; when the second stops, it is deleted.
func TestReplicasShareOneWebhook(t *testing.T) {
	srv := emulatortest.New(t)
	db := pgtest.Schema(t)
	cfg := Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: db,
		Replica: true, ReplicaPoll: 20 * time.Millisecond}
	first := start(t, cfg)
	hooks := runHooks(t, first.in)
	if len(hooks) != 1 {
		t.Fatalf("the first replica's hooks = %+v, want one", hooks)
	}
	gid := hooks[0].WebhookGID
	cfg.PublicURL = first.in.PublicURL() // the load balancer, in front of both
	second := start(t, cfg)
	if hooks := runHooks(t, second.in); len(hooks) != 0 {
		t.Errorf("the second replica's hooks = %+v, want none while the first manages them", hooks)
	}
	if got := srv.WebhookGIDs(); !slices.Equal(got, []string{gid}) {
		t.Fatalf("emulator webhooks = %v, want the first's %s only", got, gid)
	}
	if !strings.Contains(second.stdout.String(), "another inspector on "+first.in.PublicURL()+" manages the webhooks") {
		t.Errorf("the second replica does not say it follows:\n%s", second.stdout)
	}

	if err := first.in.Close(); err != nil {
		t.Fatal(err)
	}
	if got := srv.WebhookGIDs(); !slices.Equal(got, []string{gid}) {
		t.Fatalf("after the first stopped: emulator webhooks = %v, want %s left for the second", got, gid)
	}
	waitFor(t, "the second replica to take the webhook over", func() bool {
		hooks, err := second.in.Manager().Hooks(context.Background())
		return err == nil && len(hooks) == 1 && hooks[0].WebhookGID == gid
	})
	if got := srv.WebhookGIDs(); !slices.Equal(got, []string{gid}) {
		t.Errorf("after the take-over: emulator webhooks = %v, want the same %s", got, gid)
	}
	if err := second.in.Close(); err != nil {
		t.Fatal(err)
	}
	if got := srv.WebhookGIDs(); len(got) != 0 {
		t.Errorf("after both stopped: emulator webhooks = %v, want none", got)
	}
}

// TestReplicaLeftLastSettles: when the replica that managed the webhooks
// stops while another never took over (it stops too, before its next
// try), the last one out still deletes them.
func TestReplicaLeftLastSettles(t *testing.T) {
	srv := emulatortest.New(t)
	db := pgtest.Schema(t)
	cfg := Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: db,
		Replica: true, ReplicaPoll: time.Hour}
	first := start(t, cfg)
	cfg.PublicURL = first.in.PublicURL()
	second := start(t, cfg)
	if err := first.in.Close(); err != nil {
		t.Fatal(err)
	}
	if got := srv.WebhookGIDs(); len(got) != 1 {
		t.Fatalf("after the first stopped: emulator webhooks = %v, want its webhook left for the second", got)
	}
	if err := second.in.Close(); err != nil {
		t.Fatal(err)
	}
	if got := srv.WebhookGIDs(); len(got) != 0 {
		t.Errorf("after the last replica stopped: emulator webhooks = %v, want none", got)
	}
}

// TestReplicaNeedsPostgres: --replica on a SQLite file is refused.
func TestReplicaNeedsPostgres(t *testing.T) {
	srv := emulatortest.New(t)
	in, err := New(Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: dbPath(t),
		Listen: "127.0.0.1:0", Replica: true})
	if err != nil {
		t.Fatal(err)
	}
	err = in.Start(context.Background())
	_ = in.Close()
	if err == nil || !strings.Contains(err.Error(), "--replica needs a PostgreSQL --db") {
		t.Errorf("Start = %v, want a refusal", err)
	}
	if got := srv.WebhookGIDs(); len(got) != 0 {
		t.Errorf("emulator webhooks = %v, want none", got)
	}
}
