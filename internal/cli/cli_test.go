package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// result is the outcome of one in-process run of the program.
type result struct {
	code           int
	stdout, stderr string
}

// invocation describes one run: environment, working directory, arguments.
type invocation struct {
	env  map[string]string
	dir  string // working directory; a fresh temp dir when empty
	args []string
}

// runCLI runs the program in-process with ctx.
func runCLI(ctx context.Context, t *testing.T, inv invocation) result {
	t.Helper()
	if inv.dir == "" {
		inv.dir = t.TempDir()
	}
	var stdout, stderr bytes.Buffer
	code := Main(ctx, inv.args, Env{
		Stdout:  &stdout,
		Stderr:  &stderr,
		Getenv:  func(k string) string { return inv.env[k] },
		WorkDir: inv.dir,
		Version: "test",
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func run(t *testing.T, inv invocation) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return runCLI(ctx, t, inv)
}

// request is what the fake Asana saw.
type request struct {
	Method, Path, Query, Auth, UserAgent string
	Body                                 []byte
}

// fakeAsana is an httptest server speaking Asana's wire format. Routes are
// keyed "METHOD /path"; anything else is a 404 in the error envelope.
type fakeAsana struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
}

func newFakeAsana(t *testing.T, routes map[string]http.HandlerFunc) *fakeAsana {
	t.Helper()
	f := &fakeAsana{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("User-Agent"), body})
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if h, ok := routes[r.Method+" "+r.URL.Path]; ok {
			h(w, r)
			return
		}
		writeAsanaError(w, http.StatusNotFound, "No matching route for request")
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAsana) seen() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func writeAsanaError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"message": msg}}})
	writeJSON(w, status, string(b))
}

// webhookJSON is a webhook in Asana's wire format.
func webhookJSON(gid, resource, target string) string {
	return fmt.Sprintf(`{"gid":%q,"resource_type":"webhook","active":true,`+
		`"resource":{"gid":%q,"resource_type":"project","name":"Launch"},"target":%q,`+
		`"created_at":"2026-01-02T03:04:05.678Z","last_success_at":null,"last_failure_at":null,`+
		`"last_failure_content":"","delivery_retry_count":0,"next_attempt_after":null,`+
		`"failure_deletion_timestamp":null,"filters":[{"resource_type":"task","action":"changed","fields":["name"]}],`+
		`"is_workspace_webhook":false,"some_future_field":{"x":1}}`, gid, resource, target)
}

func getWebhookRoute(w http.ResponseWriter, r *http.Request) {
	gid := strings.TrimPrefix(r.URL.Path, "/webhooks/")
	writeJSON(w, 200, `{"data":`+webhookJSON(gid, "77", "https://example.com/hook")+`}`)
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestMissingToken(t *testing.T) {
	commands := [][]string{
		{"webhooks", "list"},
		{"webhooks", "list", "--workspace", "1"},
		{"webhooks", "get", "1"},
		{"webhooks", "create", "--resource", "1", "--target", "https://example.com/h"},
		{"webhooks", "create"}, // the token is checked before the other options
		{"webhooks", "update", "1", "--clear-filters"},
		{"webhooks", "delete", "1", "2"},
		{"events", "--resource", "1"},
	}
	for _, args := range commands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			// A .env without a token must not help, and the API URL must not
			// matter before the token is found.
			if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("ASANA_WORKSPACE=1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			res := run(t, invocation{dir: dir, args: args, env: map[string]string{"ASANA_API_URL": "http://example.com"}})
			if res.code != ExitUsage {
				t.Errorf("exit code = %d, want %d", res.code, ExitUsage)
			}
			if got := lines(res.stderr); len(got) != 1 || !strings.Contains(got[0], "ASANA_PAT") || !strings.Contains(got[0], "--token") {
				t.Errorf("stderr = %q, want one line naming --token and ASANA_PAT", res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing", res.stdout)
			}
		})
	}
}

func TestTokenPrecedence(t *testing.T) {
	tests := []struct {
		name     string
		dotenv   string
		env      map[string]string
		flags    []string
		wantAuth string
	}{
		{name: "dotenv token", dotenv: "ASANA_PAT=from-dotenv\n", wantAuth: "Bearer from-dotenv"},
		{name: "dotenv TEMP_PAT", dotenv: "TEMP_PAT=legacy-dotenv\n", wantAuth: "Bearer legacy-dotenv"},
		{name: "env TEMP_PAT", env: map[string]string{"TEMP_PAT": "legacy-env"}, wantAuth: "Bearer legacy-env"},
		{name: "env beats dotenv", dotenv: "ASANA_PAT=from-dotenv\n", env: map[string]string{"ASANA_PAT": "from-env"}, wantAuth: "Bearer from-env"},
		{name: "flag beats env", dotenv: "ASANA_PAT=from-dotenv\n", env: map[string]string{"ASANA_PAT": "from-env"}, flags: []string{"--token", "from-flag"}, wantAuth: "Bearer from-flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeAsana(t, map[string]http.HandlerFunc{"GET /webhooks/123": getWebhookRoute})
			dir := t.TempDir()
			if tt.dotenv != "" {
				if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(tt.dotenv), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{"ASANA_API_URL": fake.URL}
			for k, v := range tt.env {
				env[k] = v
			}
			res := run(t, invocation{dir: dir, env: env, args: append([]string{"webhooks", "get", "123"}, tt.flags...)})
			if res.code != ExitOK {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			reqs := fake.seen()
			if len(reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(reqs))
			}
			if reqs[0].Auth != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", reqs[0].Auth, tt.wantAuth)
			}
			if reqs[0].UserAgent != "asana-webhooks/test" {
				t.Errorf("User-Agent = %q, want asana-webhooks/test", reqs[0].UserAgent)
			}
			if strings.Contains(res.stdout+res.stderr, strings.TrimPrefix(tt.wantAuth, "Bearer ")) {
				t.Errorf("the token appears in the output: %q %q", res.stdout, res.stderr)
			}
		})
	}
}

func TestDotEnvAPIURLIgnored(t *testing.T) {
	good := newFakeAsana(t, map[string]http.HandlerFunc{"GET /webhooks/123": getWebhookRoute})
	evil := newFakeAsana(t, map[string]http.HandlerFunc{"GET /webhooks/123": getWebhookRoute})
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{name: "url from env", env: map[string]string{"ASANA_API_URL": good.URL}},
		{name: "url from flag", args: []string{"--api-url", good.URL}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dotenv := "ASANA_PAT=tok\nASANA_API_URL=" + evil.URL + "\n"
			if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600); err != nil {
				t.Fatal(err)
			}
			before := len(good.seen())
			res := run(t, invocation{dir: dir, env: tt.env, args: append([]string{"webhooks", "get", "123"}, tt.args...)})
			if res.code != ExitOK {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			if n := len(evil.seen()); n != 0 {
				t.Errorf("the .env server got %d requests, want 0", n)
			}
			if n := len(good.seen()) - before; n != 1 {
				t.Errorf("the configured server got %d requests, want 1", n)
			}
			warn := lines(res.stderr)
			if len(warn) != 1 || !strings.Contains(warn[0], "warning") || !strings.Contains(warn[0], "ASANA_API_URL") || !strings.Contains(warn[0], ".env") {
				t.Errorf("stderr = %q, want one warning line about ASANA_API_URL in .env", res.stderr)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	fake := newFakeAsana(t, map[string]http.HandlerFunc{"GET /webhooks/123": getWebhookRoute})
	env := map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL}
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantStderr string
		oneLine    bool
	}{
		{name: "unknown flag", env: env, args: []string{"webhooks", "list", "--bogus"}, wantStderr: "unknown flag: --bogus"},
		{name: "unknown command", env: env, args: []string{"bogus"}, wantStderr: `unknown command "bogus"`},
		{name: "unknown subcommand", env: env, args: []string{"webhooks", "lsit"}, wantStderr: `did you mean "list"`},
		{name: "missing gid", env: env, args: []string{"webhooks", "get"}, wantStderr: "accepts 1 arg"},
		{name: "bad gid", env: env, args: []string{"webhooks", "get", "../x"}, wantStderr: "not a gid"},
		{name: "bad filter", env: env, args: []string{"webhooks", "create", "--filter", "task", "--resource", "1", "--target", "https://x.test"}, wantStderr: `--filter "task": want resource_type:action[:field,...]`},
		{name: "fields without changed", env: env, args: []string{"webhooks", "update", "1", "--filter", "task:added:name"}, wantStderr: "fields are only valid with action changed"},
		{name: "filter and clear", env: env, args: []string{"webhooks", "update", "1", "--filter", "task:added", "--clear-filters"}, wantStderr: "cannot be combined"},
		{name: "update nothing", env: env, args: []string{"webhooks", "update", "1"}, wantStderr: "--clear-filters"},
		{name: "create without target", env: env, args: []string{"webhooks", "create", "--resource", "1"}, wantStderr: "--target is required"},
		{name: "create without resource", env: env, args: []string{"webhooks", "create", "--target", "https://x.test/h"}, wantStderr: "--resource is required"},
		{name: "create with bad target", env: env, args: []string{"webhooks", "create", "--resource", "1", "--target", "x.test/h"}, wantStderr: "want an absolute https URL"},
		{name: "bad interval", env: env, args: []string{"events", "--resource", "1", "--interval", "soon"}, wantStderr: "--interval"},
		{name: "zero interval", env: map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL, "ASANA_WEBHOOKS_DATA_DIR": t.TempDir()}, args: []string{"events", "--resource", "1", "--interval", "0s"}, wantStderr: "positive duration"},
		{name: "version with args", args: []string{"version", "x"}, wantStderr: "unknown command"},
		{name: "http api url to another host", env: map[string]string{"ASANA_PAT": "tok"}, args: []string{"webhooks", "get", "123", "--api-url", "http://example.com/api/1.0"}, wantStderr: "loopback", oneLine: true},
		{name: "http api url to another host from env", env: map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": "http://10.1.2.3:8080"}, args: []string{"webhooks", "list", "--workspace", "1"}, wantStderr: "loopback", oneLine: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, invocation{env: tt.env, args: tt.args})
			if res.code != ExitUsage {
				t.Errorf("exit code = %d, want %d (stderr %q)", res.code, ExitUsage, res.stderr)
			}
			if !strings.Contains(res.stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", res.stderr, tt.wantStderr)
			}
			if tt.oneLine && len(lines(res.stderr)) != 1 {
				t.Errorf("stderr = %q, want exactly one line", res.stderr)
			}
		})
	}
}

func TestHelpHasExamples(t *testing.T) {
	app := NewApp(Env{})
	root := app.rootCommand()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" || c.Hidden {
			return
		}
		t.Run(c.CommandPath(), func(t *testing.T) {
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("%s has no Example", c.CommandPath())
			}
			if strings.TrimSpace(c.Short) == "" || strings.TrimSpace(c.Long) == "" {
				t.Errorf("%s needs Short and Long help", c.CommandPath())
			}
			args := append(strings.Fields(strings.TrimPrefix(c.CommandPath(), "asana-webhooks")), "--help")
			res := run(t, invocation{args: args})
			if res.code != ExitOK || !strings.Contains(res.stdout, "Examples:") {
				t.Errorf("%v: exit %d, stdout %q; want help with examples", args, res.code, res.stdout)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func TestVersion(t *testing.T) {
	res := run(t, invocation{args: []string{"version"}})
	if res.code != ExitOK || !strings.HasPrefix(res.stdout, "asana-webhooks test (go") {
		t.Errorf("version: exit %d, stdout %q", res.code, res.stdout)
	}
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"version"}, Env{Stdout: &out}); code != ExitOK || strings.Contains(out.String(), "asana-webhooks  ") {
		t.Errorf("version without Env.Version: exit %d, stdout %q; want the build version", code, out.String())
	}
}

func TestInterrupted(t *testing.T) {
	arrived := make(chan struct{})
	fake := newFakeAsana(t, map[string]http.HandlerFunc{
		"GET /webhooks/123": func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			<-r.Context().Done() // hold the call until the client gives up
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-arrived:
			cancel()
		case <-time.After(60 * time.Second):
		}
	}()
	res := runCLI(ctx, t, invocation{env: map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL}, args: []string{"webhooks", "get", "123"}})
	if res.code != ExitInterrupted {
		t.Errorf("exit code = %d, want %d (stderr %q)", res.code, ExitInterrupted, res.stderr)
	}
}

func TestRuntimeErrorExitsOne(t *testing.T) {
	fake := newFakeAsana(t, map[string]http.HandlerFunc{
		"GET /webhooks/404": func(w http.ResponseWriter, r *http.Request) {
			writeAsanaError(w, http.StatusNotFound, "webhook: Unknown object: 404")
		},
	})
	res := run(t, invocation{env: map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL}, args: []string{"webhooks", "get", "404"}})
	if res.code != ExitError {
		t.Errorf("exit code = %d, want %d", res.code, ExitError)
	}
	if got := lines(res.stderr); len(got) != 1 || !strings.Contains(got[0], "Unknown object") {
		t.Errorf("stderr = %q, want one line with the API's message", res.stderr)
	}
}
