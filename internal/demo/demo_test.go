package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// secretLike matches what a webhook secret (32 random bytes in hex) looks
// like; no such string may appear in the demo's output.
var secretLike = regexp.MustCompile(`[0-9a-fA-F]{64}`)

// syncBuffer is a bytes.Buffer safe for the demo's concurrent writers, that
// can wait for a substring.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until the buffer contains s, or fails the test.
func (b *syncBuffer) waitFor(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(b.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("output has no %q after %s:\n%s", s, timeout, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastSummary parses the summary line of an output.
func lastSummary(t *testing.T, out string) Summary {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := lines[len(lines)-1]
	js, ok := strings.CutPrefix(last, SummaryPrefix)
	if !ok {
		t.Fatalf("the last line is not the summary: %q\noutput:\n%s", last, out)
	}
	var s Summary
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatalf("parse the summary %q: %v", js, err)
	}
	return s
}

// checkSummary checks what every finished demo must show.
func checkSummary(t *testing.T, s Summary, completed bool) {
	t.Helper()
	if s.EmulatorDeliveries == 0 || s.EmulatorEvents == 0 {
		t.Errorf("the emulator delivered nothing: %+v", s)
	}
	if int64(s.EmulatorDeliveries) != s.StoredDeliveries || int64(s.EmulatorEvents) != s.StoredEvents ||
		int64(s.EmulatorHeartbeats) != s.StoredHeartbeats {
		t.Errorf("the store does not hold what the emulator delivered: %+v", s)
	}
	if s.EmulatorHeartbeats < 1 {
		t.Errorf("no heartbeat: %+v", s)
	}
	if s.SignatureFailures != 0 || s.EmulatorFailedAttempts != 0 {
		t.Errorf("signature failures %d, failed attempts %d; want 0", s.SignatureFailures, s.EmulatorFailedAttempts)
	}
	if s.WebhooksLeft != 0 {
		t.Errorf("webhooks left in the emulator: %d, want 0", s.WebhooksLeft)
	}
	if s.Completed != completed {
		t.Errorf("scene completed = %v, want %v", s.Completed, completed)
	}
	if completed {
		if s.ForgeriesSent != 3 || s.Rejected != 3 {
			t.Errorf("forgeries sent %d, rejected %d; want 3 and 3 (401, 403 and 409)", s.ForgeriesSent, s.Rejected)
		}
		if s.EmulatorHeartbeats < 2 {
			t.Errorf("heartbeats %d, want the first one and the one after the clock jump", s.EmulatorHeartbeats)
		}
		if s.EventsLogged <= s.EmulatorEvents {
			t.Errorf("events logged %d, delivered %d: the change outside the filter is missing from /events or was delivered", s.EventsLogged, s.EmulatorEvents)
		}
	}
	if !s.OK() {
		t.Errorf("summary not OK: %s", s.Mismatch())
	}
}

func checkNoSecret(t *testing.T, name, out string) {
	t.Helper()
	if m := secretLike.FindString(out); m != "" {
		t.Errorf("%s contains a secret-like string %q", name, m)
	}
}

func TestRunOnce(t *testing.T) {
	var stdout, stderr syncBuffer
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sum, err := Run(ctx, Config{Once: true, Pace: time.Millisecond, Stdout: &stdout, Stderr: &stderr, TempDir: tmp})
	out := stdout.String()
	if err != nil {
		t.Fatalf("Run: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	checkSummary(t, sum, true)
	if diff := cmp.Diff(sum, lastSummary(t, out)); diff != "" {
		t.Errorf("the printed summary differs from the returned one (-returned +printed):\n%s", diff)
	}
	for _, want := range []string{
		"http://127.0.0.1:",            // the emulator's URL
		`"Acme Corp"`, `"Launch plan"`, // the seed
		"handshake accepted",                                // the inspector's handshake line
		"task changed (fields: name",                        // the filter
		"heartbeat",                                         // a heartbeat line
		"nothing was delivered",                             // the change outside the filter
		"401 Unauthorized", "403 Forbidden", "409 Conflict", // the forgeries
		"signature failures:  0",          // the summary
		"deleted 1 webhook(s)",            // the cleanup
		"field=followers", "field=due_on", // followed, given a due date
		"story/comment_added", "deleted  task", // commented, deleted
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Every event left out by the filter is told where it happens, so the
	// narration adds up to the summary's "left out by filter".
	told := 0
	for _, m := range regexp.MustCompile(`Asana (?:also )?logged (\d+) events? for this change`).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		told += n
	}
	if left := sum.EventsLogged - sum.EmulatorEvents; told != left {
		t.Errorf("the scene tells of %d events outside the filter, the summary counts %d", told, left)
	}
	checkNoSecret(t, "stdout", out)
	checkNoSecret(t, "stderr", stderr.String())
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		t.Errorf("the temporary store directory is left behind: %v %v", entries, err)
	}
}

func TestRunInterrupted(t *testing.T) {
	tests := []struct {
		name      string
		cancelOn  string // cancel once the output contains this
		completed bool
	}{
		{"during the scene", "▸ Grace follows the task", false},
		{"while exploring", "Press Ctrl+C", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type result struct {
				sum Summary
				err error
			}
			done := make(chan result, 1)
			go func() {
				sum, err := Run(ctx, Config{Pace: 5 * time.Millisecond, Stdout: &stdout, Stderr: &stderr, TempDir: t.TempDir()})
				done <- result{sum, err}
			}()
			stdout.waitFor(t, tt.cancelOn, time.Minute)
			if tt.completed {
				checkUI(t, stdout.String())
			}
			cancel()
			var r result
			select {
			case r = <-done:
			case <-time.After(time.Minute):
				t.Fatalf("Run did not return after the interrupt:\n%s", stdout.String())
			}
			if r.err != nil {
				t.Fatalf("Run after an interrupt: %v\nstdout:\n%s\nstderr:\n%s", r.err, stdout.String(), stderr.String())
			}
			checkSummary(t, r.sum, tt.completed)
			checkNoSecret(t, "stdout", stdout.String())
		})
	}
}

// uiURL finds the web UI's events page in the demo's output.
var uiURL = regexp.MustCompile(`open (http://127\.0\.0\.1:[0-9]+/events) in a browser`)

// checkUI checks that the web UI the demo names serves the scene's events.
func checkUI(t *testing.T, out string) {
	t.Helper()
	m := uiURL.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the output names no web UI:\n%s", out)
	}
	res, err := http.Get(m[1])
	if err != nil {
		t.Fatalf("GET the UI's events page: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read the UI's events page: %v", err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", m[1], res.Status)
	}
	for _, want := range []string{"Launch plan", "deleted", "heartbeat"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the UI's events page lacks %q", want)
		}
	}
	checkNoSecret(t, "the UI's events page", string(body))
}

// buildBinary builds the command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "asana-webhooks")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command("go", "build", "-o", bin, "github.com/asana-webhooks/asana-webhooks/cmd/asana-webhooks")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinary runs the built command as a user would: demo --once, and the
// interactive demo stopped with Ctrl+C once the scene is over.
func TestBinary(t *testing.T) {
	bin := buildBinary(t)
	t.Run("once", func(t *testing.T) { testBinaryOnce(t, bin) })
	t.Run("ctrl-c", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("sends SIGINT")
		}
		testBinaryCtrlC(t, bin)
	})
}

func testBinaryOnce(t *testing.T, bin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "--once")
	cmd.Dir = t.TempDir()
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		t.Fatalf("demo --once: %v (after %s)\nstdout:\n%s\nstderr:\n%s", err, time.Since(start), stdout.String(), stderr.String())
	}
	t.Logf("demo --once took %s", time.Since(start))
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		t.Errorf("the demo left files in its temporary directory: %v %v", entries, err)
	}
	checkSummary(t, lastSummary(t, stdout.String()), true)
	checkNoSecret(t, "stdout", stdout.String())
	checkNoSecret(t, "stderr", stderr.String())
}

func testBinaryCtrlC(t *testing.T, bin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "--pace", "10ms")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "Press Ctrl+C") {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo after SIGINT: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	checkSummary(t, lastSummary(t, out.String()), true)
}

func TestSummarize(t *testing.T) {
	ok := func(kind string, events int) delivery.Record {
		return delivery.Record{Kind: kind, EventCount: events, Success: true, Status: 200}
	}
	tests := []struct {
		name     string
		records  []delivery.Record
		stats    inspector.Stats
		rejected map[int]int
		forged   int
		want     string // "" when the summary adds up; else a part of Mismatch
	}{
		{
			name:     "all delivered and stored",
			records:  []delivery.Record{ok(delivery.KindHandshake, 0), ok(delivery.KindHeartbeat, 0), ok(delivery.KindEvents, 2), ok(delivery.KindEvents, 1)},
			stats:    inspector.Stats{Deliveries: 3, Heartbeats: 1, Events: 3, Receipts: 3},
			rejected: map[int]int{401: 1, 403: 1},
			forged:   2,
		},
		{
			name:    "an event missing from the store",
			records: []delivery.Record{ok(delivery.KindEvents, 2)},
			stats:   inspector.Stats{Deliveries: 1, Events: 1, Receipts: 1},
			want:    "delivered 2 events but the store holds 1",
		},
		{
			name:    "a genuine delivery refused",
			records: []delivery.Record{{Kind: delivery.KindEvents, EventCount: 1, Status: 401}},
			want:    "1 genuine deliveries failed their signature check",
		},
		{
			name:   "a forgery accepted",
			forged: 2, rejected: map[int]int{401: 1},
			want: "2 forged requests were sent but 1 were rejected",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarize(tt.records, tt.stats, tt.rejected)
			s.ForgeriesSent = tt.forged
			got := s.Mismatch()
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("Mismatch() = %q, want %q", got, tt.want)
			}
			if s.OK() != (tt.want == "") {
				t.Errorf("OK() = %v", s.OK())
			}
		})
	}
}

func TestPasses(t *testing.T) {
	ev := func(typ, action, field string) asana.Event {
		e := asana.Event{Action: action, Resource: asana.Compact{GID: "1", ResourceType: typ}}
		if field != "" {
			e.Change = &asana.Change{Field: field, Action: "changed"}
		}
		return e
	}
	tests := []struct {
		name  string
		event asana.Event
		want  bool
	}{
		{"task added", ev("task", "added", ""), true},
		{"name changed", ev("task", "changed", "name"), true},
		{"notes changed", ev("task", "changed", "notes"), false},
		{"completed_at changed", ev("task", "changed", "completed_at"), false},
		{"comment added", ev("story", "added", ""), true},
		{"project changed", ev("project", "changed", "name"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := passes(Filters(), tt.event); got != tt.want {
				t.Errorf("passes(%+v) = %v, want %v", tt.event, got, tt.want)
			}
		})
	}
	if !passes(nil, ev("project", "changed", "notes")) {
		t.Error("no filters must pass everything")
	}
}

func TestRejections(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		status    int
		counted   bool
		forwarded bool
	}{
		{"bad signature on a target", "/hooks/0123", 401, true, false},
		{"handshake outside a create", "/hooks/0123", 403, true, false},
		{"second secret", "/hooks/0123", 409, true, false},
		{"store unavailable", "/hooks/0123", 503, false, true},
		{"the UI refusing a foreign Host", "/events", 403, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := newRejections(slog.NewTextHandler(&buf, nil))
			log := slog.New(h).With("request_id", "r1", "path", tt.path)
			log.Warn("request refused", "status", tt.status)
			n := 0
			for _, c := range h.count.snapshot() {
				n += c
			}
			if (n == 1) != tt.counted {
				t.Errorf("counted %d, want counted=%v", n, tt.counted)
			}
			if got := strings.Contains(buf.String(), "request refused"); got != tt.forwarded {
				t.Errorf("forwarded = %v, want %v (log: %q)", got, tt.forwarded, buf.String())
			}
		})
	}
}

// TestSummaryVerdict checks that the closing sentence claims only what the
// run did: no refused forgeries when none was sent, and an interrupted scene
// said to be one.
func TestSummaryVerdict(t *testing.T) {
	tests := []struct {
		name string
		s    Summary
		want string
	}{
		{"whole scene", Summary{Completed: true, ForgeriesSent: 2, Rejected: 2},
			"Everything Asana sent was verified and stored exactly once; the forgeries were refused; the webhook is gone.\n"},
		{"stopped after one forgery", Summary{ForgeriesSent: 1, Rejected: 1},
			"The scene was stopped before its end. Everything Asana sent was verified and stored exactly once; the forgery was refused; the webhook is gone.\n"},
		{"stopped before any forgery", Summary{},
			"The scene was stopped before its end. Everything Asana sent was verified and stored exactly once; the webhook is gone.\n"},
		{"does not add up", Summary{Completed: true, EmulatorEvents: 2, StoredEvents: 1},
			"Something does not add up: the emulator delivered 2 events but the store holds 1.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			tt.s.EventsLogged = -1
			tt.s.print(&b)
			out := b.String()
			last := out[strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")+1:]
			if last != tt.want {
				t.Errorf("last line = %q, want %q", last, tt.want)
			}
		})
	}
}
