package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/clock"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testGID = "1200000000000001"

var testSecret = asana.NewSecret("f0e1d2c3b4a5968778695a4b3c2d1e0f")

// received is one request a test receiver got.
type received struct {
	at     time.Time // clock time
	header http.Header
	body   []byte
}

// receiver is an httptest server standing in for a webhook target; respond
// decides each answer and may be swapped while the test runs.
type receiver struct {
	*httptest.Server
	clk     clock.Clock
	mu      sync.Mutex
	got     []received
	respond func(w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, clk clock.Clock, respond func(w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{clk: clk, respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{at: clk.Now(), header: r.Header.Clone(), body: body})
		respond := rc.respond
		rc.mu.Unlock()
		respond(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setRespond(f func(w http.ResponseWriter, r *http.Request)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.respond = f
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func status(code int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	}
}

// harness is an Engine on a clock.Fake with helpers that run the simulation
// deterministically.
type harness struct {
	t       *testing.T
	clk     *clock.Fake
	eng     *Engine
	mu      sync.Mutex
	deleted []deletion
}

type deletion struct {
	gid, reason string
	at          time.Time
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewFake(t0)}
	h.eng = New(cfg, h.clk, nil, func(gid, reason string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.deleted = append(h.deleted, deletion{gid, reason, h.clk.Now()})
	})
	t.Cleanup(h.eng.Close)
	return h
}

func (h *harness) deletions() []deletion {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.deleted)
}

// waitIdle waits (in real time) until every webhook goroutine waits for the
// clock or a signal and no fired timer is still unconsumed.
func (h *harness) waitIdle() {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		idle, timers := h.eng.idle()
		if idle && timers == h.clk.Waiters() {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("engine not idle after 30s (idle=%v timers=%d waiters=%d)", idle, timers, h.clk.Waiters())
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// advanceTo runs the clock up to until, stopping at every timer deadline on
// the way and letting the engine settle at each.
func (h *harness) advanceTo(until time.Time) {
	h.t.Helper()
	for {
		h.waitIdle()
		next, ok := h.clk.NextDeadline()
		if !ok || next.After(until) {
			h.clk.Set(until)
			h.waitIdle()
			return
		}
		h.clk.Set(next)
	}
}

func (h *harness) advance(d time.Duration) { h.t.Helper(); h.advanceTo(h.clk.Now().Add(d)) }

func (h *harness) add(url string) {
	h.eng.Add(Target{GID: testGID, URL: url, Secret: testSecret})
}

func event(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"action":"changed","resource":{"gid":"%d","resource_type":"task"}}`, i))
}

// eventsIn decodes the events of a delivery body.
func eventsIn(t *testing.T, body []byte) []string {
	t.Helper()
	var d struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	out := make([]string, len(d.Events))
	for i, e := range d.Events {
		out[i] = string(e)
	}
	return out
}

func TestDeliverySignedOverExactBytes(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.clk, status(200))
	h.add(rc.URL + "/hook?x=1")
	h.waitIdle()
	evs := []json.RawMessage{json.RawMessage(`{"name":"<b>&</b>\u2028"}`), event(2)}
	h.eng.Enqueue(testGID, evs...)
	h.waitIdle()

	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want heartbeat + 1 delivery", len(reqs))
	}
	wantBodies := []string{`{"events":[]}`, string(EncodeBody(evs))}
	for i, r := range reqs {
		if string(r.body) != wantBodies[i] {
			t.Errorf("request %d body %q, want %q", i, r.body, wantBodies[i])
		}
		if !asana.Verify(testSecret, r.body, r.header.Get(asana.HeaderSignature)) {
			t.Errorf("request %d: signature does not verify over the bytes received", i)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("request %d: Content-Type %q", i, ct)
		}
		if ua := r.header.Get("User-Agent"); !strings.Contains(ua, "Asana") {
			t.Errorf("request %d: User-Agent %q", i, ua)
		}
		if r.header.Get(asana.HeaderSecret) != "" {
			t.Errorf("request %d carries X-Hook-Secret", i)
		}
	}
	recs := h.eng.Records(testGID)
	if len(recs) != 2 || recs[0].Kind != KindHeartbeat || recs[1].Kind != KindEvents || recs[1].EventCount != 2 {
		t.Fatalf("records = %+v", recs)
	}
	if string(recs[1].RequestBody) != string(reqs[1].body) || recs[1].RequestHeader.Get(asana.HeaderSignature) != reqs[1].header.Get(asana.HeaderSignature) {
		t.Fatal("record does not hold the exact bytes and signature sent")
	}
	if !recs[1].Success || recs[1].Status != 200 || recs[1].ResponseBody != "status 200" || !recs[1].StartedAt.Equal(t0) || recs[1].ID <= recs[0].ID {
		t.Fatalf("record = %+v", recs[1])
	}
	if h.eng.Pending(testGID) != 0 {
		t.Fatalf("Pending = %d after success", h.eng.Pending(testGID))
	}
	hl, ok := h.eng.Health(testGID)
	if !ok || hl.LastSuccessAt == nil || !hl.LastSuccessAt.Equal(t0) || hl.LastHeartbeatAt == nil || hl.RetryCount != 0 || hl.LastFailureAt != nil {
		t.Fatalf("health = %+v", hl)
	}
}

func TestBackoffNeverShrinksWithinStreak(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.clk, status(500))
	h.add(rc.URL)
	h.waitIdle()
	var lastGap time.Duration
	var gaps []time.Duration
	for i := 0; h.clk.Now().Before(t0.Add(20 * time.Hour)); i++ {
		hl, ok := h.eng.Health(testGID)
		if !ok {
			t.Fatal("webhook deleted before 24h")
		}
		gap := hl.NextAttemptAfter.Sub(*hl.LastFailureAt)
		if gap < lastGap {
			t.Fatalf("backoff shrank from %s to %s at %s", lastGap, gap, h.clk.Now().Sub(t0))
		}
		if gap > time.Hour {
			t.Fatalf("backoff %s exceeds the 1h cap", gap)
		}
		if hl.RetryCount != len(gaps)+1 {
			t.Fatalf("RetryCount = %d after %d failures", hl.RetryCount, len(gaps)+1)
		}
		lastGap = gap
		gaps = append(gaps, gap)
		if i == 5 {
			// New events during the streak wait for the next retry.
			h.eng.Enqueue(testGID, event(1))
			h.waitIdle()
		}
		h.advanceTo(*hl.NextAttemptAfter)
	}
	if gaps[0] != 30*time.Second || gaps[len(gaps)-1] != time.Hour {
		t.Fatalf("gaps = %v, want 30s first and 1h at the end", gaps)
	}
	// The attempts the receiver saw are spaced the same way.
	reqs := rc.requests()
	for i := 2; i < len(reqs); i++ {
		if prev, cur := reqs[i-1].at.Sub(reqs[i-2].at), reqs[i].at.Sub(reqs[i-1].at); cur < prev {
			t.Fatalf("attempt spacing shrank: %s then %s", prev, cur)
		}
	}
}

func TestBackoffHugeSettings(t *testing.T) {
	cfg := Config{BackoffBase: time.Duration(math.MaxInt64 / 3), BackoffMax: time.Duration(math.MaxInt64)}.withDefaults()
	prev := time.Duration(0)
	for n := 1; n < 100; n++ {
		b := backoff(cfg, n, time.Duration(math.MaxInt64))
		if b <= 0 || b < prev {
			t.Fatalf("backoff(%d) = %s after %s: overflowed or shrank", n, b, prev)
		}
		prev = b
	}
}

// TestClockJumpCollapsesHeartbeats jumps the clock 72h at once: the missed
// heartbeats become one, the schedule keeps its phase, nothing spins.
func TestClockJumpCollapsesHeartbeats(t *testing.T) {
	tests := []struct {
		name  string
		every time.Duration
	}{
		{"default 8h", 0},
		{"1ns", time.Nanosecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{HeartbeatEvery: tc.every})
			rc := newReceiver(t, h.clk, status(200))
			h.add(rc.URL)
			h.waitIdle()
			h.clk.Advance(72*time.Hour + time.Minute)
			h.waitIdle()
			if n := len(rc.requests()); n != 2 {
				t.Fatalf("%d requests after a 72h jump, want 2", n)
			}
			if tc.every == 0 {
				next, _ := h.clk.NextDeadline()
				if want := t0.Add(80 * time.Hour); !next.Equal(want) {
					t.Fatalf("next heartbeat at %s, want %s", next.Sub(t0), want.Sub(t0))
				}
			}
		})
	}
}

func TestBackoffFunction(t *testing.T) {
	cfg := DefaultConfig()
	tests := []struct {
		n       int
		elapsed time.Duration
		want    time.Duration
	}{
		{1, 0, 30 * time.Second},
		{2, 30 * time.Second, 30 * time.Second},
		{3, time.Minute, time.Minute},
		{4, 2 * time.Minute, 2 * time.Minute},
		{4, 10 * time.Minute, 4 * time.Minute},
		{10, 5 * time.Minute, 5 * time.Minute},
		{10, 10 * time.Hour, time.Hour},
		{1000, 100 * time.Hour, time.Hour},
		{math.MaxInt32, math.MaxInt64, time.Hour},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("n=%d elapsed=%s", tc.n, tc.elapsed), func(t *testing.T) {
			if got := backoff(cfg, tc.n, tc.elapsed); got != tc.want {
				t.Fatalf("backoff = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDeletionExactly24hAfterFirstFailure(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.clk, status(500))
	h.add(rc.URL)
	h.waitIdle() // the initial heartbeat fails at t0: the streak starts
	hl, _ := h.eng.Health(testGID)
	if hl.FailureDeletionAt == nil || !hl.FailureDeletionAt.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("FailureDeletionAt = %v, want %v", hl.FailureDeletionAt, t0.Add(24*time.Hour))
	}
	if !strings.HasPrefix(hl.LastFailureContent, "500 Internal Server Error\n\nstatus 500") {
		t.Fatalf("LastFailureContent = %q", hl.LastFailureContent)
	}
	h.eng.Enqueue(testGID, event(1))
	h.advanceTo(t0.Add(24*time.Hour - time.Millisecond))
	if d := h.deletions(); len(d) != 0 {
		t.Fatalf("deleted at %s, before 24h", d[0].at.Sub(t0))
	}
	hl, ok := h.eng.Health(testGID)
	if !ok || !hl.FailureDeletionAt.Equal(t0.Add(24*time.Hour)) || hl.RetryCount < 20 {
		t.Fatalf("health at 24h-1ms = %+v, %v", hl, ok)
	}
	h.advanceTo(t0.Add(24 * time.Hour))
	d := h.deletions()
	if len(d) != 1 || d[0].gid != testGID || !d[0].at.Equal(t0.Add(24*time.Hour)) || d[0].reason == "" {
		t.Fatalf("deletions = %+v, want one at exactly 24h", d)
	}
	if _, ok := h.eng.Health(testGID); ok {
		t.Fatal("Health still reports a deleted webhook")
	}
	n := len(rc.requests())
	h.advance(48 * time.Hour)
	if got := len(rc.requests()); got != n {
		t.Fatalf("%d requests after deletion", got-n)
	}
}

func TestNoDeletionWhenSuccessAt23h59m(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.clk, status(503))
	h.add(rc.URL)
	h.advanceTo(t0.Add(23*time.Hour + 59*time.Minute))
	rc.setRespond(status(204))
	if n := h.eng.Heartbeat(testGID); n != 1 {
		t.Fatalf("Heartbeat = %d, want 1", n)
	}
	h.waitIdle()
	hl, _ := h.eng.Health(testGID)
	if hl.RetryCount != 0 || hl.FailureDeletionAt != nil || hl.NextAttemptAfter != nil || !hl.LastSuccessAt.Equal(t0.Add(23*time.Hour+59*time.Minute)) {
		t.Fatalf("health after success = %+v", hl)
	}
	if hl.LastFailureAt == nil || !strings.HasPrefix(hl.LastFailureContent, "503") {
		t.Fatalf("last failure forgotten: %+v", hl)
	}
	h.advanceTo(t0.Add(72 * time.Hour))
	if d := h.deletions(); len(d) != 0 {
		t.Fatalf("deleted at %s despite a success at 23h59m", d[0].at.Sub(t0))
	}
	if _, ok := h.eng.Health(testGID); !ok {
		t.Fatal("webhook gone")
	}
}

func TestHeartbeatsOver72h(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.clk, status(200))
	h.add(rc.URL)
	h.advanceTo(t0.Add(72 * time.Hour))
	reqs := rc.requests()
	if len(reqs) != 10 {
		t.Fatalf("got %d heartbeats over 72h, want 1 + 9", len(reqs))
	}
	for i, r := range reqs {
		if want := t0.Add(time.Duration(i) * 8 * time.Hour); !r.at.Equal(want) {
			t.Errorf("heartbeat %d at %s, want %s", i, r.at.Sub(t0), want.Sub(t0))
		}
		if string(r.body) != `{"events":[]}` || !asana.Verify(testSecret, r.body, r.header.Get(asana.HeaderSignature)) {
			t.Errorf("heartbeat %d: body %q not a signed empty batch", i, r.body)
		}
	}
	if n := len(h.eng.Records(testGID)); n != 10 {
		t.Fatalf("%d records, want 10", n)
	}
}

func TestEventsHeldThroughOneHourOutage(t *testing.T) {
	h := newHarness(t, Config{})
	outageEnd := t0.Add(time.Hour)
	rc := newReceiver(t, h.clk, func(w http.ResponseWriter, r *http.Request) {
		if h.clk.Now().Before(outageEnd) {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h.add(rc.URL)
	h.waitIdle()
	var want []string
	for i := range 12 { // an event every 5 minutes during the outage
		ev := event(i)
		want = append(want, string(ev))
		h.eng.Enqueue(testGID, ev)
		h.advance(5 * time.Minute)
	}
	if h.eng.Pending(testGID) != 12 {
		t.Fatalf("Pending = %d during the outage, want 12 held", h.eng.Pending(testGID))
	}
	h.advanceTo(t0.Add(3 * time.Hour))
	var got []string
	var firstOK time.Time
	for _, r := range rc.requests() {
		if r.at.Before(outageEnd) {
			continue
		}
		if firstOK.IsZero() {
			firstOK = r.at
		}
		got = append(got, eventsIn(t, r.body)...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered after the outage:\n%v\nwant\n%v", got, want)
	}
	if firstOK.After(outageEnd.Add(time.Hour)) {
		t.Fatalf("delivery resumed at %s, more than 1h after the outage ended", firstOK.Sub(t0))
	}
	hl, _ := h.eng.Health(testGID)
	if h.eng.Pending(testGID) != 0 || hl.RetryCount != 0 || hl.FailureDeletionAt != nil {
		t.Fatalf("after recovery: pending %d, health %+v", h.eng.Pending(testGID), hl)
	}
}

func TestDeadline(t *testing.T) {
	tests := []struct {
		name  string
		delay time.Duration
		ok    bool
	}{
		{"reply well under the deadline", 10 * time.Millisecond, true},
		{"reply just over the deadline", 450 * time.Millisecond, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{Deadline: 300 * time.Millisecond})
			rc := newReceiver(t, h.clk, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-time.After(tc.delay):
				case <-r.Context().Done():
				}
				w.WriteHeader(http.StatusOK)
			})
			h.add(rc.URL)
			h.waitIdle()
			recs := h.eng.Records(testGID)
			if len(recs) != 1 || recs[0].Success != tc.ok {
				t.Fatalf("records = %+v, want one with Success=%v", recs, tc.ok)
			}
			hl, _ := h.eng.Health(testGID)
			if tc.ok {
				if hl.LastSuccessAt == nil || hl.RetryCount != 0 {
					t.Fatalf("health = %+v", hl)
				}
				return
			}
			if hl.RetryCount != 1 || !strings.Contains(hl.LastFailureContent, "timeout") || !strings.Contains(recs[0].Err, "timeout") {
				t.Fatalf("health = %+v, record err %q", hl, recs[0].Err)
			}
		})
	}
}

func TestSuccessStatuses(t *testing.T) {
	tests := []struct {
		code   int
		any2xx bool
		ok     bool
	}{
		{200, false, true},
		{204, false, true},
		{201, false, false},
		{201, true, true},
		{202, true, true},
		{299, true, true},
		{301, true, false},
		{400, false, false},
		{410, false, false},
		{500, true, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d any2xx=%v", tc.code, tc.any2xx), func(t *testing.T) {
			h := newHarness(t, Config{AcceptAny2xx: tc.any2xx})
			rc := newReceiver(t, h.clk, status(tc.code))
			h.add(rc.URL)
			h.waitIdle()
			hl, _ := h.eng.Health(testGID)
			if got := hl.LastSuccessAt != nil; got != tc.ok {
				t.Fatalf("success = %v, want %v (health %+v)", got, tc.ok, hl)
			}
			if !tc.ok && !strings.HasPrefix(hl.LastFailureContent, fmt.Sprint(tc.code)) {
				t.Fatalf("LastFailureContent = %q", hl.LastFailureContent)
			}
		})
	}
}

func TestRedirectIsFailure(t *testing.T) {
	h := newHarness(t, Config{AcceptAny2xx: true})
	other := newReceiver(t, h.clk, status(200))
	rc := newReceiver(t, h.clk, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
	})
	h.add(rc.URL)
	h.waitIdle()
	if n := len(other.requests()); n != 0 {
		t.Fatalf("redirect followed: %d requests at its target", n)
	}
	recs := h.eng.Records(testGID)
	if len(recs) != 1 || recs[0].Success || recs[0].Status != http.StatusTemporaryRedirect {
		t.Fatalf("records = %+v", recs)
	}
	hl, _ := h.eng.Health(testGID)
	if hl.RetryCount != 1 || !strings.HasPrefix(hl.LastFailureContent, "307 Temporary Redirect") {
		t.Fatalf("health = %+v", hl)
	}
}

func TestConnectionErrorIsFailure(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.clk, status(200))
	url := rc.URL
	rc.Close()
	h.add(url)
	h.waitIdle()
	hl, _ := h.eng.Health(testGID)
	if hl.RetryCount != 1 || !strings.HasPrefix(hl.LastFailureContent, "connection error") {
		t.Fatalf("health = %+v", hl)
	}
}

func TestHandshake(t *testing.T) {
	secret := asana.NewSecret("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name    string
		respond func(w http.ResponseWriter, r *http.Request)
		wantErr error
	}{
		{"echo with 200", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Hook-Secret", r.Header.Get("X-Hook-Secret"))
		}, nil},
		{"echo with 204 and a lower-case header name", func(w http.ResponseWriter, r *http.Request) {
			w.Header()["x-hook-secret"] = []string{r.Header.Get("X-Hook-Secret")}
			w.WriteHeader(http.StatusNoContent)
		}, nil},
		{"missing echo", status(200), ErrHandshakeNoEcho},
		{"wrong echo", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Hook-Secret", "not-the-secret")
		}, ErrHandshakeEcho},
		{"echo with 500", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Hook-Secret", r.Header.Get("X-Hook-Secret"))
			w.WriteHeader(http.StatusInternalServerError)
		}, ErrHandshakeStatus},
		{"echo with 201", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Hook-Secret", r.Header.Get("X-Hook-Secret"))
			w.WriteHeader(http.StatusCreated)
		}, ErrHandshakeStatus},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
			w.Header().Set("X-Hook-Secret", r.Header.Get("X-Hook-Secret"))
		}, ErrHandshakeTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{HandshakeTimeout: 300 * time.Millisecond})
			rc := newReceiver(t, h.clk, tc.respond)
			err := h.eng.Handshake(context.Background(), testGID, rc.URL+"/h", secret)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Handshake error = %v, want %v", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), secret.Reveal()) {
				t.Fatal("error contains the secret")
			}
			reqs := rc.requests()
			if len(reqs) != 1 || len(reqs[0].body) != 0 || reqs[0].header.Get("X-Hook-Secret") != secret.Reveal() || reqs[0].header.Get(asana.HeaderSignature) != "" {
				t.Fatalf("handshake request = %+v", reqs)
			}
			recs := h.eng.Records(testGID)
			if len(recs) != 1 || recs[0].Kind != KindHandshake || recs[0].Success != (err == nil) {
				t.Fatalf("records = %+v", recs)
			}
			if v := recs[0].RequestHeader.Get("X-Hook-Secret"); v != asana.Redacted {
				t.Fatalf("record shows X-Hook-Secret %q, want it redacted", v)
			}
			if v := recs[0].ResponseHeader.Get("X-Hook-Secret"); v != "" && v != asana.Redacted {
				t.Fatalf("record shows the echoed secret %q", v)
			}
		})
	}
	t.Run("bad url", func(t *testing.T) {
		h := newHarness(t, Config{})
		err := h.eng.Handshake(context.Background(), testGID, "http://127.0.0.1:1/x", secret)
		if !errors.Is(err, ErrHandshakeConnect) {
			t.Fatalf("error = %v, want ErrHandshakeConnect", err)
		}
	})
}

func TestBatching(t *testing.T) {
	t.Run("max batch splits bodies", func(t *testing.T) {
		h := newHarness(t, Config{MaxBatch: 3})
		rc := newReceiver(t, h.clk, status(200))
		h.add(rc.URL)
		h.waitIdle()
		for i := range 7 {
			h.eng.Enqueue(testGID, event(i))
		}
		h.waitIdle()
		var sizes []int
		var all []string
		for _, r := range rc.requests()[1:] {
			evs := eventsIn(t, r.body)
			sizes = append(sizes, len(evs))
			all = append(all, evs...)
		}
		if len(all) != 7 || slices.Max(sizes) > 3 {
			t.Fatalf("batch sizes %v, %d events", sizes, len(all))
		}
	})
	t.Run("window gathers events", func(t *testing.T) {
		h := newHarness(t, Config{BatchWindow: time.Minute})
		rc := newReceiver(t, h.clk, status(200))
		h.add(rc.URL)
		h.waitIdle()
		h.eng.Enqueue(testGID, event(1))
		h.advance(30 * time.Second)
		h.eng.Enqueue(testGID, event(2), event(3))
		h.advance(29 * time.Second)
		if n := len(rc.requests()); n != 1 {
			t.Fatalf("%d requests before the window closed", n)
		}
		h.advance(time.Second)
		reqs := rc.requests()
		if len(reqs) != 2 || len(eventsIn(t, reqs[1].body)) != 3 || !reqs[1].at.Equal(t0.Add(time.Minute)) {
			t.Fatalf("requests = %d, want one batch of 3 at 1m", len(reqs))
		}
	})
}

func TestFaults(t *testing.T) {
	setup := func(t *testing.T, f Faults, code int) (*harness, *receiver) {
		t.Helper()
		h := newHarness(t, Config{})
		h.eng.SetFaults(f)
		rc := newReceiver(t, h.clk, status(code))
		h.add(rc.URL)
		h.waitIdle()
		return h, rc
	}
	t.Run("off by default", func(t *testing.T) {
		h := newHarness(t, Config{})
		if h.eng.Faults() != (Faults{}) {
			t.Fatalf("faults = %+v", h.eng.Faults())
		}
	})
	t.Run("drop", func(t *testing.T) {
		h, rc := setup(t, Faults{DropRate: 1}, 200)
		h.eng.Enqueue(testGID, event(1), event(2))
		h.waitIdle()
		if n := len(rc.requests()); n != 1 || h.eng.Pending(testGID) != 0 {
			t.Fatalf("%d requests, pending %d: events not dropped", n, h.eng.Pending(testGID))
		}
	})
	t.Run("drop half is deterministic", func(t *testing.T) {
		run := func() []string {
			h, rc := setup(t, Faults{DropRate: 0.5, Seed: 7}, 200)
			for i := range 40 {
				h.eng.Enqueue(testGID, event(i))
			}
			h.waitIdle()
			var got []string
			for _, r := range rc.requests() {
				got = append(got, eventsIn(t, r.body)...)
			}
			return got
		}
		a, b := run(), run()
		if !slices.Equal(a, b) || len(a) == 0 || len(a) == 40 {
			t.Fatalf("runs delivered %d and %d events (equal=%v)", len(a), len(b), slices.Equal(a, b))
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		h, rc := setup(t, Faults{DuplicateRate: 1}, 200)
		h.eng.Enqueue(testGID, event(1))
		h.waitIdle()
		reqs := rc.requests()
		if len(reqs) != 3 || string(reqs[1].body) != string(reqs[2].body) {
			t.Fatalf("got %d requests, want heartbeat + the batch twice", len(reqs))
		}
	})
	t.Run("reorder", func(t *testing.T) {
		run := func() []string {
			h, rc := setup(t, Faults{ReorderRate: 1, Seed: 42}, 500)
			var want []string
			for i := range 10 {
				h.eng.Enqueue(testGID, event(i))
				want = append(want, string(event(i)))
			}
			rc.setRespond(status(200))
			h.advance(time.Minute)
			reqs := rc.requests()
			got := eventsIn(t, reqs[len(reqs)-1].body)
			if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
				t.Fatalf("reordered batch lost events: %v", got)
			}
			if slices.Equal(got, want) {
				t.Fatal("batch not reordered")
			}
			return got
		}
		if a, b := run(), run(); !slices.Equal(a, b) {
			t.Fatalf("same seed, different orders:\n%v\n%v", a, b)
		}
	})
	t.Run("corrupt signature", func(t *testing.T) {
		_, rc := setup(t, Faults{CorruptSignatureRate: 1}, 200)
		r := rc.requests()[0]
		sig := r.header.Get(asana.HeaderSignature)
		if len(sig) != 64 || asana.Verify(testSecret, r.body, sig) {
			t.Fatalf("signature %q still verifies", sig)
		}
	})
	t.Run("delay", func(t *testing.T) {
		h, rc := setup(t, Faults{Delay: 100 * time.Millisecond}, 200)
		start := time.Now()
		h.eng.Heartbeat(testGID)
		h.waitIdle()
		if len(rc.requests()) != 2 || time.Since(start) < 100*time.Millisecond {
			t.Fatalf("heartbeat took %s with a 100ms delay", time.Since(start))
		}
	})
	t.Run("deliver after delete", func(t *testing.T) {
		for _, on := range []bool{false, true} {
			h, rc := setup(t, Faults{DeliverAfterDelete: on}, 500)
			h.eng.Enqueue(testGID, event(1))
			h.waitIdle()
			before := len(rc.requests())
			h.eng.Remove(testGID)
			h.waitIdle()
			h.advance(time.Hour)
			extra := len(rc.requests()) - before
			if want := map[bool]int{false: 0, true: 1}[on]; extra != want {
				t.Fatalf("DeliverAfterDelete=%v: %d requests after Remove, want %d", on, extra, want)
			}
		}
	})
}

func TestRemoveResetClose(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.clk, status(200))
	h.add(rc.URL)
	h.eng.Add(Target{GID: "2", URL: rc.URL, Secret: testSecret})
	h.waitIdle()
	if n := h.eng.Heartbeat(""); n != 2 {
		t.Fatalf("Heartbeat(\"\") = %d, want 2", n)
	}
	if n := h.eng.Heartbeat("unknown"); n != 0 {
		t.Fatalf("Heartbeat(unknown) = %d", n)
	}
	h.waitIdle()
	if n := len(h.eng.Records("")); n != 4 {
		t.Fatalf("%d records, want 4", n)
	}
	h.eng.Remove(testGID)
	h.eng.Enqueue(testGID, event(1))
	h.waitIdle()
	if _, ok := h.eng.Health(testGID); ok || h.eng.Pending(testGID) != 0 {
		t.Fatal("removed webhook still known")
	}
	if len(h.eng.Records(testGID)) != 2 {
		t.Fatal("records of a removed webhook were dropped")
	}
	h.eng.Reset()
	if len(h.eng.Records("")) != 0 {
		t.Fatal("Reset kept records")
	}
	if _, ok := h.eng.Health("2"); ok {
		t.Fatal("Reset kept webhooks")
	}
	h.eng.Close()
	h.add(rc.URL)
	if _, ok := h.eng.Health(testGID); ok {
		t.Fatal("Add after Close started a webhook")
	}
}

func TestSetConfigReplans(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.clk, status(200))
	h.add(rc.URL)
	h.waitIdle()
	h.eng.SetConfig(Config{HeartbeatEvery: time.Hour, MaxBatch: -1})
	if c := h.eng.Config(); c.HeartbeatEvery != time.Hour || c.MaxBatch != 100 || c.Deadline != 10*time.Second {
		t.Fatalf("Config = %+v", c)
	}
	h.eng.Heartbeat(testGID) // a new schedule starts from the next planned heartbeat
	h.advanceTo(t0.Add(10 * time.Hour))
	// 1 initial + 1 forced, 8h heartbeat planned before the change, then hourly.
	if n := len(rc.requests()); n != 5 {
		t.Fatalf("%d requests, want 5", n)
	}
}

func TestRecordsAreCapped(t *testing.T) {
	e := New(Config{}, clock.NewFake(t0), nil, nil)
	defer e.Close()
	for i := range MaxRecords + 50 {
		e.addRecord(Record{WebhookGID: fmt.Sprint(i % 2)})
	}
	recs := e.Records("")
	if len(recs) != MaxRecords || recs[0].ID != 51 || recs[len(recs)-1].ID != MaxRecords+50 {
		t.Fatalf("%d records, first %d, last %d", len(recs), recs[0].ID, recs[len(recs)-1].ID)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].ID != recs[i-1].ID+1 {
			t.Fatalf("records out of order at %d", i)
		}
	}
	if n := len(e.Records("1")); n != MaxRecords/2 {
		t.Fatalf("Records(\"1\") = %d", n)
	}
}

// TestShiftedClockDrivesEngine runs the engine on the CLI's clock: real time
// flows and Advance jumps to the next heartbeat.
func TestShiftedClockDrivesEngine(t *testing.T) {
	clk := clock.NewShifted()
	e := New(Config{}, clk, nil, nil)
	defer e.Close()
	rc := newReceiver(t, clk, status(200))
	e.Add(Target{GID: testGID, URL: rc.URL, Secret: testSecret})
	waitFor(t, func() bool { return len(rc.requests()) == 1 })
	waitFor(t, func() bool { return clk.Waiters() == 1 })
	clk.Advance(8 * time.Hour)
	waitFor(t, func() bool { return len(rc.requests()) == 2 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestResetWithConcurrentAdd checks that Reset returns when a webhook is
// added while it waits for the goroutines it stopped: it used to wait for
// every running goroutine, the new webhook's too, which never stops.
func TestResetWithConcurrentAdd(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := &harness{t: t, clk: clock.NewFake(t0)}
	h.eng = New(Config{}, h.clk, nil, func(string, string) {
		close(entered)
		<-release // a slow onDelete keeps the deleted webhook's goroutine running
	})
	t.Cleanup(h.eng.Close)
	failing := newReceiver(t, h.clk, status(500))
	ok := newReceiver(t, h.clk, status(200))
	h.add(failing.URL)
	h.waitIdle()
	h.clk.Advance(24 * time.Hour) // the webhook is deleted; onDelete blocks
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("webhook not deleted after 24h of failures")
	}
	reset := make(chan struct{})
	go func() { h.eng.Reset(); close(reset) }()
	// Give Reset time to start waiting; the test holds whatever the timing.
	time.Sleep(50 * time.Millisecond)
	h.eng.Add(Target{GID: "2", URL: ok.URL, Secret: testSecret})
	close(release)
	select {
	case <-reset:
	case <-time.After(30 * time.Second):
		t.Fatal("Reset did not return: it waits for a webhook added after it started")
	}
}

// TestRecordBytesAreCapped checks that the records' bodies are bounded in
// bytes, not only in number: MaxRecords bodies of a full batch of large
// injected events would otherwise hold gigabytes.
func TestRecordBytesAreCapped(t *testing.T) {
	e := New(Config{}, clock.NewFake(t0), nil, nil)
	defer e.Close()
	body := make([]byte, 1<<20)
	n := MaxRecordBytes/len(body) + 20
	for range n {
		e.addRecord(Record{WebhookGID: "1", RequestBody: body, ResponseBody: "ok"})
	}
	recs := e.Records("")
	total := 0
	for _, r := range recs {
		total += len(r.RequestBody) + len(r.ResponseBody)
	}
	if total > MaxRecordBytes {
		t.Errorf("records hold %d body bytes, more than MaxRecordBytes (%d)", total, MaxRecordBytes)
	}
	if len(recs) == 0 || recs[len(recs)-1].ID != int64(n) {
		t.Fatalf("the newest record was dropped")
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].ID != recs[i-1].ID+1 {
			t.Fatalf("records out of order at %d", i)
		}
	}
	// One record larger than the cap is still kept, alone.
	e.addRecord(Record{WebhookGID: "1", RequestBody: make([]byte, MaxRecordBytes+1)})
	if recs := e.Records(""); len(recs) != 1 || recs[0].ID != int64(n+1) {
		t.Errorf("after a huge record: %d records", len(recs))
	}
}
