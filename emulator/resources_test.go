package emulator_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

// TestMutationsEmitEvents performs every mutation over HTTP and checks the
// events the workspace stream sees, in order.
func TestMutationsEmitEvents(t *testing.T) {
	srv := emulatortest.New(t, emulatortest.WithTokens("t1", "t2"))
	ws := srv.WorkspaceGID()
	r := call(t, srv, "t1", "GET", "/workspaces/"+ws+"/events", nil)
	tok := r.body["sync"].(string)
	other, _ := srv.UserGID("t2")

	must := func(status int, method, path string, data map[string]any) map[string]any {
		t.Helper()
		var body any
		if data != nil {
			body = map[string]any{"data": data}
		}
		r := call(t, srv, "t1", method, path, body)
		if r.status != status {
			t.Fatalf("%s %s: %d %s", method, path, r.status, r.raw)
		}
		d, _ := r.body["data"].(map[string]any)
		return d
	}
	proj := must(201, "POST", "/projects", map[string]any{"workspace": ws, "name": "Second"})["gid"].(string)
	must(200, "PUT", "/projects/"+proj, map[string]any{"notes": "n", "archived": true})
	sec := must(201, "POST", "/projects/"+proj+"/sections", map[string]any{"name": "Later"})["gid"].(string)
	task := must(201, "POST", "/tasks", map[string]any{"name": "T", "projects": []string{proj}})["gid"].(string)
	must(200, "POST", "/sections/"+sec+"/addTask", map[string]any{"task": task})
	sub := must(201, "POST", "/tasks/"+task+"/subtasks", map[string]any{"name": "S"})["gid"].(string)
	must(200, "POST", "/tasks/"+sub+"/setParent", map[string]any{"parent": nil})
	must(200, "POST", "/tasks/"+task+"/addProject", map[string]any{"project": srv.ProjectGID()})
	must(200, "POST", "/tasks/"+task+"/removeProject", map[string]any{"project": srv.ProjectGID()})
	must(200, "POST", "/tasks/"+task+"/addFollowers", map[string]any{"followers": []string{other}})
	must(200, "POST", "/tasks/"+task+"/removeFollowers", map[string]any{"followers": []string{other}})
	must(200, "PUT", "/tasks/"+task, map[string]any{"due_on": "2026-12-24", "assignee": "me"})
	must(201, "POST", "/tasks/"+task+"/stories", map[string]any{"text": "hi"})
	must(200, "DELETE", "/tasks/"+task, nil)
	if d := must(404, "GET", "/tasks/"+task, nil); d != nil {
		t.Fatal("deleted task still has data")
	}

	r = call(t, srv, "t1", "GET", "/workspaces/"+ws+"/events?sync="+tok, nil)
	var got []string
	for _, e := range r.list(t) {
		got = append(got, eventKey(e.(map[string]any)))
	}
	want := []string{
		"project:added<workspace",
		"project:changed.notes", "project:changed.archived",
		"section:added<project",
		"task:added<project", "task:added<section",
		"task:removed<section", "task:added<section",
		"task:added<task",
		"task:removed<task",
		"task:added<project", "task:added<section",
		"task:removed<project",
		"task:changed.followers", "task:changed.followers",
		"task:changed.assignee", "task:changed.due_on",
		"story:added<task",
		"task:deleted",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
}

func TestResourceShapes(t *testing.T) {
	srv := emulatortest.New(t)
	me := call(t, srv, srv.Token(), "GET", "/users/me", nil).data(t)
	if me["resource_type"] != "user" || me["name"] != "Ada Lovelace" || len(me["workspaces"].([]any)) != 1 {
		t.Errorf("users/me %v", me)
	}
	wss := call(t, srv, srv.Token(), "GET", "/workspaces", nil).list(t)
	if w := wss[0].(map[string]any); w["name"] != "Acme Corp" || w["gid"] != srv.WorkspaceGID() {
		t.Errorf("workspaces %v", wss)
	}
	for _, path := range []string{"/projects?workspace=" + srv.WorkspaceGID(), "/workspaces/" + srv.WorkspaceGID() + "/projects"} {
		ps := call(t, srv, srv.Token(), "GET", path, nil).list(t)
		if len(ps) != 1 || ps[0].(map[string]any)["name"] != "Launch plan" {
			t.Errorf("%s: %v", path, ps)
		}
	}
	secs := call(t, srv, srv.Token(), "GET", "/projects/"+srv.ProjectGID()+"/sections", nil).list(t)
	var names []string
	for _, s := range secs {
		names = append(names, s.(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "To do,Doing,Done" {
		t.Errorf("sections %v", names)
	}
	tasks := call(t, srv, srv.Token(), "GET", "/projects/"+srv.ProjectGID()+"/tasks", nil).list(t)
	if len(tasks) != 3 {
		t.Fatalf("tasks %v", tasks)
	}
	first := tasks[0].(map[string]any)["gid"].(string)
	task := call(t, srv, srv.Token(), "GET", "/tasks/"+first, nil).data(t)
	if task["num_subtasks"] != float64(2) || task["assignee"].(map[string]any)["name"] != "Ada Lovelace" ||
		task["memberships"].([]any)[0].(map[string]any)["section"].(map[string]any)["name"] != "To do" {
		t.Errorf("task %v", task)
	}
	for _, g := range []string{srv.WorkspaceGID(), srv.ProjectGID(), first} {
		if len(g) != 16 {
			t.Errorf("gid %q is not 16 digits", g)
		}
	}
	// Gids are deterministic: a second emulator on the same seed agrees.
	other := emulatortest.New(t)
	if other.ProjectGID() != srv.ProjectGID() || other.WorkspaceGID() != srv.WorkspaceGID() {
		t.Error("gids differ between two emulators on the same seed")
	}
}

func TestSeedFiles(t *testing.T) {
	for _, name := range []string{"testdata/seed.yaml", "testdata/seed.json"} {
		t.Run(name, func(t *testing.T) {
			seed, err := emulator.LoadSeed(name)
			if err != nil {
				t.Fatal(err)
			}
			srv := emulatortest.New(t, emulatortest.WithSeed(seed), emulatortest.WithTokens("x", "y", "z"))
			if srv.ProjectGID() != "4000000000000002" {
				t.Errorf("project gid %q", srv.ProjectGID())
			}
			me := call(t, srv, "z", "GET", "/users/me", nil).data(t)
			if me["name"] != "Emulator User 3" {
				t.Errorf("third token's user %v", me)
			}
			tasks := call(t, srv, "x", "GET", "/projects/"+srv.ProjectGID()+"/tasks", nil).list(t)
			if len(tasks) != 2 {
				t.Errorf("tasks %v", tasks)
			}
		})
	}
	for _, bad := range []string{"workspaces: []", "users: [{name: a, gid: x1}]\nworkspaces: [{name: w}]", "nope: 1\nworkspaces: [{name: w}]",
		"workspaces: [{name: w, projects: [{name: p, tasks: [{name: t, section: missing}]}]}]"} {
		if _, err := emulator.ParseSeed([]byte(bad)); err == nil {
			t.Errorf("seed %q accepted", bad)
		}
	}
}

// TestConcurrencyLimit holds a write open (a handshake the receiver delays)
// and checks that a second write gets 429 while reads still pass.
func TestConcurrencyLimit(t *testing.T) {
	srv := emulatortest.New(t, emulatortest.WithConfig(func(c *emulator.Config) { c.MaxWrites = 1 }))
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	slow := newReceiver(t)
	slow.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(entered) })
		<-release
		w.Header().Set(asana.HeaderSecret, r.Header.Get(asana.HeaderSecret))
	})
	done := make(chan response, 1)
	go func() {
		done <- call(t, srv, srv.Token(), "POST", "/webhooks", map[string]any{"data": map[string]any{"resource": srv.ProjectGID(), "target": slow.URL}})
	}()
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("handshake never arrived")
	}
	r := call(t, srv, srv.Token(), "PUT", "/projects/"+srv.ProjectGID(), map[string]any{"data": map[string]any{"notes": "x"}})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("second write: %d %s", r.status, r.raw)
	}
	if r := call(t, srv, srv.Token(), "GET", "/users/me", nil); r.status != http.StatusOK {
		t.Errorf("read during write: %d", r.status)
	}
	close(release)
	if r := <-done; r.status != http.StatusCreated {
		t.Errorf("held write: %d %s", r.status, r.raw)
	}
}

func TestGIDsIndependentOfTokens(t *testing.T) {
	one := emulatortest.New(t)
	three := emulatortest.New(t, emulatortest.WithTokens("a", "b", "c"))
	if one.WorkspaceGID() != "1200000000000003" || one.ProjectGID() != "1200000000000004" {
		t.Errorf("built-in seed gids %s %s", one.WorkspaceGID(), one.ProjectGID())
	}
	if three.WorkspaceGID() != one.WorkspaceGID() || three.ProjectGID() != one.ProjectGID() {
		t.Errorf("gids depend on the token count: %s/%s vs %s/%s", three.WorkspaceGID(), three.ProjectGID(), one.WorkspaceGID(), one.ProjectGID())
	}
	r := call(t, three, "c", "GET", "/projects/"+three.ProjectGID(), nil)
	if n := len(r.data(t)["members"].([]any)); n != 3 {
		t.Errorf("project has %d members, want 3 (every token's user)", n)
	}
	noUsers := emulatortest.New(t, emulatortest.WithSeed(&emulator.Seed{Workspaces: []emulator.SeedWorkspace{{Name: "W"}}}))
	if r := call(t, noUsers, noUsers.Token(), "GET", "/users/me", nil); r.status != http.StatusOK {
		t.Errorf("seed without users: %d %s", r.status, r.raw)
	}
}

func TestTaskListings(t *testing.T) {
	srv := emulatortest.New(t)
	secs, err := srv.SectionGIDs(srv.ProjectGID())
	if err != nil {
		t.Fatal(err)
	}
	me, _ := srv.UserGID("")
	tests := []struct {
		path string
		want []string
	}{
		{"/tasks?project=" + srv.ProjectGID(), []string{"Write the announcement", "Book the venue", "Pick a name"}},
		{"/tasks?section=" + secs[1], []string{"Book the venue"}},
		{"/sections/" + secs[2] + "/tasks", []string{"Pick a name"}},
		{"/tasks?assignee=" + me + "&workspace=" + srv.WorkspaceGID(), []string{"Write the announcement"}},
		{"/tasks?assignee=me&workspace=" + srv.WorkspaceGID() + "&limit=1", []string{"Write the announcement"}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := call(t, srv, srv.Token(), "GET", tc.path, nil)
			var names []string
			for _, x := range r.list(t) {
				names = append(names, x.(map[string]any)["name"].(string))
			}
			if strings.Join(names, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %v, want %v", names, tc.want)
			}
		})
	}
	if r := call(t, srv, srv.Token(), "GET", "/tasks", nil); r.status != http.StatusBadRequest {
		t.Errorf("GET /tasks without a filter: %d", r.status)
	}
}
