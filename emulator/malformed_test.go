package emulator_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

// TestMalformedRequests sends every kind of bad request and checks the
// status and that the body is Asana's envelope with the expected message.
func TestMalformedRequests(t *testing.T) {
	srv := emulatortest.New(t)
	tok := srv.Token()
	p := srv.ProjectGID()
	huge := `{"data":{"name":"` + strings.Repeat("x", 2<<20) + `"}}`
	tests := []struct {
		name, token, method, path string
		body                      any
		status                    int
		message                   string // substring
	}{
		{"no token", "", "GET", "/users/me", nil, 401, "Not Authorized"},
		{"unknown token", "nope", "GET", "/users/me", nil, 401, "Not Authorized"},
		{"unknown route", tok, "GET", "/nothing/here", nil, 404, "No matching route for request"},
		{"unknown route without token", "", "GET", "/nothing", nil, 404, "No matching route for request"},
		{"wrong method", tok, "PATCH", "/tasks/1", nil, 404, "No matching route for request"},
		{"outside the api", tok, "GET", "http://" + srv.Addr() + "/favicon.ico", nil, 404, "No matching route for request"},
		{"unknown task", tok, "GET", "/tasks/1999999999999999", nil, 404, "Unknown object: 1999999999999999"},
		{"non-numeric gid", tok, "GET", "/tasks/abc", nil, 400, "task: Not a recognized ID: abc"},
		{"unknown webhook", tok, "GET", "/webhooks/1999999999999999", nil, 404, "Unknown object"},
		{"GET with body", tok, "GET", "/users/me", `{"data":{}}`, 400, "must not include a body"},
		{"bad JSON", tok, "POST", "/webhooks", `{"data":`, 400, "invalid JSON"},
		{"trailing garbage", tok, "POST", "/webhooks", `{"data":{}} x`, 400, "invalid JSON"},
		{"not an object", tok, "POST", "/webhooks", `[1,2]`, 400, "must be a JSON object"},
		{"data not an object", tok, "POST", "/webhooks", `{"data":"x"}`, 400, "data: must be an object"},
		{"options not an object", tok, "POST", "/webhooks", `{"data":{},"options":3}`, 400, "options: must be an object"},
		{"missing resource", tok, "POST", "/webhooks", `{"data":{"target":"http://127.0.0.1:1/"}}`, 400, "resource: Missing input"},
		{"missing target", tok, "POST", "/webhooks", `{"data":{"resource":"` + p + `"}}`, 400, "target: Missing input"},
		{"resource wrong type", tok, "POST", "/webhooks", `{"data":{"resource":12,"target":"http://127.0.0.1:1/"}}`, 400, "resource: must be a string"},
		{"resource not a gid", tok, "POST", "/webhooks", `{"data":{"resource":"abc","target":"http://127.0.0.1:1/"}}`, 400, "resource: Not a recognized ID"},
		{"unknown resource", tok, "POST", "/webhooks", `{"data":{"resource":"1999999999999999","target":"http://127.0.0.1:1/"}}`, 404, "Unknown object"},
		{"relative target", tok, "POST", "/webhooks", `{"data":{"resource":"` + p + `","target":"/hook"}}`, 400, "target:"},
		{"ftp target", tok, "POST", "/webhooks", `{"data":{"resource":"` + p + `","target":"ftp://x/"}}`, 400, "target:"},
		{"garbage target", tok, "POST", "/webhooks", `{"data":{"resource":"` + p + `","target":"::::"}}`, 400, "target:"},
		{"filters wrong type", tok, "POST", "/webhooks", `{"data":{"resource":"` + p + `","target":"http://127.0.0.1:1/","filters":{}}}`, 400, "filters: must be an array"},
		{"filter field wrong type", tok, "POST", "/webhooks", `{"data":{"resource":"` + p + `","target":"http://127.0.0.1:1/","filters":[{"action":1}]}}`, 400, "filters[0].action"},
		{"fields without changed", tok, "POST", "/webhooks", `{"data":{"resource":"` + p + `","target":"http://127.0.0.1:1/","filters":[{"action":"added","fields":["name"]}]}}`, 400, "fields"},
		{"unknown filter action", tok, "POST", "/webhooks", `{"data":{"resource":"` + p + `","target":"http://127.0.0.1:1/","filters":[{"action":"exploded"}]}}`, 400, "filters[0].action"},
		{"huge body", tok, "POST", "/tasks", huge, 413, "too large"},
		{"completed wrong type", tok, "POST", "/tasks", `{"data":{"projects":["` + p + `"],"completed":"maybe"}}`, 400, "completed: must be a boolean"},
		{"bad due_on", tok, "POST", "/tasks", `{"data":{"projects":["` + p + `"],"due_on":"tomorrow"}}`, 400, "due_on"},
		{"unknown project", tok, "POST", "/tasks", `{"data":{"projects":["1999999999999999"]}}`, 400, "projects: Not a recognized ID"},
		{"task without container", tok, "POST", "/tasks", `{"data":{"name":"x"}}`, 400, "workspace: Missing input"},
		{"limit too big", tok, "GET", "/projects/" + p + "/tasks?limit=101", nil, 400, "limit"},
		{"limit not a number", tok, "GET", "/projects/" + p + "/tasks?limit=x", nil, 400, "limit"},
		{"events without resource", tok, "GET", "/events", nil, 400, "resource: Missing input"},
		{"projects without workspace", tok, "GET", "/projects", nil, 400, "workspace: Missing input"},
		{"comment without text", tok, "POST", "/tasks/" + p + "/stories", `{"data":{}}`, 400, "text: Missing input"},
		{"bad form", tok, "POST", "/webhooks", "form:resource=%zz", 400, "form"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, srv, tc.token, tc.method, tc.path, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if msg := r.errorMessage(t); !strings.Contains(msg, tc.message) {
				t.Errorf("message %q does not contain %q", msg, tc.message)
			}
			if _, has := r.body["errors"].([]any)[0].(map[string]any)["phrase"]; has {
				t.Error("phrase on a 4xx")
			}
		})
	}
}

func TestFormEncodedAndQueryCreate(t *testing.T) {
	srv := emulatortest.New(t)
	rc := newReceiver(t)
	r := call(t, srv, srv.Token(), "POST", "/webhooks", "form:resource="+srv.ProjectGID()+"&target="+rc.URL+"/form")
	if r.status != http.StatusCreated {
		t.Fatalf("form create: %d %s", r.status, r.raw)
	}
	r = call(t, srv, srv.Token(), "POST", "/webhooks?resource="+srv.ProjectGID()+"&target="+rc.URL+"/query", nil)
	if r.status != http.StatusCreated {
		t.Fatalf("query create: %d %s", r.status, r.raw)
	}
}
