package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

// Tokens of the emulators under test: each is a user of the seeded workspace.
const (
	token       = "conformance-token-1"
	otherToken  = "conformance-token-2"
	noToken     = "-"
	badToken    = "not-a-token"
	waitTimeout = 30 * time.Second
)

// step is one request of the conformance run. Steps run in order, since
// later ones use the gids earlier ones created: "{name}" in path and body is
// replaced by a value saved before (see env.vars).
type step struct {
	name   string
	method string
	path   string // under /api/1.0, with the query
	body   string // JSON, sent as is ("" for none)
	form   bool   // body is form-encoded instead (§1.2)
	token  string // "" is token; noToken sends no Authorization
	// limited sends the request to the emulator whose rate limit is one
	// request a minute.
	limited bool
	want    int               // status
	save    map[string]string // var name -> dotted path into the response JSON
}

// steps covers every route the emulator serves (emulator/resources.go) and
// the error statuses of the reference (§1.3): 400, 401, 403, 404, 412, 429.
var steps = []step{
	// Users and workspaces.
	{name: "users/me", method: "GET", path: "/users/me", want: 200, save: map[string]string{"me": "data.gid"}},
	{name: "users/me pretty", method: "GET", path: "/users/me?opt_pretty=true", want: 200},
	{name: "users/{gid}", method: "GET", path: "/users/{other}", want: 200},
	{name: "workspaces", method: "GET", path: "/workspaces", want: 200},
	{name: "workspaces paged", method: "GET", path: "/workspaces?limit=1", want: 200},
	{name: "workspaces opt_fields", method: "GET", path: "/workspaces?opt_fields=name,is_organization,email_domains", want: 200},
	{name: "workspace get", method: "GET", path: "/workspaces/{workspace}", want: 200},

	// /events streams opened before the mutations, so that their 200 pages
	// hold every kind of event the run causes.
	{name: "events first call 412", method: "GET", path: "/events?resource={project}", want: 412, save: map[string]string{"sync": "sync"}},
	{name: "events empty sync 412", method: "GET", path: "/events?resource={project}&sync=", want: 412},
	{name: "workspace events first call 412", method: "GET", path: "/workspaces/{workspace}/events", want: 412, save: map[string]string{"wsync": "sync"}},

	// Webhooks, created before the mutations so that deliveries carry events.
	{name: "webhook create", method: "POST", path: "/webhooks",
		body: `{"data":{"resource":"{project}","target":"{target}","filters":[{"resource_type":"task"},{"resource_type":"story","action":"added"},{"resource_type":"task","action":"changed","fields":["name","completed"]}]}}`,
		want: 201, save: map[string]string{"webhook": "data.gid"}},
	{name: "webhook create without filters", method: "POST", path: "/webhooks",
		body: `{"data":{"resource":"{project}","target":"{target}?all=1"}}`, want: 201, save: map[string]string{"webhook2": "data.gid"}},
	{name: "webhook create on workspace", method: "POST", path: "/webhooks",
		body: `{"data":{"resource":"{workspace}","target":"{target}","filters":[{"resource_type":"project","action":"added"}]}}`,
		want: 201, save: map[string]string{"wswebhook": "data.gid"}},
	{name: "webhook create opt_fields", method: "POST", path: "/webhooks?opt_fields=target,resource.name,filters",
		body: `{"data":{"resource":"{task0}","target":"{target}"}}`, want: 201, save: map[string]string{"taskwebhook": "data.gid"}},
	{name: "webhook duplicate 403", method: "POST", path: "/webhooks",
		body: `{"data":{"resource":"{project}","target":"{target}"}}`, want: 403},
	{name: "webhook workspace without filters 400", method: "POST", path: "/webhooks",
		body: `{"data":{"resource":"{workspace}","target":"{target}?x=1"}}`, want: 400},
	{name: "webhook missing resource 400", method: "POST", path: "/webhooks",
		body: `{"data":{"target":"{target}"}}`, want: 400},
	{name: "webhook unknown resource 404", method: "POST", path: "/webhooks",
		body: `{"data":{"resource":"999999999999","target":"{target}"}}`, want: 404},

	// Projects.
	{name: "projects list", method: "GET", path: "/projects?workspace={workspace}", want: 200},
	{name: "projects list paged", method: "GET", path: "/projects?workspace={workspace}&limit=1", want: 200},
	{name: "projects list opt_fields", method: "GET", path: "/projects?workspace={workspace}&opt_fields=name,archived,color", want: 200},
	{name: "workspace projects", method: "GET", path: "/workspaces/{workspace}/projects", want: 200},
	{name: "workspace projects archived", method: "GET", path: "/workspaces/{workspace}/projects?archived=false&limit=10", want: 200},
	{name: "project create", method: "POST", path: "/projects",
		body: `{"data":{"workspace":"{workspace}","name":"Conformance","notes":"Made by the conformance test"}}`,
		want: 201, save: map[string]string{"newproject": "data.gid"}},
	{name: "project update", method: "PUT", path: "/projects/{newproject}",
		body: `{"data":{"name":"Conformance 2","notes":"<b>&</b> / \u2028 é","color":"dark-blue","due_on":"2026-12-31"}}`, want: 200},
	{name: "project update archived", method: "PUT", path: "/projects/{newproject}", body: `{"data":{"archived":true}}`, want: 200},
	{name: "project get", method: "GET", path: "/projects/{project}", want: 200},
	{name: "project get opt_fields", method: "GET", path: "/projects/{project}?opt_fields=name,owner.name,members", want: 200},

	// Sections.
	{name: "sections list", method: "GET", path: "/projects/{project}/sections", want: 200, save: map[string]string{"section": "data.0.gid"}},
	{name: "sections list paged", method: "GET", path: "/projects/{project}/sections?limit=2", want: 200},
	{name: "section create", method: "POST", path: "/projects/{project}/sections", body: `{"data":{"name":"Review"}}`,
		want: 201, save: map[string]string{"newsection": "data.gid"}},
	{name: "section get", method: "GET", path: "/sections/{newsection}", want: 200},
	{name: "section update", method: "PUT", path: "/sections/{newsection}", body: `{"data":{"name":"In review"}}`, want: 200},

	// Tasks.
	{name: "task create", method: "POST", path: "/tasks",
		body: `{"data":{"name":"Conformance task","notes":"n","projects":["{project}"]}}`, want: 201, save: map[string]string{"task": "data.gid"}},
	{name: "task create in workspace", method: "POST", path: "/tasks",
		body: `{"data":{"name":"My task","workspace":"{workspace}","assignee":"{me}"}}`, want: 201},
	{name: "task get", method: "GET", path: "/tasks/{task}", want: 200},
	{name: "task get opt_fields", method: "GET", path: "/tasks/{task}?opt_fields=name,assignee.name,memberships.section.name", want: 200},
	{name: "task update", method: "PUT", path: "/tasks/{task}",
		body: `{"data":{"name":"Renamed","notes":"new notes","completed":true,"assignee":"{me}","due_on":"2026-12-24"}}`, want: 200},
	{name: "task update clear", method: "PUT", path: "/tasks/{task}",
		body: `{"data":{"completed":false,"assignee":null,"due_on":null}}`, want: 200},
	{name: "section addTask", method: "POST", path: "/sections/{newsection}/addTask", body: `{"data":{"task":"{task}"}}`, want: 200},
	{name: "project tasks", method: "GET", path: "/projects/{project}/tasks", want: 200},
	{name: "tasks by project", method: "GET", path: "/tasks?project={project}&limit=2", want: 200},
	{name: "tasks by section", method: "GET", path: "/tasks?section={newsection}&opt_fields=name,memberships.section.name", want: 200},
	{name: "tasks by assignee", method: "GET", path: "/tasks?assignee=me&workspace={workspace}", want: 200},
	{name: "tasks without a filter 400", method: "GET", path: "/tasks", want: 400},
	{name: "project tasks paged", method: "GET", path: "/projects/{project}/tasks?limit=1&opt_fields=name,completed", want: 200},
	{name: "subtask create", method: "POST", path: "/tasks/{task}/subtasks", body: `{"data":{"name":"Sub"}}`,
		want: 201, save: map[string]string{"subtask": "data.gid"}},
	{name: "subtasks list", method: "GET", path: "/tasks/{task}/subtasks", want: 200},
	{name: "subtask get", method: "GET", path: "/tasks/{subtask}", want: 200},
	{name: "task create second", method: "POST", path: "/tasks",
		body: `{"data":{"name":"Second","projects":["{project}"]}}`, want: 201, save: map[string]string{"task2": "data.gid"}},
	{name: "setParent", method: "POST", path: "/tasks/{task2}/setParent", body: `{"data":{"parent":"{task}"}}`, want: 200},
	{name: "setParent null", method: "POST", path: "/tasks/{task2}/setParent", body: `{"data":{"parent":null}}`, want: 200},
	{name: "addProject", method: "POST", path: "/tasks/{task}/addProject", body: `{"data":{"project":"{newproject}"}}`, want: 200},
	{name: "removeProject", method: "POST", path: "/tasks/{task}/removeProject", body: `{"data":{"project":"{newproject}"}}`, want: 200},
	{name: "addFollowers", method: "POST", path: "/tasks/{task}/addFollowers", body: `{"data":{"followers":["{other}"]}}`, want: 200},
	{name: "removeFollowers", method: "POST", path: "/tasks/{task}/removeFollowers", body: `{"data":{"followers":["{other}"]}}`, want: 200},

	// Stories.
	{name: "story create", method: "POST", path: "/tasks/{task}/stories", body: `{"data":{"text":"Looks good <3 & 10/10"}}`,
		want: 201, save: map[string]string{"story": "data.gid"}},
	{name: "story create form-encoded", method: "POST", path: "/tasks/{task}/stories", body: `text=From+a+form&opt_fields=text`, form: true, want: 201},
	{name: "task update with options", method: "PUT", path: "/tasks/{task}",
		body: `{"data":{"notes":"options"},"options":{"fields":["name","notes"],"pretty":true}}`, want: 200},
	{name: "webhook create form-encoded", method: "POST", path: "/webhooks", body: `resource={task}&target={target}%3Fform%3D1`, form: true,
		want: 201, save: map[string]string{"formwebhook": "data.gid"}},
	{name: "stories list", method: "GET", path: "/tasks/{task}/stories", want: 200},
	{name: "stories list paged", method: "GET", path: "/tasks/{task}/stories?limit=1", want: 200},
	{name: "story get", method: "GET", path: "/stories/{story}", want: 200},

	{name: "task delete", method: "DELETE", path: "/tasks/{task2}", want: 200},

	// Webhooks: list, get, update, delete.
	{name: "webhooks list", method: "GET", path: "/webhooks?workspace={workspace}", want: 200},
	{name: "webhooks list paged", method: "GET", path: "/webhooks?workspace={workspace}&limit=1", want: 200,
		save: map[string]string{"offset": "next_page.offset"}},
	{name: "webhooks list next page", method: "GET", path: "/webhooks?workspace={workspace}&limit=1&offset={offset}", want: 200},
	{name: "webhooks list by resource", method: "GET", path: "/webhooks?workspace={workspace}&resource={project}", want: 200},
	{name: "webhooks list other token", method: "GET", path: "/webhooks?workspace={workspace}", token: otherToken, want: 200},
	{name: "webhook get", method: "GET", path: "/webhooks/{webhook}", want: 200},
	{name: "webhook update", method: "PUT", path: "/webhooks/{webhook}",
		body: `{"data":{"filters":[{"resource_type":"task","action":"added"},{"resource_type":"story"}]}}`, want: 200},

	// /events pages after the mutations.
	{name: "events page", method: "GET", path: "/events?resource={project}&sync={sync}", want: 200, save: map[string]string{"sync2": "sync"}},
	{name: "events replay", method: "GET", path: "/events?resource={project}&sync={sync}", want: 200},
	{name: "events opt_fields", method: "GET", path: "/events?resource={project}&sync={sync}&opt_fields=action,resource.name,user", want: 200},
	{name: "events next page", method: "GET", path: "/events?resource={project}&sync={sync2}", want: 200},
	{name: "events task", method: "GET", path: "/events?resource={task}", want: 412},
	{name: "workspace events page", method: "GET", path: "/workspaces/{workspace}/events?sync={wsync}", want: 200},
	{name: "events bad sync 412", method: "GET", path: "/events?resource={project}&sync=0123456789abcdef", want: 412},

	{name: "webhook delete", method: "DELETE", path: "/webhooks/{webhook}", want: 200},
	{name: "webhook get deleted 404", method: "GET", path: "/webhooks/{webhook}", want: 404},
	{name: "webhook get other token 404", method: "GET", path: "/webhooks/{webhook2}", token: otherToken, want: 404},

	// Errors.
	{name: "no token 401", method: "GET", path: "/users/me", token: noToken, want: 401},
	{name: "bad token 401", method: "GET", path: "/workspaces", token: badToken, want: 401},
	{name: "bad token on POST 401", method: "POST", path: "/tasks", body: `{"data":{"name":"x"}}`, token: badToken, want: 401},
	{name: "unknown task 404", method: "GET", path: "/tasks/999999999999", want: 404},
	{name: "unknown project 404", method: "GET", path: "/projects/999999999999", want: 404},
	{name: "unknown section 404", method: "GET", path: "/sections/999999999999", want: 404},
	{name: "unknown story 404", method: "GET", path: "/stories/999999999999", want: 404},
	{name: "unknown user 404", method: "GET", path: "/users/999999999999", want: 404},
	{name: "unknown workspace 404", method: "GET", path: "/workspaces/999999999999", want: 404},
	{name: "unknown events resource 404", method: "GET", path: "/events?resource=999999999999", want: 404},
	{name: "unknown route 404", method: "GET", path: "/no/such/route", want: 404},
	{name: "task update unknown 404", method: "PUT", path: "/tasks/999999999999", body: `{"data":{"name":"x"}}`, want: 404},
	{name: "task delete unknown 404", method: "DELETE", path: "/tasks/999999999999", want: 404},
	{name: "webhooks list without workspace 400", method: "GET", path: "/webhooks", want: 400},
	{name: "events without resource 400", method: "GET", path: "/events", want: 400},
	{name: "task create without parent 400", method: "POST", path: "/tasks", body: `{"data":{"name":"x"}}`, want: 400},
	{name: "section create without name 400", method: "POST", path: "/projects/{project}/sections", body: `{"data":{}}`, want: 400},
	{name: "project create without workspace 400", method: "POST", path: "/projects", body: `{"data":{"name":"x"}}`, want: 400},
	{name: "addFollowers without followers 400", method: "POST", path: "/tasks/{task}/addFollowers", body: `{"data":{}}`, want: 400},
	{name: "story without text 400", method: "POST", path: "/tasks/{task}/stories", body: `{"data":{}}`, want: 400},
	{name: "webhook update without filters 400", method: "PUT", path: "/webhooks/{webhook2}", body: `{"data":{}}`, want: 400},
	{name: "bad JSON 400", method: "POST", path: "/tasks", body: `{"data":`, want: 400},
	{name: "GET with a body 400", method: "GET", path: "/users/me", body: `{"x":1}`, want: 400},
	{name: "bad limit 400", method: "GET", path: "/workspaces?limit=101", want: 400},
	{name: "rate limit first request", method: "GET", path: "/users/me", limited: true, want: 200},
	{name: "rate limit 429", method: "GET", path: "/users/me", limited: true, want: 429},
	{name: "rate limit 429 on a write", method: "POST", path: "/tasks", body: `{"data":{"name":"x"}}`, limited: true, want: 429},
}

// servedRoutes are the operations of the spec the emulator serves, as the
// spec names them (GET /users/me is GET /users/{user_gid} with "me").
// TestResponsesConformToSpec checks that steps give each a 2xx response, and
// that the emulator serves no other operation of the spec.
var servedRoutes = []string{
	"GET /users/{user_gid}",
	"GET /workspaces",
	"GET /workspaces/{workspace_gid}",
	"GET /workspaces/{workspace_gid}/projects",
	"GET /projects",
	"POST /projects",
	"GET /projects/{project_gid}",
	"PUT /projects/{project_gid}",
	"GET /projects/{project_gid}/sections",
	"POST /projects/{project_gid}/sections",
	"GET /projects/{project_gid}/tasks",
	"GET /sections/{section_gid}",
	"PUT /sections/{section_gid}",
	"POST /sections/{section_gid}/addTask",
	"GET /tasks",
	"POST /tasks",
	"GET /tasks/{task_gid}",
	"PUT /tasks/{task_gid}",
	"DELETE /tasks/{task_gid}",
	"GET /tasks/{task_gid}/subtasks",
	"POST /tasks/{task_gid}/subtasks",
	"POST /tasks/{task_gid}/setParent",
	"POST /tasks/{task_gid}/addProject",
	"POST /tasks/{task_gid}/removeProject",
	"POST /tasks/{task_gid}/addFollowers",
	"POST /tasks/{task_gid}/removeFollowers",
	"GET /tasks/{task_gid}/stories",
	"POST /tasks/{task_gid}/stories",
	"GET /stories/{story_gid}",
	"POST /webhooks",
	"GET /webhooks",
	"GET /webhooks/{webhook_gid}",
	"PUT /webhooks/{webhook_gid}",
	"DELETE /webhooks/{webhook_gid}",
	"GET /events",
	"GET /workspaces/{workspace_gid}/events",
}

// receiver is the webhook target: it answers handshakes by echoing
// X-Hook-Secret and records every delivery body.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if s := r.Header.Get("X-Hook-Secret"); s != "" {
		w.Header().Set("X-Hook-Secret", s)
		w.WriteHeader(http.StatusOK)
		return
	}
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, body)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) received() [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.bodies)
}

// env is a running conformance setup: the emulator, a second one with a
// rate limit of one request a minute, the webhook receiver and the values
// saved by steps.
type env struct {
	srv, limited *emulator.Server
	recv         *receiver
	vars         map[string]string
	// client bounds every request, so a hung emulator fails the test.
	client *http.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	recv := &receiver{}
	target := httptest.NewServer(recv)
	t.Cleanup(target.Close)
	srv := emulatortest.New(t, emulatortest.WithTokens(token, otherToken))
	limited := emulatortest.New(t, emulatortest.WithTokens(token), emulatortest.WithRateLimit(1))
	other, err := srv.UserGID(otherToken)
	if err != nil {
		t.Fatalf("user of the second token: %v", err)
	}
	client := &http.Client{Timeout: waitTimeout}
	project := srv.ProjectGID()
	// The seeded project's first task, for a webhook on a task.
	var tasks struct {
		Data []struct {
			GID string `json:"gid"`
		} `json:"data"`
	}
	if err := json.Unmarshal(get(t, client, srv.BaseURL()+"/projects/"+project+"/tasks"), &tasks); err != nil || len(tasks.Data) == 0 {
		t.Fatalf("seeded tasks of project %s: %v (%d tasks)", project, err, len(tasks.Data))
	}
	return &env{srv: srv, limited: limited, recv: recv, client: client, vars: map[string]string{
		"workspace": srv.WorkspaceGID(),
		"project":   project,
		"other":     other,
		"task0":     tasks.Data[0].GID,
		"target":    target.URL + "/hooks/conformance",
	}}
}

// get fetches url with token, failing the test on anything but 200.
func get(t *testing.T, client *http.Client, url string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s (%v)", url, resp.StatusCode, b, err)
	}
	return b
}

var (
	placeholder      = regexp.MustCompile(`\{[a-z0-9]+\}`)
	pathParam        = regexp.MustCompile(`\{[a-z_]+\}`)
	referenceSection = regexp.MustCompile(`asana-api\.md §\d+(\.\d+)?`)
)

// expand replaces "{name}" with saved values; it fails on an unknown name.
func (e *env) expand(s string) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		v, ok := e.vars[m[1:len(m)-1]]
		if !ok {
			missing = append(missing, m)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value saved for %s (did an earlier step fail?)", strings.Join(missing, ", "))
	}
	return out, nil
}

// do runs one step and returns the exchange.
func (e *env) do(st step) (exchange, error) {
	path, err := e.expand(st.path)
	if err != nil {
		return exchange{}, err
	}
	body, err := e.expand(st.body)
	if err != nil {
		return exchange{}, err
	}
	base := e.srv.BaseURL()
	if st.limited {
		base = e.limited.BaseURL()
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(st.method, base+path, rd)
	if err != nil {
		return exchange{}, fmt.Errorf("build request: %w", err)
	}
	switch {
	case st.form:
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	switch tok := st.token; tok {
	case noToken:
	case "":
		req.Header.Set("Authorization", "Bearer "+token)
	default:
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return exchange{}, fmt.Errorf("%s %s: %w", st.method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return exchange{}, fmt.Errorf("read response of %s %s: %w", st.method, path, err)
	}
	return exchange{name: st.name, req: req, status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// save stores the values a step asked for.
func (e *env) save(st step, body []byte) error {
	if len(st.save) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	for name, path := range st.save {
		cur := v
		for _, part := range strings.Split(path, ".") {
			switch x := cur.(type) {
			case map[string]any:
				cur = x[part]
			case []any:
				i, err := strconv.Atoi(part)
				if err != nil || i >= len(x) {
					return fmt.Errorf("save %s: no %s in %s", name, path, body)
				}
				cur = x[i]
			default:
				return fmt.Errorf("save %s: no %s in %s", name, path, body)
			}
		}
		s, ok := cur.(string)
		if !ok || s == "" {
			return fmt.Errorf("save %s: %s is %v, not a string", name, path, cur)
		}
		e.vars[name] = s
	}
	return nil
}

// TestResponsesConformToSpec drives every endpoint of the emulator (steps)
// and validates each response with kin-openapi against Asana's OpenAPI
// spec, with the departures applied; then the webhook deliveries and /events
// events against EventResponse and the reference's field set; then that
// every departure is still needed.
func TestResponsesConformToSpec(t *testing.T) {
	e := newEnv(t)
	bases := []string{e.srv.BaseURL(), e.limited.BaseURL()}
	sp := loadSpec(t, bases)
	var recorded []exchange
	ran := 0
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ran++
			x, err := e.do(st)
			if err != nil {
				t.Fatal(err)
			}
			recorded = append(recorded, x)
			if x.status != st.want {
				t.Errorf("%s %s: status %d, want %d; body %s", st.method, st.path, x.status, st.want, x.body)
			}
			if err := sp.validate(x); err != nil {
				t.Errorf("response does not conform to the spec: %v\nbody: %s", err, x.body)
			}
			if err := checkWire(x); err != nil {
				t.Errorf("wire: %v", err)
			}
			if err := checkEventsPage(x); err != nil {
				t.Errorf("events page: %v", err)
			}
			if err := e.save(st, x.body); err != nil {
				t.Error(err)
			}
		})
	}

	if ran < len(steps) {
		t.Skipf("the checks below need the whole step table; %d of %d steps ran (-run filter?)", ran, len(steps))
	}

	t.Run("coverage", func(t *testing.T) {
		hit := map[string]bool{}
		for _, x := range recorded {
			if x.status < 200 || x.status > 299 {
				continue
			}
			if route, _, err := sp.router.FindRoute(x.req); err == nil {
				hit[route.Method+" "+route.Path] = true
			}
		}
		for _, r := range servedRoutes {
			if !hit[r] {
				t.Errorf("no step got a 2xx response from %s", r)
			}
		}
		for _, op := range specOperations(sp) {
			served := e.serves(t, op)
			if listed := slices.Contains(servedRoutes, op); served != listed {
				t.Errorf("%s: the emulator serves it: %v; listed in servedRoutes: %v", op, served, listed)
			}
		}
	})

	t.Run("deliveries", func(t *testing.T) {
		bodies := waitDeliveries(t, e)
		events := 0
		defer func() { t.Logf("%d deliveries with %d events checked", len(bodies), events) }()
		for i, b := range bodies {
			x := exchange{name: fmt.Sprintf("delivery %d", i), body: b, delivery: true}
			recorded = append(recorded, x)
			if err := sp.validate(x); err != nil {
				t.Errorf("delivery %d does not conform to EventResponse: %v\nbody: %s", i, err, b)
			}
			var v struct {
				Events []json.RawMessage `json:"events"`
			}
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("delivery %d: %v", i, err)
			}
			events += len(v.Events)
			for j, ev := range v.Events {
				if err := checkEventFields(ev, webhookForm); err != nil {
					t.Errorf("delivery %d event %d: %v\nevent: %s", i, j, err, ev)
				}
			}
		}
	})

	// Each departure must be needed: without it, some recorded response
	// fails. A departure Asana's spec has caught up with, or one the emulator
	// no longer exercises, must go from the list.
	t.Run("departures are needed", func(t *testing.T) {
		for _, d := range slices.Concat(readings, departures) {
			t.Run(d.name, func(t *testing.T) {
				if d.reason == "" || d.source == "" {
					t.Errorf("%q needs a reason and a source", d.name)
				}
				if slices.ContainsFunc(departures, func(x departure) bool { return x.name == d.name }) &&
					!referenceSection.MatchString(d.source) {
					t.Errorf("departure %q must cite a section of asana-api.md, e.g. \"asana-api.md §2.6\": %q", d.name, d.source)
				}
				failed := 0
				sp.without(t, d, func() {
					for _, x := range recorded {
						if sp.validate(x) != nil {
							failed++
						}
					}
				})
				if failed == 0 {
					t.Errorf("no recorded response needs departure %q; drop it from the list", d.name)
				}
				t.Logf("%d recorded responses need it", failed)
			})
		}
		// Undo and re-apply left the spec as it was.
		for _, x := range recorded {
			if err := sp.validate(x); err != nil {
				t.Errorf("%s: fails after the departures were re-applied: %v", x.name, err)
			}
		}
	})
}

// specOperations lists the spec's operations as "METHOD /path", sorted.
func specOperations(sp *spec) []string {
	var ops []string
	for path, item := range sp.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

// serves reports whether the emulator routes op: it answers anything but
// Asana's "No matching route" 404 to op with an unknown gid in every path
// parameter.
func (e *env) serves(t *testing.T, op string) bool {
	t.Helper()
	method, path, _ := strings.Cut(op, " ")
	path = pathParam.ReplaceAllString(path, "999999999999")
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPut {
		body = strings.NewReader(`{"data":{}}`)
	}
	req, err := http.NewRequest(method, e.srv.BaseURL()+path, body)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read: %v", op, err)
	}
	return !(resp.StatusCode == http.StatusNotFound && bytes.Contains(b, []byte("No matching route for request")))
}

// checkEventsPage checks the events of a 200 /events page against the
// reference's field set (the spec's schema check is done by validate).
func checkEventsPage(x exchange) error {
	p := strings.TrimPrefix(x.req.URL.Path, "/api/1.0")
	isEvents := p == "/events" || (strings.HasPrefix(p, "/workspaces/") && strings.HasSuffix(p, "/events"))
	if !isEvents || x.status != http.StatusOK || x.req.URL.Query().Has("opt_fields") {
		return nil
	}
	var page struct {
		Data    []json.RawMessage `json:"data"`
		Sync    string            `json:"sync"`
		HasMore *bool             `json:"has_more"`
	}
	if err := json.Unmarshal(x.body, &page); err != nil {
		return err
	}
	if page.Sync == "" || page.HasMore == nil {
		return fmt.Errorf("a 200 page needs sync and has_more (§5.1): %s", x.body)
	}
	for i, ev := range page.Data {
		if err := checkEventFields(ev, eventsForm); err != nil {
			return fmt.Errorf("event %d: %w\nevent: %s", i, err, ev)
		}
	}
	return nil
}

// waitDeliveries waits until the emulator has delivered, with success, the
// events of the run (at least one non-empty batch, and no pending events),
// then returns the bodies the receiver got.
func waitDeliveries(t *testing.T, e *env) [][]byte {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var events, heartbeats int
		for _, r := range e.srv.Deliveries("") {
			if !r.Success {
				continue
			}
			switch r.Kind {
			case "events":
				events++
			case "heartbeat":
				heartbeats++
			}
		}
		pending := e.srv.State().Pending
		if events > 0 && heartbeats > 0 && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d event and %d heartbeat deliveries succeeded, %d pending", waitTimeout, events, heartbeats, pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := e.recv.received()
	var withEvents int
	for _, b := range got {
		if !bytes.Equal(b, []byte(`{"events":[]}`)) {
			withEvents++
		}
	}
	if withEvents == 0 {
		t.Fatalf("the receiver got %d deliveries, none with events", len(got))
	}
	return got
}
