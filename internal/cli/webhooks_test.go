package cli

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// pagedWebhooks serves GET /webhooks over two pages: 2 webhooks, then 1.
func pagedWebhooks(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("workspace") != "1" {
			writeAsanaError(w, http.StatusBadRequest, "workspace: Missing input")
			return
		}
		if q.Get("limit") == "" {
			t.Errorf("GET /webhooks without limit")
		}
		switch q.Get("offset") {
		case "":
			writeJSON(w, 200, `{"data":[`+webhookJSON("101", "77", "https://a.test/hook")+`,`+
				webhookJSON("102", "77", "https://b.test/hook")+`],`+
				`"next_page":{"offset":"page2","path":"/webhooks?workspace=1&limit=100&offset=page2","uri":"http://x/webhooks?offset=page2"}}`)
		case "page2":
			writeJSON(w, 200, `{"data":[`+webhookJSON("103", "78", "https://c.test/hook")+`],"next_page":null}`)
		default:
			writeAsanaError(w, http.StatusBadRequest, "offset: invalid")
		}
	}
}

func TestWebhooksList(t *testing.T) {
	fake := newFakeAsana(t, map[string]http.HandlerFunc{"GET /webhooks": pagedWebhooks(t)})
	env := map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL, "ASANA_WORKSPACE": "1"}

	t.Run("table", func(t *testing.T) {
		res := run(t, invocation{env: env, args: []string{"webhooks", "list"}})
		if res.code != ExitOK {
			t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
		}
		got := lines(res.stdout)
		if len(got) != 4 {
			t.Fatalf("stdout has %d lines, want a header and 3 rows:\n%s", len(got), res.stdout)
		}
		for _, col := range []string{"GID", "ACTIVE", "RESOURCE", "TARGET", "FILTERS"} {
			if !strings.Contains(got[0], col) {
				t.Errorf("header %q lacks %s", got[0], col)
			}
		}
		for i, want := range []string{"101", "102", "103"} {
			row := got[i+1]
			if !strings.HasPrefix(row, want+" ") || !strings.Contains(row, "task:changed:name") || !strings.Contains(row, `project`) {
				t.Errorf("row %d = %q, want webhook %s with its resource and filter", i, row, want)
			}
		}
		// Columns are aligned: TARGET starts at the same offset on every line.
		col := strings.Index(got[0], "TARGET")
		for _, row := range got[1:] {
			if !strings.HasPrefix(row[col:], "https://") {
				t.Errorf("row %q: target not aligned under its header", row)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		res := run(t, invocation{env: env, args: []string{"webhooks", "list", "--json"}})
		if res.code != ExitOK {
			t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
		}
		var gids []string
		for _, l := range lines(res.stdout) {
			var h asana.Webhook
			if err := json.Unmarshal([]byte(l), &h); err != nil {
				t.Fatalf("line %q is not a JSON webhook: %v", l, err)
			}
			gids = append(gids, h.GID)
		}
		if diff := cmp.Diff([]string{"101", "102", "103"}, gids); diff != "" {
			t.Errorf("gids (-want +got):\n%s", diff)
		}
	})

	t.Run("resource", func(t *testing.T) {
		res := run(t, invocation{env: env, args: []string{"webhooks", "list", "--resource", "77", "--json"}})
		if res.code != ExitOK {
			t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
		}
		reqs := fake.seen()
		q, _ := url.ParseQuery(reqs[len(reqs)-1].Query)
		if q.Get("resource") != "77" {
			t.Errorf("query %q, want resource=77", reqs[len(reqs)-1].Query)
		}
	})
}

func TestWebhooksListWorkspace(t *testing.T) {
	tests := []struct {
		name       string
		workspaces string
		wantCode   int
		wantStderr string
	}{
		{name: "the only workspace", workspaces: `[{"gid":"1","resource_type":"workspace","name":"Acme"}]`, wantCode: ExitOK},
		{name: "several", workspaces: `[{"gid":"1","resource_type":"workspace","name":"Acme"},{"gid":"2","resource_type":"workspace","name":"Beta"}]`,
			wantCode: ExitUsage, wantStderr: `pass --workspace or set ASANA_WORKSPACE to one of 1 "Acme", 2 "Beta"`},
		{name: "none", workspaces: `[]`, wantCode: ExitUsage, wantStderr: "no workspace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeAsana(t, map[string]http.HandlerFunc{
				"GET /webhooks": pagedWebhooks(t),
				"GET /workspaces": func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, 200, `{"data":`+tt.workspaces+`,"next_page":null}`)
				},
			})
			res := run(t, invocation{env: map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL}, args: []string{"webhooks", "list", "--json"}})
			if res.code != tt.wantCode {
				t.Fatalf("exit %d, want %d (stderr %q)", res.code, tt.wantCode, res.stderr)
			}
			if tt.wantCode == ExitOK && len(lines(res.stdout)) != 3 {
				t.Errorf("stdout = %q, want 3 webhooks", res.stdout)
			}
			if !strings.Contains(res.stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want %q", res.stderr, tt.wantStderr)
			}
		})
	}
}

func TestWebhooksGet(t *testing.T) {
	fake := newFakeAsana(t, map[string]http.HandlerFunc{"GET /webhooks/123": getWebhookRoute})
	env := map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL}
	res := run(t, invocation{env: env, args: []string{"webhooks", "get", "123"}})
	if res.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	for _, want := range []string{"gid:", "123", `project 77 "Launch"`, "https://example.com/hook", "task:changed:name", "2026-01-02T03:04:05Z", "last failure:"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}
	res = run(t, invocation{env: env, args: []string{"webhooks", "get", "123", "--json"}})
	var h asana.Webhook
	if res.code != ExitOK || json.Unmarshal([]byte(res.stdout), &h) != nil || h.GID != "123" || len(lines(res.stdout)) != 1 {
		t.Errorf("get --json: exit %d, stdout %q", res.code, res.stdout)
	}
}

func TestWebhooksCreate(t *testing.T) {
	const secret = "b5c8e1d2a3f4c0ffee"
	var gotBody struct {
		Data asana.CreateWebhookRequest `json:"data"`
	}
	fake := newFakeAsana(t, map[string]http.HandlerFunc{
		"POST /webhooks": func(w http.ResponseWriter, r *http.Request) {
			if err := json.NewDecoder(r.Body).Decode(&gotBody); err != nil {
				writeAsanaError(w, 400, "bad body")
				return
			}
			writeJSON(w, 201, `{"data":`+webhookJSON("555", gotBody.Data.Resource, gotBody.Data.Target)+`,"X-Hook-Secret":"`+secret+`"}`)
		},
	})
	env := map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL, "ASANA_PROJECT": "77"}
	base := []string{"webhooks", "create", "--target", "https://example.com/hook", "--filter", "task:changed:name,due_on", "--filter", "story:added"}
	tests := []struct {
		name       string
		args       []string
		wantSecret bool
		json       bool
	}{
		{name: "default", args: base},
		{name: "print secret", args: append(base[:len(base):len(base)], "--print-secret"), wantSecret: true},
		{name: "json", args: append(base[:len(base):len(base)], "--json"), json: true},
		{name: "json print secret", args: append(base[:len(base):len(base)], "--json", "--print-secret"), json: true, wantSecret: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, invocation{env: env, args: tt.args})
			if res.code != ExitOK {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			wantReq := asana.CreateWebhookRequest{Resource: "77", Target: "https://example.com/hook", Filters: []asana.Filter{
				{ResourceType: "task", Action: "changed", Fields: []string{"name", "due_on"}},
				{ResourceType: "story", Action: "added"},
			}}
			if diff := cmp.Diff(wantReq, gotBody.Data); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			if got := strings.Contains(res.stdout, secret); got != tt.wantSecret {
				t.Errorf("secret in stdout = %v, want %v:\n%s", got, tt.wantSecret, res.stdout)
			}
			if strings.Contains(res.stderr, secret) {
				t.Errorf("secret in stderr: %q", res.stderr)
			}
			if tt.json {
				var v struct {
					GID    string `json:"gid"`
					Secret string `json:"x_hook_secret"`
				}
				if err := json.Unmarshal([]byte(res.stdout), &v); err != nil || v.GID != "555" {
					t.Fatalf("stdout %q: want one JSON webhook (%v)", res.stdout, err)
				}
				if tt.wantSecret && v.Secret != secret {
					t.Errorf("x_hook_secret = %q, want the secret", v.Secret)
				}
				return
			}
			if !strings.Contains(res.stdout, "Created webhook 555") {
				t.Errorf("stdout = %q, want the created gid", res.stdout)
			}
			if !tt.wantSecret && !strings.Contains(res.stderr, "--print-secret") {
				t.Errorf("stderr = %q, want a note about --print-secret", res.stderr)
			}
		})
	}
}

func TestWebhooksCreateUncertain(t *testing.T) {
	fake := newFakeAsana(t, map[string]http.HandlerFunc{
		"POST /webhooks": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 500, `{"errors":[{"message":"Server Error","phrase":"6 sad squid snuggle softly"}]}`)
		},
		"GET /projects/77": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, `{"data":{"gid":"77","resource_type":"project","name":"Launch","workspace":{"gid":"1","resource_type":"workspace"}}}`)
		},
		"GET /webhooks": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, `{"data":[`+webhookJSON("556", "77", "https://example.com/hook")+`],"next_page":null}`)
		},
	})
	env := map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL}
	res := run(t, invocation{env: env, args: []string{"webhooks", "create", "--resource", "77", "--target", "https://example.com/hook"}})
	if res.code != ExitError {
		t.Fatalf("exit %d, want %d (stderr %q)", res.code, ExitError, res.stderr)
	}
	if !strings.Contains(res.stderr, "webhooks get 556") {
		t.Errorf("stderr = %q, want a pointer to the existing webhook 556", res.stderr)
	}
}

func TestWebhooksUpdate(t *testing.T) {
	var got []string
	fake := newFakeAsana(t, map[string]http.HandlerFunc{
		"PUT /webhooks/123": func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				Data struct {
					Filters json.RawMessage `json:"filters"`
				} `json:"data"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				writeAsanaError(w, 400, "bad body")
				return
			}
			got = append(got, string(body.Data.Filters))
			// Answer with the filters asked for, as Asana does.
			h := strings.Replace(webhookJSON("123", "77", "https://example.com/hook"),
				`"filters":[{"resource_type":"task","action":"changed","fields":["name"]}]`, `"filters":`+string(body.Data.Filters), 1)
			writeJSON(w, 200, `{"data":`+h+`}`)
		},
	})
	env := map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL}
	tests := []struct {
		args       []string
		want       string
		wantStdout string
	}{
		{[]string{"--filter", "task:changed:name", "--filter", "task:added"}, `[{"resource_type":"task","action":"changed","fields":["name"]},{"resource_type":"task","action":"added"}]`,
			"Updated webhook 123: filters task:changed:name task:added\n"},
		{[]string{"--clear-filters"}, `[]`, "Updated webhook 123: no filters (every event on the resource is delivered)\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got = nil
			res := run(t, invocation{env: env, args: append([]string{"webhooks", "update", "123"}, tt.args...)})
			if res.code != ExitOK {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("filters sent = %v, want %s", got, tt.want)
			}
			if res.stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", res.stdout, tt.wantStdout)
			}
		})
	}
}

func TestWebhooksDelete(t *testing.T) {
	fake := newFakeAsana(t, map[string]http.HandlerFunc{
		"DELETE /webhooks/1": func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{"data":{}}`) },
		"DELETE /webhooks/3": func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{"data":{}}`) },
	})
	env := map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL}
	res := run(t, invocation{env: env, args: []string{"webhooks", "delete", "1", "2", "3"}})
	if res.code != ExitError {
		t.Errorf("exit %d, want %d: one deletion failed", res.code, ExitError)
	}
	if diff := cmp.Diff([]string{"Deleted webhook 1", "Deleted webhook 3"}, lines(res.stdout)); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.stderr, "delete webhook 2") || !strings.Contains(res.stderr, "1 of 3 deletions failed") {
		t.Errorf("stderr = %q", res.stderr)
	}
	res = run(t, invocation{env: env, args: []string{"webhooks", "delete", "--json", "1"}})
	if res.code != ExitOK || strings.TrimSpace(res.stdout) != `{"gid":"1","deleted":true}` {
		t.Errorf("delete --json: exit %d, stdout %q", res.code, res.stdout)
	}
}

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in      string
		want    asana.Filter
		wantErr string
	}{
		{in: "task:changed", want: asana.Filter{ResourceType: "task", Action: "changed"}},
		{in: "task:changed:name", want: asana.Filter{ResourceType: "task", Action: "changed", Fields: []string{"name"}}},
		{in: "task:changed:name, due_on ,custom_fields", want: asana.Filter{ResourceType: "task", Action: "changed", Fields: []string{"name", "due_on", "custom_fields"}}},
		{in: "story:added", want: asana.Filter{ResourceType: "story", Action: "added"}},
		{in: "project_membership:removed", want: asana.Filter{ResourceType: "project_membership", Action: "removed"}},
		{in: "task:undeleted", want: asana.Filter{ResourceType: "task", Action: "undeleted"}},
		{in: "task", wantErr: `--filter "task": want resource_type:action[:field,...]`},
		{in: "", wantErr: `--filter "": want resource_type:action[:field,...]`},
		{in: ":changed", wantErr: "want resource_type:action"},
		{in: "task:", wantErr: "want resource_type:action"},
		{in: "task:changed:name:x", wantErr: "want resource_type:action"},
		{in: "task:updated", wantErr: `unknown action "updated": want one of added, changed, deleted, removed, undeleted`},
		{in: "Task:changed", wantErr: `resource type "Task"`},
		{in: "task:added:name", wantErr: "fields are only valid with action changed"},
		{in: "task:changed:", wantErr: "empty field name"},
		{in: "task:changed:name,,notes", wantErr: "empty field name"},
		{in: "task:changed:na me", wantErr: `field "na me"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFilter(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFilter(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseFilter(%q) (-want +got):\n%s", tt.in, diff)
			}
			// Formatting gives back a value that parses to the same filter.
			again, err := ParseFilter(FormatFilter(got))
			if err != nil || !cmp.Equal(got, again) {
				t.Errorf("round trip of %q via %q = %+v, %v", tt.in, FormatFilter(got), again, err)
			}
		})
	}
}
