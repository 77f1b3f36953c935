package emulator_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

// eventKey summarises an event for comparisons.
func eventKey(ev map[string]any) string {
	res := ev["resource"].(map[string]any)
	k := res["resource_type"].(string) + ":" + ev["action"].(string)
	if p, ok := ev["parent"].(map[string]any); ok {
		k += "<" + p["resource_type"].(string)
	}
	if ch, ok := ev["change"].(map[string]any); ok {
		k += "." + ch["field"].(string)
	}
	return k
}

// sentinelGID marks injected sentinel events.
const sentinelGID = "1"

// sentinel injects an event on resource that the webhooks' filters under
// test admit. Deliveries to one webhook keep their order, so once a sentinel
// arrived, every event emitted before it has arrived too: absence can then be
// asserted without sleeping.
func sentinel(t *testing.T, srv *emulator.Server, resource, typ, subtype, action, field string) {
	t.Helper()
	ev := map[string]any{"user": nil, "created_at": "2026-01-01T00:00:00.000Z", "action": action,
		"resource": map[string]any{"gid": sentinelGID, "resource_type": typ, "resource_subtype": subtype}, "parent": nil}
	if field != "" {
		ev["change"] = map[string]any{"field": field, "action": "changed"}
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Inject(resource, raw); err != nil {
		t.Fatal(err)
	}
}

// settle waits for a sentinel and returns the events before the first one,
// sentinels removed.
func settle(t *testing.T, rc *receiver) []map[string]any {
	t.Helper()
	isSentinel := func(ev map[string]any) bool {
		return ev["resource"].(map[string]any)["gid"] == sentinelGID
	}
	ds := rc.waitFor(t, "sentinel", func(ds []delivered) bool {
		for _, ev := range deliveredEvents(t, ds) {
			if isSentinel(ev) {
				return true
			}
		}
		return false
	})
	var out []map[string]any
	for _, ev := range deliveredEvents(t, ds) {
		if isSentinel(ev) {
			break
		}
		out = append(out, ev)
	}
	return out
}

func TestFanOutStoryTaskProject(t *testing.T) {
	srv := emulatortest.New(t)
	projectRC, taskRC, subRC := newReceiver(t), newReceiver(t), newReceiver(t)
	parent, err := srv.CreateTask("", srv.ProjectGID(), "Parent")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := srv.CreateSubtask("", parent, "Child")
	if err != nil {
		t.Fatal(err)
	}
	createWebhook(t, srv, srv.Token(), srv.ProjectGID(), projectRC.URL, nil)
	createWebhook(t, srv, srv.Token(), parent, taskRC.URL, nil)
	createWebhook(t, srv, srv.Token(), sub, subRC.URL, nil)

	r := call(t, srv, srv.Token(), "POST", "/tasks/"+sub+"/stories", map[string]any{"data": map[string]any{"text": "hello"}})
	if r.status != http.StatusCreated {
		t.Fatalf("comment: %d %s", r.status, r.raw)
	}
	story := r.data(t)["gid"].(string)
	sentinel(t, srv, sub, "task", "default_task", "changed", "name")
	for name, rc := range map[string]*receiver{"project": projectRC, "parent task": taskRC, "subtask": subRC} {
		evs := settle(t, rc)
		if len(evs) != 1 {
			t.Errorf("%s webhook got %d events, want 1: %v", name, len(evs), evs)
			continue
		}
		ev := evs[0]
		res := ev["resource"].(map[string]any)
		par := ev["parent"].(map[string]any)
		if res["gid"] != story || res["resource_type"] != "story" || res["resource_subtype"] != "comment_added" ||
			ev["action"] != "added" || par["gid"] != sub || par["resource_type"] != "task" {
			t.Errorf("%s webhook got %v", name, ev)
		}
	}
}

func TestWorkspaceWebhookRules(t *testing.T) {
	srv := emulatortest.New(t)
	rc := newReceiver(t)
	ws := srv.WorkspaceGID()
	cases := []struct {
		name    string
		filters any
	}{
		{"no filters", nil},
		{"empty filters", []any{}},
		{"task filter", []any{map[string]any{"resource_type": "task", "action": "changed"}}},
		{"project_status", []any{map[string]any{"resource_type": "project_status", "action": "added"}}},
		{"fields", []any{map[string]any{"resource_type": "project", "action": "changed", "fields": []string{"name"}}}},
		{"action not allowed", []any{map[string]any{"resource_type": "team_membership", "action": "changed"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := map[string]any{"resource": ws, "target": rc.URL}
			if tc.filters != nil {
				data["filters"] = tc.filters
			}
			r := call(t, srv, srv.Token(), "POST", "/webhooks", map[string]any{"data": data})
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			r.errorMessage(t)
			if e := r.body["errors"].([]any)[0].(map[string]any); e["error"] != "invalid_filters_for_larger_scoped_webhooks" {
				t.Errorf("error code %v", e["error"])
			}
		})
	}
	gid, _ := createWebhook(t, srv, srv.Token(), ws, rc.URL, []any{
		map[string]any{"resource_type": "project", "action": "changed"},
		map[string]any{"resource_type": "project", "action": "added"},
	})
	r := call(t, srv, srv.Token(), "GET", "/webhooks/"+gid, nil)
	d := r.data(t)
	if d["is_workspace_webhook"] != true {
		t.Errorf("is_workspace_webhook %v", d["is_workspace_webhook"])
	}
	f0 := d["filters"].([]any)[0].(map[string]any)
	if v, ok := f0["resource_subtype"]; !ok || v != nil {
		t.Errorf("unset filter subfield must be null: %v", f0)
	}
	if v, ok := f0["fields"]; !ok || v != nil {
		t.Errorf("unset fields must be null: %v", f0)
	}
	rc.waitFor(t, "heartbeat", func(ds []delivered) bool { return len(ds) >= 1 })
	// A task change must not reach the workspace webhook; a project change must.
	task, _ := srv.CreateTask("", srv.ProjectGID(), "Invisible to the workspace")
	name := "renamed"
	if err := srv.UpdateTask("", task, emulatorTaskName(name)); err != nil {
		t.Fatal(err)
	}
	r = call(t, srv, srv.Token(), "PUT", "/projects/"+srv.ProjectGID(), map[string]any{"data": map[string]any{"name": "Launch plan v2"}})
	if r.status != http.StatusOK {
		t.Fatalf("update project: %d %s", r.status, r.raw)
	}
	sentinel(t, srv, srv.ProjectGID(), "project", "", "added", "")
	evs := settle(t, rc)
	if len(evs) != 1 || eventKey(evs[0]) != "project:changed.name" {
		t.Fatalf("workspace webhook got %v", evs)
	}
}

func TestFilters(t *testing.T) {
	srv := emulatortest.New(t)
	task, _ := srv.CreateTask("", srv.ProjectGID(), "Filtered")
	tests := []struct {
		name    string
		filters []any
		want    []string
	}{
		{"no filter", nil, []string{"task:changed.name", "task:changed.notes", "story:added<task"}},
		{"fields", []any{map[string]any{"resource_type": "task", "action": "changed", "fields": []string{"notes"}}},
			[]string{"task:changed.notes"}},
		{"any of two", []any{
			map[string]any{"resource_type": "story"},
			map[string]any{"action": "changed", "fields": []string{"name"}},
		}, []string{"task:changed.name", "story:added<task"}},
		{"subtype", []any{map[string]any{"resource_type": "task", "resource_subtype": "milestone"}}, nil},
	}
	rcs := make([]*receiver, len(tests))
	for i, tc := range tests {
		rcs[i] = newReceiver(t)
		var f any
		if tc.filters != nil {
			f = tc.filters
		}
		createWebhook(t, srv, srv.Token(), task, rcs[i].URL, f)
		rcs[i].waitFor(t, "heartbeat", func(ds []delivered) bool { return len(ds) >= 1 })
	}
	if err := srv.UpdateTask("", task, emulatorTaskName("New name")); err != nil {
		t.Fatal(err)
	}
	notes := "n"
	if err := srv.UpdateTask("", task, taskUpdateNotes(notes)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddComment("", task, "c"); err != nil {
		t.Fatal(err)
	}
	sentinel(t, srv, task, "task", "default_task", "changed", "notes") // no filter, fields
	sentinel(t, srv, task, "story", "comment_added", "added", "")      // any of two
	sentinel(t, srv, task, "task", "milestone", "added", "")           // subtype
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs := settle(t, rcs[i])
			var got []string
			for _, ev := range evs {
				got = append(got, eventKey(ev))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for j := range got {
				if got[j] != tc.want[j] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
