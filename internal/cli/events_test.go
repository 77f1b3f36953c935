package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

func eventJSON(gid, name string) string {
	return fmt.Sprintf(`{"user":{"gid":"9","resource_type":"user","name":"Ada"},"created_at":"2026-01-02T03:04:05.678Z",`+
		`"action":"changed","resource":{"gid":%q,"resource_type":"task","name":%q},`+
		`"parent":{"gid":"77","resource_type":"project","name":"Launch"},`+
		`"change":{"field":"name","action":"changed"},"type":"task"}`, gid, name)
}

const expiredBody = `{"errors":[{"message":"Sync token invalid or too old. If you are attempting to keep resources in sync, you must fetch the full dataset for this query now and use the new sync token for the next sync."}],"sync":%q}`

// eventsScript serves GET /events from a table of sync token -> response,
// and calls onSync with every token it is asked for.
type eventsScript struct {
	mu     sync.Mutex
	onSync func(sync string)
	syncs  []string
}

func (s *eventsScript) setOnSync(f func(string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onSync, s.syncs = f, nil
}

func (s *eventsScript) handler(t *testing.T) http.HandlerFunc {
	responses := map[string]struct {
		status int
		body   string
	}{
		"":   {412, fmt.Sprintf(expiredBody, "s1")}, // the first call of a stream
		"s1": {200, `{"data":[` + eventJSON("1001", "Write spec") + `,` + eventJSON("1002", "Review") + `],"sync":"s2","has_more":true}`},
		"s2": {200, `{"data":[` + eventJSON("1003", "Ship") + `],"sync":"s3","has_more":false}`},
		"s3": {412, fmt.Sprintf(expiredBody, "s4")}, // expired
		"s4": {200, `{"data":[],"sync":"s5","has_more":false}`},
		"s5": {200, `{"data":[` + eventJSON("1004", "After restart") + `],"sync":"s6","has_more":false}`},
		"s6": {200, `{"data":[],"sync":"s6","has_more":false}`},
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("resource") != "77" {
			t.Errorf("events query %q, want resource=77", r.URL.RawQuery)
		}
		tok := r.URL.Query().Get("sync")
		s.mu.Lock()
		s.syncs = append(s.syncs, tok)
		on := s.onSync
		s.mu.Unlock()
		if on != nil {
			on(tok)
		}
		resp, ok := responses[tok]
		if !ok {
			writeAsanaError(w, 400, "unknown sync token "+tok)
			return
		}
		writeJSON(w, resp.status, resp.body)
	}
}

func (s *eventsScript) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.syncs...)
}

// runUntil runs the program until the server is asked for stopAt, then
// cancels it as Ctrl+C would.
func runUntil(t *testing.T, script *eventsScript, stopAt string, inv invocation) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	script.setOnSync(func(tok string) {
		if tok == stopAt {
			cancel()
		}
	})
	res := runCLI(ctx, t, inv)
	if ctx.Err() != context.Canceled {
		t.Fatalf("the run ended before the server was asked for %q (asked %q); exit %d, stderr %q", stopAt, script.seen(), res.code, res.stderr)
	}
	return res
}

func TestEvents(t *testing.T) {
	script := &eventsScript{}
	fake := newFakeAsana(t, map[string]http.HandlerFunc{"GET /events": script.handler(t)})
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL, "ASANA_WEBHOOKS_DATA_DIR": dataDir}
	args := []string{"events", "--resource", "77", "--interval", "10ms"}

	// First run: a new stream (412, silent), two pages, an expired token
	// (warning), then polling from the new token until Ctrl+C.
	res := runUntil(t, script, "s5", invocation{env: env, args: args})
	if res.code != ExitOK {
		t.Fatalf("exit %d after Ctrl+C, want 0 (stderr %q)", res.code, res.stderr)
	}
	if diff := cmp.Diff([]string{"", "s1", "s2", "s3", "s4", "s5"}, script.seen()); diff != "" {
		t.Errorf("sync tokens sent (-want +got):\n%s", diff)
	}
	out := lines(res.stdout)
	if len(out) != 3 {
		t.Fatalf("stdout has %d lines, want 3 events:\n%s", len(out), res.stdout)
	}
	for i, want := range []string{`task 1001 "Write spec"`, `task 1002 "Review"`, `task 1003 "Ship"`} {
		if !strings.Contains(out[i], want) || !strings.Contains(out[i], "changed") || !strings.Contains(out[i], "field=name") {
			t.Errorf("line %d = %q, want it to show %s", i, out[i], want)
		}
	}
	if n := strings.Count(res.stderr, "sync token expired: resync needed"); n != 1 {
		t.Errorf("stderr has %d expiry warnings, want 1 (the first 412 is silent):\n%s", n, res.stderr)
	}

	// The token is kept in a 0600 file in a 0700 directory.
	files, err := filepath.Glob(filepath.Join(dataDir, "events", "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("sync token files = %v, %v; want one", files, err)
	}
	assertMode(t, dataDir, 0o700)
	assertMode(t, files[0], 0o600)
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var saved syncFile
	if err := json.Unmarshal(b, &saved); err != nil || saved.Sync != "s5" || saved.Resource != "77" || saved.APIURL != fake.URL {
		t.Errorf("saved %s: %+v, %v; want sync s5 for resource 77 on %s", b, saved, err, fake.URL)
	}

	// Second run: it continues from the saved token, in JSON.
	res = runUntil(t, script, "s6", invocation{env: env, args: append(args, "--json")})
	if res.code != ExitOK {
		t.Fatalf("second run: exit %d, stderr %q", res.code, res.stderr)
	}
	if diff := cmp.Diff([]string{"s5", "s6"}, script.seen()); diff != "" {
		t.Errorf("second run: sync tokens sent (-want +got):\n%s", diff)
	}
	out = lines(res.stdout)
	if len(out) != 1 {
		t.Fatalf("second run: stdout %q, want one JSON event", res.stdout)
	}
	var e asana.Event
	if err := json.Unmarshal([]byte(out[0]), &e); err != nil || e.Resource.GID != "1004" {
		t.Errorf("second run: line %q: %+v, %v", out[0], e, err)
	}
	if strings.Contains(res.stderr, "expired") {
		t.Errorf("second run: unexpected warning %q", res.stderr)
	}

	// Another API URL is another stream: it does not reuse the token.
	other := &eventsScript{}
	fake2 := newFakeAsana(t, map[string]http.HandlerFunc{"GET /events": other.handler(t)})
	env2 := map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake2.URL, "ASANA_WEBHOOKS_DATA_DIR": dataDir}
	runUntil(t, other, "s1", invocation{env: env2, args: args})
	if got := other.seen(); len(got) == 0 || got[0] != "" {
		t.Errorf("another API URL started from %q, want a new stream", got)
	}
}

func TestEventsPermanentError(t *testing.T) {
	fake := newFakeAsana(t, map[string]http.HandlerFunc{
		"GET /events": func(w http.ResponseWriter, r *http.Request) {
			writeAsanaError(w, http.StatusUnauthorized, "Not Authorized")
		},
	})
	env := map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL, "ASANA_WEBHOOKS_DATA_DIR": t.TempDir()}
	res := run(t, invocation{env: env, args: []string{"events", "--resource", "77", "--interval", "10ms"}})
	if res.code != ExitError || !strings.Contains(res.stderr, "Not Authorized") {
		t.Errorf("exit %d, stderr %q; want 1 and the API's message", res.code, res.stderr)
	}
}

func TestSyncStore(t *testing.T) {
	dir := t.TempDir()
	s := newSyncStore(dir, "http://127.0.0.1:1", "77")
	if tok, err := s.load(); err != nil || tok != "" {
		t.Fatalf("load of a missing file = %q, %v", tok, err)
	}
	for _, tok := range []string{"a", "b"} {
		if err := s.save(tok); err != nil {
			t.Fatal(err)
		}
		if got, err := s.load(); err != nil || got != tok {
			t.Fatalf("load after save(%q) = %q, %v", tok, got, err)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(s.path))
	if err != nil || len(entries) != 1 {
		t.Errorf("directory holds %v (%v), want only the token file (no temporary left)", entries, err)
	}
	if err := os.WriteFile(s.path, []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.load(); err == nil {
		t.Error("load of a corrupt file succeeded")
	}
	if other := newSyncStore(dir, "http://127.0.0.1:1", "78"); other.path == s.path {
		t.Error("two resources share a token file")
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}
