package emulator_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

func TestEventsSyncTokens(t *testing.T) {
	srv, clk := emulatortest.Start(t, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	p := srv.ProjectGID()
	path := "/events?resource=" + p

	var first string
	for _, q := range []string{"", "&sync=", "&sync=bogus"} {
		r := call(t, srv, srv.Token(), "GET", path+q, nil)
		if r.status != http.StatusPreconditionFailed {
			t.Fatalf("%q: status %d: %s", q, r.status, r.raw)
		}
		if msg := r.errorMessage(t); msg != "Sync token invalid or too old. If you are attempting to keep resources in sync, you must fetch the full dataset for this query now and use the new sync token for the next sync." {
			t.Errorf("message %q", msg)
		}
		first, _ = r.body["sync"].(string)
		if first == "" {
			t.Fatalf("no sync in %s", r.raw)
		}
	}

	// Nothing happened yet: 200, empty, a new token.
	r := call(t, srv, srv.Token(), "GET", path+"&sync="+first, nil)
	if r.status != http.StatusOK || len(r.list(t)) != 0 || r.body["has_more"] != false {
		t.Fatalf("empty page: %d %s", r.status, r.raw)
	}
	tok := r.body["sync"].(string)
	if tok == "" || tok == first {
		t.Fatalf("no new sync token: %s", r.raw)
	}

	if _, err := srv.Emit(p, 150); err != nil {
		t.Fatal(err)
	}
	task, err := srv.CreateTask("", p, "Named <task>")
	if err != nil {
		t.Fatal(err)
	}
	page1 := call(t, srv, srv.Token(), "GET", path+"&sync="+tok, nil)
	if page1.status != http.StatusOK || len(page1.list(t)) != 100 || page1.body["has_more"] != true {
		t.Fatalf("page 1: %d has_more=%v n=%d", page1.status, page1.body["has_more"], len(page1.list(t)))
	}
	replay := call(t, srv, srv.Token(), "GET", path+"&sync="+tok, nil)
	if !bytes.Equal(replay.raw, page1.raw) {
		t.Error("replaying the current token returned different bytes")
	}
	page2 := call(t, srv, srv.Token(), "GET", path+"&sync="+page1.body["sync"].(string), nil)
	evs := page2.list(t)
	if len(evs) != 52 || page2.body["has_more"] != false {
		t.Fatalf("page 2: n=%d has_more=%v", len(evs), page2.body["has_more"])
	}
	last := evs[len(evs)-1].(map[string]any)
	res := last["resource"].(map[string]any)
	if last["type"] != "task" || res["gid"] != task || res["name"] != "Named <task>" || last["action"] != "added" {
		t.Errorf("last event %v", last)
	}
	if u := last["user"].(map[string]any); u["name"] == "" || u["name"] == nil {
		t.Errorf("user without name: %v", u)
	}

	// Only the current token and its predecessor stay valid.
	if r := call(t, srv, srv.Token(), "GET", path+"&sync="+tok, nil); r.status != http.StatusPreconditionFailed {
		t.Errorf("token two steps back: %d", r.status)
	}
	if r := call(t, srv, srv.Token(), "GET", path+"&sync="+page1.body["sync"].(string), nil); !bytes.Equal(r.raw, page2.raw) {
		t.Errorf("previous token no longer replays")
	}

	// Workspace events see everything in the workspace.
	ws := "/workspaces/" + srv.WorkspaceGID() + "/events"
	r = call(t, srv, srv.Token(), "GET", ws, nil)
	if r.status != http.StatusPreconditionFailed {
		t.Fatalf("workspace events: %d", r.status)
	}
	wsTok := r.body["sync"].(string)
	if _, err := srv.Emit(p, 3); err != nil {
		t.Fatal(err)
	}
	r = call(t, srv, srv.Token(), "GET", ws+"?sync="+wsTok, nil)
	if r.status != http.StatusOK || len(r.list(t)) != 3 {
		t.Fatalf("workspace events page: %d %s", r.status, r.raw)
	}

	// Tokens expire after EventsTTL on the clock.
	cur := page2.body["sync"].(string)
	clk.Advance(emulator.DefaultEventsTTL + time.Second)
	r = call(t, srv, srv.Token(), "GET", path+"&sync="+cur, nil)
	if r.status != http.StatusPreconditionFailed || r.body["sync"] == "" {
		t.Fatalf("expired token: %d %s", r.status, r.raw)
	}
	if got := srv.State().Events; got != 0 {
		t.Errorf("%d events retained after the TTL", got)
	}
}

// TestEventsLogIsBounded checks that the /events log keeps at most
// Config.MaxEvents events (it was bounded only by the 24 h TTL, so a load
// test could fill memory), and that a token whose next events were dropped
// gets the 412 of a token too old ("sooner under load", reference §5.1)
// instead of silently skipping them.
func TestEventsLogIsBounded(t *testing.T) {
	srv := emulatortest.New(t, emulatortest.WithConfig(func(c *emulator.Config) { c.MaxEvents = 10 }))
	p := srv.ProjectGID()
	path := "/events?resource=" + p
	r := call(t, srv, srv.Token(), "GET", path, nil)
	if r.status != http.StatusPreconditionFailed {
		t.Fatalf("first call: %d", r.status)
	}
	tok := r.body["sync"].(string)
	if _, err := srv.Emit(p, 4); err != nil {
		t.Fatal(err)
	}
	r = call(t, srv, srv.Token(), "GET", path+"&sync="+tok, nil)
	if r.status != http.StatusOK || len(r.list(t)) != 4 {
		t.Fatalf("page: %d %s", r.status, r.raw)
	}
	tok = r.body["sync"].(string)

	if _, err := srv.Emit(p, 20); err != nil {
		t.Fatal(err)
	}
	if got := srv.State().Events; got > 10 {
		t.Errorf("%d events retained, MaxEvents is 10", got)
	}
	r = call(t, srv, srv.Token(), "GET", path+"&sync="+tok, nil)
	if r.status != http.StatusPreconditionFailed {
		t.Fatalf("token behind dropped events: %d (%d events), want 412", r.status, len(r.body))
	}
	tok, _ = r.body["sync"].(string)
	if _, err := srv.Emit(p, 2); err != nil {
		t.Fatal(err)
	}
	r = call(t, srv, srv.Token(), "GET", path+"&sync="+tok, nil)
	if r.status != http.StatusOK || len(r.list(t)) != 2 {
		t.Fatalf("after resync: %d %s", r.status, r.raw)
	}
}

// TestEventsStreamsAreBounded checks that calls without a sync token, each
// of which opens a stream, cannot pile up streams and tokens for 24 h: a
// resource keeps at most WebhooksPerResource streams (the limit they count
// toward), the least recently used going first, its tokens with it.
func TestEventsStreamsAreBounded(t *testing.T) {
	// A fake clock that never moves: every stream is used at the same time.
	srv, _ := emulatortest.Start(t, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), emulatortest.WithRateLimit(-1),
		emulatortest.WithConfig(func(c *emulator.Config) { c.WebhooksPerResource = 5 }))
	path := "/events?resource=" + srv.ProjectGID()
	sync := func(q string) response {
		t.Helper()
		return call(t, srv, srv.Token(), "GET", path+q, nil)
	}
	r := sync("")
	oldest := r.body["sync"].(string)
	// An active poller keeps its stream however many others are opened.
	r = sync("")
	active := r.body["sync"].(string)
	for range 50 {
		if r := sync(""); r.status != http.StatusPreconditionFailed {
			t.Fatalf("first call: %d", r.status)
		}
		r := sync("&sync=" + active)
		if r.status != http.StatusOK {
			t.Fatalf("active poller lost its stream: %d %s", r.status, r.raw)
		}
		active = r.body["sync"].(string)
	}
	st := srv.State()
	if st.Streams > 5 || st.SyncTokens > 15 {
		t.Errorf("%d streams and %d sync tokens retained, want at most 5 streams", st.Streams, st.SyncTokens)
	}
	if r := sync("&sync=" + oldest); r.status != http.StatusPreconditionFailed {
		t.Errorf("token of an evicted stream: %d, want 412", r.status)
	}
}

// TestEmitMakesDistinctEvents: synthetic events are distinct (each its own
// millisecond, none after now), so a receiver that deduplicates redeliveries
// by content keeps every one of them.
func TestEmitMakesDistinctEvents(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	srv, _ := emulatortest.Start(t, now)
	rc := newReceiver(t)
	createWebhook(t, srv, srv.Token(), srv.ProjectGID(), rc.URL+"/hook", nil)
	const n = 5
	if _, err := srv.Emit(srv.ProjectGID(), n); err != nil {
		t.Fatal(err)
	}
	ds := rc.waitFor(t, "the emitted events", func(ds []delivered) bool {
		return len(deliveredEvents(t, ds)) >= n
	})
	seen := map[string]bool{}
	for _, ev := range deliveredEvents(t, ds) {
		at, _ := ev["created_at"].(string)
		ts, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			t.Fatalf("created_at %q: %v", at, err)
		}
		if ts.After(now) {
			t.Errorf("created_at %s is after the clock's now %s", at, now.Format(time.RFC3339Nano))
		}
		if seen[at] {
			t.Errorf("two emitted events share created_at %s", at)
		}
		seen[at] = true
	}
	if len(seen) != n {
		t.Errorf("got %d distinct events, want %d", len(seen), n)
	}
}
