package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

func TestDuplicateWebhook(t *testing.T) {
	srv := emulatortest.New(t, emulatortest.WithTokens("tok-a", "tok-b"))
	rc := newReceiver(t)
	createWebhook(t, srv, "tok-a", srv.ProjectGID(), rc.URL, nil)
	r := call(t, srv, "tok-a", "POST", "/webhooks", map[string]any{"data": map[string]any{"resource": srv.ProjectGID(), "target": rc.URL}})
	if r.status != http.StatusForbidden {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if msg := r.errorMessage(t); msg != "Duplicated webhook. You already have an existing webhook for the given resource and target. Delete the old one before creating another." {
		t.Errorf("message %q", msg)
	}
	// Another token (user) may watch the same pair.
	createWebhook(t, srv, "tok-b", srv.ProjectGID(), rc.URL, nil)
}

func TestHandshakeFailureStoresNothing(t *testing.T) {
	srv := emulatortest.New(t)
	rc := newReceiver(t)
	rc.noEcho = true
	r := call(t, srv, srv.Token(), "POST", "/webhooks", map[string]any{"data": map[string]any{"resource": srv.ProjectGID(), "target": rc.URL}})
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if msg := r.errorMessage(t); !strings.Contains(msg, "handshake") {
		t.Errorf("message %q does not mention the handshake", msg)
	}
	if n := len(srv.WebhookGIDs()); n != 0 {
		t.Errorf("%d webhooks stored after a failed handshake", n)
	}
	list := call(t, srv, srv.Token(), "GET", "/webhooks?workspace="+srv.WorkspaceGID(), nil)
	if len(list.list(t)) != 0 {
		t.Errorf("listed %s", list.raw)
	}
}

func TestWebhookListGetUpdateDelete(t *testing.T) {
	srv := emulatortest.New(t, emulatortest.WithTokens("mine", "theirs"))
	rc := newReceiver(t)
	var gids []string
	for i := range 5 {
		g, _ := createWebhook(t, srv, "mine", srv.ProjectGID(), fmt.Sprintf("%s/h/%d", rc.URL, i), nil)
		gids = append(gids, g)
	}
	other, _ := createWebhook(t, srv, "theirs", srv.ProjectGID(), rc.URL+"/other", nil)

	t.Run("workspace required", func(t *testing.T) {
		r := call(t, srv, "mine", "GET", "/webhooks", nil)
		if r.status != http.StatusBadRequest || r.errorMessage(t) != "workspace: Missing input" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("pages of 2, only own", func(t *testing.T) {
		var seen []string
		path := "/webhooks?workspace=" + srv.WorkspaceGID() + "&limit=2"
		for pages := 0; path != ""; pages++ {
			if pages > 5 {
				t.Fatal("too many pages")
			}
			r := call(t, srv, "mine", "GET", path, nil)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			for _, w := range r.list(t) {
				seen = append(seen, w.(map[string]any)["gid"].(string))
			}
			np, present := r.body["next_page"]
			if !present {
				t.Fatal("next_page missing though limit was sent")
			}
			path = ""
			if np != nil {
				m := np.(map[string]any)
				if !strings.HasPrefix(m["uri"].(string), srv.BaseURL()+"/webhooks?") || m["offset"] == "" {
					t.Fatalf("next_page %v", m)
				}
				path = m["path"].(string)
			}
		}
		if strings.Join(seen, ",") != strings.Join(gids, ",") {
			t.Errorf("listed %v, want %v", seen, gids)
		}
	})
	t.Run("bad offset", func(t *testing.T) {
		r := call(t, srv, "mine", "GET", "/webhooks?workspace="+srv.WorkspaceGID()+"&limit=2&offset=nope", nil)
		if r.status != http.StatusBadRequest {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		r.errorMessage(t)
	})
	t.Run("resource narrows", func(t *testing.T) {
		r := call(t, srv, "theirs", "GET", "/webhooks?workspace="+srv.WorkspaceGID()+"&resource="+srv.ProjectGID(), nil)
		if l := r.list(t); len(l) != 1 || l[0].(map[string]any)["gid"] != other {
			t.Errorf("got %s", r.raw)
		}
		if _, present := r.body["next_page"]; present {
			t.Error("next_page present without limit")
		}
	})
	t.Run("other token cannot get", func(t *testing.T) {
		r := call(t, srv, "theirs", "GET", "/webhooks/"+gids[0], nil)
		if r.status != http.StatusNotFound {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("update replaces filters", func(t *testing.T) {
		r := call(t, srv, "mine", "PUT", "/webhooks/"+gids[0], map[string]any{"data": map[string]any{
			"filters": []any{map[string]any{"resource_type": "task", "action": "changed", "fields": []string{"name"}}}}})
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		fs := r.data(t)["filters"].([]any)
		if len(fs) != 1 || fs[0].(map[string]any)["fields"].([]any)[0] != "name" {
			t.Errorf("filters %v", fs)
		}
		r = call(t, srv, "mine", "PUT", "/webhooks/"+gids[0], map[string]any{"data": map[string]any{"filters": []any{}}})
		if fs := r.data(t)["filters"].([]any); len(fs) != 0 {
			t.Errorf("filters after replace %v", fs)
		}
	})
	t.Run("delete then 404", func(t *testing.T) {
		r := call(t, srv, "mine", "DELETE", "/webhooks/"+gids[1], nil)
		if r.status != http.StatusOK || string(r.raw) != `{"data":{}}` {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		for _, m := range []string{"GET", "DELETE"} {
			r = call(t, srv, "mine", m, "/webhooks/"+gids[1], nil)
			if r.status != http.StatusNotFound {
				t.Fatalf("%s after delete: %d %s", m, r.status, r.raw)
			}
			r.errorMessage(t)
		}
	})
}

func TestStrictTargets(t *testing.T) {
	srv := emulatortest.New(t, emulatortest.WithStrict())
	for _, target := range []string{"http://localhost:1/x", "https://127.0.0.1/x", "https://[::1]/x", "http://example.com/x"} {
		t.Run(target, func(t *testing.T) {
			r := call(t, srv, srv.Token(), "POST", "/webhooks", map[string]any{"data": map[string]any{"resource": srv.ProjectGID(), "target": target}})
			if r.status != http.StatusForbidden {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			r.errorMessage(t)
		})
	}
}

func TestWebhookLimits(t *testing.T) {
	srv := emulatortest.New(t, emulatortest.WithTokens("a", "b"), emulatortest.WithConfig(func(c *emulator.Config) {
		c.WebhooksPerResource = 2
		c.WebhooksPerToken = 3
	}))
	rc := newReceiver(t)
	createWebhook(t, srv, "a", srv.ProjectGID(), rc.URL+"/1", nil)
	// An /events stream on the project counts toward the per-resource limit.
	r := call(t, srv, "b", "GET", "/events?resource="+srv.ProjectGID(), nil)
	if r.status != http.StatusPreconditionFailed {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	r = call(t, srv, "a", "POST", "/webhooks", map[string]any{"data": map[string]any{"resource": srv.ProjectGID(), "target": rc.URL + "/2"}})
	if r.status != http.StatusForbidden {
		t.Fatalf("per-resource limit: %d %s", r.status, r.raw)
	}
	task, _ := srv.CreateTask("", srv.ProjectGID(), "t")
	createWebhook(t, srv, "a", task, rc.URL+"/3", nil)
	createWebhook(t, srv, "a", srv.WorkspaceGID(), rc.URL+"/4", []any{map[string]any{"resource_type": "project"}})
	r = call(t, srv, "a", "POST", "/webhooks", map[string]any{"data": map[string]any{"resource": task, "target": rc.URL + "/5"}})
	if r.status != http.StatusForbidden {
		t.Fatalf("per-token limit: %d %s", r.status, r.raw)
	}
	r.errorMessage(t)
}

// TestEngineDeletionRemovesWebhook fails every delivery and moves the fake
// clock past the deletion deadline: the webhook is then gone from the API.
func TestEngineDeletionRemovesWebhook(t *testing.T) {
	srv, clk := emulatortest.Start(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		emulatortest.WithDelivery(delivery.Config{Deadline: 5 * time.Second}))
	rc := newReceiver(t)
	rc.status = http.StatusInternalServerError
	gid, _ := createWebhook(t, srv, srv.Token(), srv.ProjectGID(), rc.URL, nil)
	rc.waitFor(t, "failed heartbeat", func(ds []delivered) bool { return len(ds) >= 1 })
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := call(t, srv, srv.Token(), "GET", "/webhooks/"+gid, nil)
		if r.status == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook still there: %s", r.raw)
		}
		clk.Advance(time.Hour)
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(srv.WebhookGIDs()); n != 0 {
		t.Errorf("%d webhooks left", n)
	}
}

// TestResetDuringHandshake checks a create whose handshake is still running
// when the emulator is reset: the new state restarted gids from the seed's,
// so the webhook could take the gid of an object made after the reset.
func TestResetDuringHandshake(t *testing.T) {
	srv := emulatortest.New(t)
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := r.Header.Get(asana.HeaderSecret); s != "" {
			once.Do(func() { close(started) })
			<-release
			w.Header().Set(asana.HeaderSecret, s)
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	type created struct {
		status int
		gid    string
		err    error
	}
	done := make(chan created, 1)
	go func() {
		body := `{"data":{"resource":"` + srv.ProjectGID() + `","target":"` + rc.URL + `"}}`
		req, _ := http.NewRequest("POST", srv.BaseURL()+"/webhooks", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- created{err: err}
			return
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				GID string `json:"gid"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		done <- created{status: resp.StatusCode, gid: out.Data.GID, err: err}
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("no handshake")
	}
	if err := srv.Reset(); err != nil {
		t.Fatal(err)
	}
	task, err := srv.CreateTask("", srv.ProjectGID(), "after reset")
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	var c created
	select {
	case c = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("create did not return")
	}
	if c.err != nil || c.status != http.StatusCreated {
		t.Fatalf("create: %d %v", c.status, c.err)
	}
	if c.gid == task {
		t.Fatalf("webhook and task share gid %s", task)
	}
	if r := call(t, srv, srv.Token(), "GET", "/tasks/"+task, nil); r.status != http.StatusOK || r.data(t)["resource_type"] != "task" {
		t.Errorf("task after the create: %d %s", r.status, r.raw)
	}
	if r := call(t, srv, srv.Token(), "GET", "/webhooks/"+c.gid, nil); r.status != http.StatusOK {
		t.Errorf("webhook after the create: %d %s", r.status, r.raw)
	}
}

// blockingHandler is a slog handler that blocks the goroutine logging a
// given message until released, to hold a goroutine at a known point.
type blockingHandler struct {
	msg      string
	entered  chan struct{}
	release  chan struct{}
	once     *sync.Once
	released *sync.Once
}

func (h blockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h blockingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h blockingHandler) WithGroup(string) slog.Handler            { return h }
func (h blockingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.entered) })
		<-h.release
	}
	return nil
}

// TestResetKeepsWorkersAndWebhooksInStep checks that a webhook created while
// a Reset waits for the delivery engine ends up either gone or delivering:
// Reset used to stop the engine first and swap the state after, so such a
// webhook vanished from the API while its worker kept sending heartbeats.
func TestResetKeepsWorkersAndWebhooksInStep(t *testing.T) {
	bh := blockingHandler{msg: "webhook deleted after failing deliveries", entered: make(chan struct{}),
		release: make(chan struct{}), once: &sync.Once{}, released: &sync.Once{}}
	releaseLog := func() { bh.released.Do(func() { close(bh.release) }) }
	t.Cleanup(releaseLog)
	srv, clk := emulatortest.Start(t, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
		emulatortest.WithLogger(slog.New(bh)))
	failing := newReceiver(t)
	failing.mu.Lock()
	failing.status = http.StatusInternalServerError
	failing.mu.Unlock()
	createWebhook(t, srv, srv.Token(), srv.ProjectGID(), failing.URL, nil)
	failing.waitFor(t, "the initial heartbeat", func(d []delivered) bool { return len(d) >= 1 })
	// The failing webhook is deleted 24 h later; its goroutine stops in the
	// log call, so a Reset waits for it.
	deadline := time.Now().Add(30 * time.Second)
	for done := false; !done; {
		clk.Advance(time.Hour)
		select {
		case <-bh.entered:
			done = true
		case <-time.After(10 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("the failing webhook was not deleted")
			}
		}
	}
	reset := make(chan error, 1)
	go func() { reset <- srv.Reset() }()
	time.Sleep(50 * time.Millisecond) // let Reset start waiting; the test holds whatever the timing
	ok := newReceiver(t)
	createWebhook(t, srv, srv.Token(), srv.ProjectGID(), ok.URL, nil)
	releaseLog()
	select {
	case err := <-reset:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Reset did not return")
	}
	if hooks, workers := len(srv.WebhookGIDs()), srv.Heartbeat(""); hooks != workers {
		t.Errorf("%d webhooks in the API but %d delivering", hooks, workers)
	}
}
