package emulator_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

func TestCreateWebhookHandshakeAndHeartbeat(t *testing.T) {
	srv := emulatortest.New(t)
	rc := newReceiver(t)
	target := rc.URL + "/hook?state=42"
	r := call(t, srv, srv.Token(), "POST", "/webhooks", map[string]any{"data": map[string]any{
		"resource": srv.ProjectGID(), "target": target}})
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	secret, _ := r.body["X-Hook-Secret"].(string)
	if len(secret) != 64 {
		t.Fatalf("X-Hook-Secret %q: want 64 hex characters", secret)
	}
	rc.mu.Lock()
	hsSecret, hs := rc.secret, rc.handshake
	rc.mu.Unlock()
	if hs != 1 || hsSecret != secret {
		t.Fatalf("handshake count %d, secret matches body: %v", hs, hsSecret == secret)
	}
	d := r.data(t)
	gid := d["gid"].(string)
	if want := srv.BaseURL() + "/webhooks/" + gid; r.header.Get("Location") != want {
		t.Errorf("Location %q, want %q", r.header.Get("Location"), want)
	}
	if d["active"] != true || d["target"] != target || d["resource_type"] != "webhook" ||
		d["last_failure_content"] != "" || d["is_workspace_webhook"] != false {
		t.Errorf("webhook record: %s", r.raw)
	}
	res := d["resource"].(map[string]any)
	if res["gid"] != srv.ProjectGID() || res["resource_type"] != "project" || res["name"] != "Launch plan" {
		t.Errorf("resource %v", res)
	}
	if d["last_success_at"] == nil || d["last_failure_at"] != nil || d["delivery_retry_count"] != float64(0) {
		t.Errorf("health fields of a fresh webhook: %s", r.raw)
	}
	if fs, ok := d["filters"].([]any); !ok || len(fs) != 0 {
		t.Errorf("filters %v, want []", d["filters"])
	}
	ds := rc.waitFor(t, "initial heartbeat", func(ds []delivered) bool { return len(ds) >= 1 })
	if string(ds[0].body) != `{"events":[]}` {
		t.Errorf("heartbeat body %q", ds[0].body)
	}
	if !asana.Verify(asana.NewSecret(secret), ds[0].body, ds[0].signature) {
		t.Error("heartbeat signature does not verify")
	}
	if strings.Contains(string(r.raw), "\\u003c") {
		t.Error("response HTML-escaped")
	}
}

func TestTaskChangeDeliveredSigned(t *testing.T) {
	srv := emulatortest.New(t)
	rc := newReceiver(t)
	_, secret := createWebhook(t, srv, srv.Token(), srv.ProjectGID(), rc.URL, nil)
	rc.waitFor(t, "heartbeat", func(ds []delivered) bool { return len(ds) >= 1 })

	task, err := srv.CreateTask("", srv.ProjectGID(), "Ship <it> & go")
	if err != nil {
		t.Fatal(err)
	}
	me, _ := srv.UserGID("")
	r := call(t, srv, srv.Token(), "PUT", "/tasks/"+task, map[string]any{"data": map[string]any{
		"completed": true, "assignee": me}})
	if r.status != http.StatusOK {
		t.Fatalf("update: %d %s", r.status, r.raw)
	}
	ds := rc.waitFor(t, "task events", func(ds []delivered) bool {
		n := 0
		for _, ev := range deliveredEvents(t, ds) {
			if ev["action"] == "changed" {
				n++
			}
		}
		return n >= 3
	})
	for _, d := range ds {
		if !asana.Verify(asana.NewSecret(secret), d.body, d.signature) {
			t.Errorf("delivery %q: bad signature", d.body)
		}
	}
	evs := deliveredEvents(t, ds)
	var added, completed, completedAt, assignee map[string]any
	for _, ev := range evs {
		ch, _ := ev["change"].(map[string]any)
		switch {
		case ev["action"] == "added" && ev["parent"].(map[string]any)["resource_type"] == "project":
			added = ev
		case ch != nil && ch["field"] == "completed":
			completed = ev
		case ch != nil && ch["field"] == "completed_at":
			completedAt = ev
		case ch != nil && ch["field"] == "assignee":
			assignee = ev
		}
	}
	if added == nil || completed == nil || completedAt == nil || assignee == nil {
		t.Fatalf("missing events in %v", evs)
	}
	if completed["created_at"] != completedAt["created_at"] {
		t.Errorf("completed and completed_at differ in created_at")
	}
	res := completed["resource"].(map[string]any)
	if res["gid"] != task || res["resource_type"] != "task" || res["resource_subtype"] != "default_task" || res["name"] != nil {
		t.Errorf("resource %v", res)
	}
	if v, present := completed["parent"]; !present || v != nil {
		t.Errorf("parent must be present as null: %v", completed)
	}
	if _, has := completed["change"].(map[string]any)["new_value"]; has {
		t.Errorf("primitive change carries new_value: %v", completed)
	}
	nv := assignee["change"].(map[string]any)["new_value"].(map[string]any)
	if nv["gid"] != me || nv["resource_type"] != "user" || len(nv) != 2 {
		t.Errorf("assignee new_value %v", nv)
	}
	if u := completed["user"].(map[string]any); u["gid"] != me || u["resource_type"] != "user" {
		t.Errorf("user %v", u)
	}
}

// TestDeliveryBytes pins the exact bytes of a delivered event on a fake
// clock: Asana's key order, compact JSON, no HTML escaping, parent as null.
func TestDeliveryBytes(t *testing.T) {
	srv, _ := emulatortest.Start(t, time.Date(2026, 7, 1, 10, 30, 0, 123e6, time.UTC))
	rc := newReceiver(t)
	task, err := srv.CreateTask("", srv.ProjectGID(), "a<b>&c")
	if err != nil {
		t.Fatal(err)
	}
	createWebhook(t, srv, srv.Token(), task, rc.URL, nil)
	rc.waitFor(t, "heartbeat", func(ds []delivered) bool { return len(ds) >= 1 })
	if err := srv.UpdateTask("", task, emulatorTaskName("x<y>")); err != nil {
		t.Fatal(err)
	}
	ds := rc.waitFor(t, "event", func(ds []delivered) bool { return len(ds) >= 2 })
	me, _ := srv.UserGID("")
	want := `{"events":[{"user":{"gid":"` + me + `","resource_type":"user"},"created_at":"2026-07-01T10:30:00.123Z",` +
		`"action":"changed","resource":{"gid":"` + task + `","resource_type":"task","resource_subtype":"default_task"},` +
		`"parent":null,"change":{"field":"name","action":"changed"}}]}`
	if got := string(ds[1].body); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}
