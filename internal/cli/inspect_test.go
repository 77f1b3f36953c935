package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// pollUntil polls cond with a generous deadline.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inspectRun is `inspect` running in-process until cancel.
type inspectRun struct {
	cancel         context.CancelFunc
	done           chan int
	stdout, stderr *syncBuffer
}

func startInspect(t *testing.T, env map[string]string, args ...string) *inspectRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &inspectRun{cancel: cancel, done: make(chan int, 1), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	dir := t.TempDir()
	go func() {
		r.done <- Main(ctx, append([]string{"inspect"}, args...), Env{
			Stdout: r.stdout, Stderr: r.stderr, Getenv: func(k string) string { return env[k] }, WorkDir: dir, Version: "test",
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(60 * time.Second):
			t.Error("inspect did not stop")
		}
	})
	return r
}

// stop cancels the run like Ctrl+C and returns its exit code.
func (r *inspectRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		r.done <- code // for the cleanup
		return code
	case <-time.After(60 * time.Second):
		t.Fatal("inspect did not stop after cancel")
		return -1
	}
}

// TestInspectEndToEnd runs `inspect -v` against the emulator with a canary
// token, makes task changes, stops it like Ctrl+C, and checks that the
// deliveries are stored, the webhook deleted, the terminal lines right, and
// that neither the token nor the secret was printed or logged anywhere.
func TestInspectEndToEnd(t *testing.T) {
	const canaryToken = "canary-token-5f0c2b7e9d1a4c3b"
	srv := emulatortest.New(t, emulatortest.WithTokens(canaryToken))
	project := srv.ProjectGID()
	addr := freePort(t)
	db := filepath.Join(t.TempDir(), "inspector.db")
	env := map[string]string{"ASANA_PAT": canaryToken, "ASANA_API_URL": srv.BaseURL(), "ASANA_PROJECT": project}
	r := startInspect(t, env, "--public-url", "http://"+addr, "--listen", addr, "--db", db, "-v")

	pollUntil(t, "the webhook and its heartbeat", func() bool {
		return len(srv.WebhookGIDs()) == 1 && strings.Contains(r.stdout.String(), "heartbeat")
	})
	gid := srv.WebhookGIDs()[0]
	task, err := srv.CreateTask(canaryToken, project, "Canary task")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.UpdateTask(canaryToken, task, emulator.TaskUpdate{Notes: ptrTo("new notes")}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the task's events on the terminal", func() bool {
		return strings.Contains(r.stdout.String(), "changed  task "+task+"  field=notes")
	})
	if code := r.stop(t); code != ExitOK {
		t.Fatalf("exit code after cancel = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
	if left := srv.WebhookGIDs(); len(left) != 0 {
		t.Errorf("webhooks left in the emulator: %v", left)
	}
	out, errOut := r.stdout.String(), r.stderr.String()
	for _, want := range []string{
		"listening on " + addr,
		"reaches this inspector",
		"watching project " + project + " with webhook " + gid,
		"on exit (Ctrl+C) the webhooks above are deleted",
		"webhook " + gid + " (hook ",
		"X-Hook-Signature: " + inspector.Redacted,
		"added  task " + task,
		"deleted webhook " + gid,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}

	st, err := sqlite.Open(context.Background(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := st.ListHooks(context.Background(), inspector.HookFilter{})
	if err != nil || len(hooks) != 1 {
		t.Fatalf("hooks = %v, %v; want 1", hooks, err)
	}
	secret, err := st.Secret(context.Background(), hooks[0].ID)
	if err != nil {
		t.Fatalf("Secret: %v", err)
	}
	evs, err := st.ListEvents(context.Background(), inspector.EventFilter{HookID: hooks[0].ID})
	if err != nil || len(evs) < 2 {
		t.Errorf("stored events = %d, %v; want at least 2", len(evs), err)
	}
	st.Close()
	for name, s := range map[string]string{"stdout": out, "stderr": errOut} {
		if strings.Contains(s, canaryToken) {
			t.Errorf("%s contains the token", name)
		}
		if strings.Contains(s, secret.Reveal()) {
			t.Errorf("%s contains the webhook secret", name)
		}
	}

	// The history is readable afterwards.
	list := run(t, invocation{args: []string{"deliveries", "list", "--db", db, "--webhook", gid}})
	if list.code != 0 || !strings.Contains(list.stdout, "heartbeat") || !strings.Contains(list.stdout, gid) {
		t.Fatalf("deliveries list = %d\n%s\n%s", list.code, list.stdout, list.stderr)
	}
	js := run(t, invocation{args: []string{"deliveries", "list", "--db", db, "--json", "--since", "1h"}})
	var newest struct {
		ID         int64  `json:"id"`
		Kind       string `json:"kind"`
		Webhook    string `json:"webhook"`
		EventCount int    `json:"event_count"`
	}
	var withEvents int64
	for _, l := range lines(js.stdout) {
		if err := json.Unmarshal([]byte(l), &newest); err != nil {
			t.Fatalf("deliveries list --json line %q: %v", l, err)
		}
		if newest.Webhook != gid {
			t.Errorf("line %q: webhook %q, want %s", l, newest.Webhook, gid)
		}
		if newest.Kind == "events" && withEvents == 0 {
			withEvents = newest.ID
		}
	}
	if withEvents == 0 {
		t.Fatalf("no delivery with events in:\n%s", js.stdout)
	}
	show := run(t, invocation{args: []string{"deliveries", "show", "--db", db, fmt.Sprint(withEvents)}})
	for _, want := range []string{"X-Hook-Signature: " + inspector.Redacted, `"events": [`, "new ", "webhook:"} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("deliveries show lacks %q:\n%s", want, show.stdout)
		}
	}
	if strings.Contains(show.stdout, secret.Reveal()) {
		t.Error("deliveries show prints the secret")
	}
	showJSON := run(t, invocation{args: []string{"deliveries", "show", "--db", db, "--json", fmt.Sprint(withEvents)}})
	var detail struct {
		Delivery struct {
			Headers map[string][]string `json:"headers"`
			Body    json.RawMessage     `json:"body"`
		} `json:"delivery"`
		Events []struct {
			New   bool            `json:"new"`
			Event json.RawMessage `json:"event"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(showJSON.stdout), &detail); err != nil {
		t.Fatalf("deliveries show --json: %v\n%s", err, showJSON.stdout)
	}
	if len(detail.Events) == 0 || len(detail.Delivery.Body) == 0 {
		t.Errorf("deliveries show --json = %s", showJSON.stdout)
	}
	if got := detail.Delivery.Headers["X-Hook-Signature"]; len(got) != 1 || got[0] != inspector.Redacted {
		t.Errorf("signature header in show --json = %v", got)
	}
	missing := run(t, invocation{args: []string{"deliveries", "show", "--db", db, "999999"}})
	if missing.code != ExitError || !strings.Contains(missing.stderr, "no delivery 999999") {
		t.Errorf("show of a missing id = %d %q", missing.code, missing.stderr)
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestInspectJSON checks the --json output: only JSON objects on stdout, one
// per event (with the event as Asana sent it) and one per heartbeat.
func TestInspectJSON(t *testing.T) {
	srv := emulatortest.New(t)
	project := srv.ProjectGID()
	addr := freePort(t)
	env := map[string]string{"ASANA_PAT": srv.Token(), "ASANA_API_URL": srv.BaseURL()}
	r := startInspect(t, env, "--public-url", "http://"+addr, "--listen", addr, "--resource", project,
		"--db", filepath.Join(t.TempDir(), "i.db"), "--json")
	pollUntil(t, "the webhook", func() bool { return strings.Contains(r.stderr.String(), "watching project") })
	task, err := srv.CreateTask(srv.Token(), project, "JSON task")
	if err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "a heartbeat and the task's event", func() bool {
		out := r.stdout.String()
		return strings.Contains(out, `"heartbeat":true`) && strings.Contains(out, task)
	})
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit %d: %s", code, r.stderr)
	}
	gid := ""
	var sawEvent, sawHeartbeat bool
	for _, l := range lines(r.stdout.String()) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stdout line is not JSON: %q", l)
		}
		switch {
		case m["heartbeat"] != nil:
			sawHeartbeat = true
			for _, k := range []string{"webhook", "received_at"} {
				if m[k] == nil {
					t.Errorf("heartbeat line lacks %q: %s", k, l)
				}
			}
			// Even the heartbeat that beats the 201 names its webhook.
			if string(m["webhook"]) == `""` {
				t.Errorf("heartbeat without webhook gid: %s", l)
			}
		case m["event"] != nil:
			sawEvent = true
			for _, k := range []string{"webhook", "hook_id", "received_at", "new"} {
				if m[k] == nil {
					t.Errorf("event line lacks %q: %s", k, l)
				}
			}
			var w string
			_ = json.Unmarshal(m["webhook"], &w)
			if gid == "" {
				gid = w
			}
			var ev struct {
				Action   string `json:"action"`
				Resource struct {
					GID string `json:"gid"`
				} `json:"resource"`
			}
			if err := json.Unmarshal(m["event"], &ev); err != nil || ev.Action == "" {
				t.Errorf("event is not an Asana event: %s", m["event"])
			}
		default:
			t.Errorf("unexpected stdout line %q", l)
		}
	}
	if !sawEvent || !sawHeartbeat {
		t.Errorf("saw event %v, heartbeat %v in:\n%s", sawEvent, sawHeartbeat, r.stdout)
	}
	if gid == "" || !strings.Contains(r.stderr.String(), "deleted webhook "+gid) {
		t.Errorf("stderr does not report deleting %q:\n%s", gid, r.stderr)
	}
}

func TestInspectPreflightFailure(t *testing.T) {
	srv := emulatortest.New(t)
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	res := run(t, invocation{
		env: map[string]string{"ASANA_PAT": srv.Token(), "ASANA_API_URL": srv.BaseURL(), "ASANA_PROJECT": srv.ProjectGID()},
		args: []string{"inspect", "--public-url", other.URL, "--listen", "127.0.0.1:0",
			"--db", filepath.Join(t.TempDir(), "i.db")},
	})
	want := "the public URL " + other.URL + " does not reach this inspector: got 404 Not Found"
	if res.code != ExitError || !strings.Contains(res.stderr, want) {
		t.Errorf("exit %d, stderr %q; want 1 and %q", res.code, res.stderr, want)
	}
	if len(srv.WebhookGIDs()) != 0 {
		t.Error("a webhook was created despite the failed pre-flight")
	}
}

func TestInspectUsageErrors(t *testing.T) {
	env := map[string]string{"ASANA_PAT": "tok", "ASANA_PROJECT": "1200"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no public url", []string{"inspect"}, "--public-url is required"},
		{"bad public url", []string{"inspect", "--public-url", "ftp://x"}, `asana-webhooks: --public-url "ftp://x": want an http:// or https:// URL`},
		{"plain http to Asana", []string{"inspect", "--public-url", "http://abc.ngrok-free.app"}, "--public-url http://abc.ngrok-free.app: Asana delivers only to https URLs"},
		{"bad ui listen", []string{"inspect", "--public-url", "https://x.example", "--ui-listen", "8091"}, `--ui-listen "8091": want host:port`},
		{"remote ui", []string{"inspect", "--public-url", "https://x.example", "--ui-listen", "0.0.0.0:8091"}, "--ui-listen 0.0.0.0:8091 is not a loopback address"},
		{"ui on every interface", []string{"inspect", "--public-url", "https://x.example", "--ui-listen", ":8091"}, "pass --ui-allow-remote"},
		{"remote ui, IPv6", []string{"inspect", "--public-url", "https://x.example", "--ui-listen", "[2001:db8::1]:8091"}, "not a loopback address"},
		{"query in public url", []string{"inspect", "--public-url", "https://x.example/?a=b"}, "without query"},
		{"one legacy arg", []string{"inspect", "abc"}, "legacy <ngrok-subdomain> <port>"},
		{"bad legacy port", []string{"inspect", "abc", "99999"}, `port "99999"`},
		{"bad legacy subdomain", []string{"inspect", "a/b", "8090"}, "ngrok subdomain"},
		{"legacy and flag", []string{"inspect", "abc", "8090", "--public-url", "https://x.example"}, "cannot be combined"},
		{"bad filter", []string{"inspect", "--public-url", "https://x.example", "--filter", "task"}, "--filter"},
		{"bad listen", []string{"inspect", "--public-url", "https://x.example", "--listen", "8090"}, "--listen"},
		{"bad resource", []string{"inspect", "--public-url", "https://x.example", "--resource", "../x"}, "not a gid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, invocation{env: env, args: tt.args})
			if res.code != ExitUsage || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", res.code, res.stderr, tt.want)
			}
		})
	}
	t.Run("no resource", func(t *testing.T) {
		res := run(t, invocation{env: map[string]string{"ASANA_PAT": "tok"}, args: []string{"inspect", "--public-url", "https://x.example"}})
		if res.code != ExitUsage || !strings.Contains(res.stderr, "--resource is required") {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
}

func TestLegacyTarget(t *testing.T) {
	tests := []struct {
		sub, port       string
		wantURL, listen string
	}{
		{"abc", "8090", "https://abc.ngrok.io", "127.0.0.1:8090"},
		{"abc.ngrok-free.app", "5000", "https://abc.ngrok-free.app", "127.0.0.1:5000"},
	}
	for _, tt := range tests {
		t.Run(tt.sub, func(t *testing.T) {
			u, l, err := legacyTarget(tt.sub, tt.port)
			if err != nil || u != tt.wantURL || l != tt.listen {
				t.Errorf("legacyTarget(%q, %q) = %q, %q, %v; want %q, %q", tt.sub, tt.port, u, l, err, tt.wantURL, tt.listen)
			}
		})
	}
}

func TestDeliveriesErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no database", []string{"deliveries", "list", "--db", filepath.Join(t.TempDir(), "none.db")}, ExitError, "no inspector database"},
		{"data dir is a file", []string{"deliveries", "list", "--data-dir", regularFile(t)}, ExitError, "no inspector database"},
		{"db is a directory", []string{"deliveries", "show", "1", "--db", os.TempDir()}, ExitUsage, "is a directory: want the inspector's database file"},
		{"bad since", []string{"deliveries", "list", "--since", "yesterday"}, ExitUsage, "--since"},
		{"since after until", []string{"deliveries", "list", "--since", "1h", "--until", "2h"}, ExitUsage, "is not before --until"},
		{"since equals until", []string{"deliveries", "list", "--since", "2026-12-04", "--until", "2026-12-04"}, ExitUsage, "nothing can match"},
		{"webhook and hook", []string{"deliveries", "list", "--webhook", "1", "--hook", "2"}, ExitUsage, "cannot be combined"},
		{"bad hook", []string{"deliveries", "list", "--hook", "xyz"}, ExitUsage, "--hook"},
		{"bad id", []string{"deliveries", "show", "abc"}, ExitUsage, "delivery id"},
		{"no id", []string{"deliveries", "show"}, ExitUsage, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, invocation{args: tt.args})
			if res.code != tt.code || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", res.code, res.stderr, tt.code, tt.want)
			}
		})
	}
}

// regularFile is the path of a new empty file.
func regularFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"90m", now.Add(-90 * time.Minute)},
		{"2026-12-04T15:00:00Z", time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)},
		{"2026-12-03", time.Date(2026, 12, 3, 0, 0, 0, 0, time.Local)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseWhen("since", tt.in, now)
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("parseWhen(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
