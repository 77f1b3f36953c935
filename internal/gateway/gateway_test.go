package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/gateway/gatewaytest"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// env is a SQLite store with one active hook.
type env struct {
	t     *testing.T
	store *sqlite.Store
	path  string
	hook  inspector.Hook
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gw.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateRun(ctx, inspector.Run{ID: "run", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	h := inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1"}, Target: "t", RunID: "run"}
	if err := st.CreateHook(ctx, h); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: st, path: path, hook: h}
}

// record stores a delivery as the receiver would, with one event named by n
// (a heartbeat when n is empty), and returns its body.
func (e *env) record(n string) string {
	e.t.Helper()
	body := `{"events":[]}`
	if n != "" {
		body = fmt.Sprintf(`{"events":[{"action":"changed","created_at":"2026-12-04T16:00:00.000Z","resource":{"gid":%q,"resource_type":"task"}}]}`, n)
	}
	parsed := inspector.ParseDeliveryBody([]byte(body))
	if _, err := e.store.RecordDelivery(e.t.Context(), inspector.Delivery{HookID: e.hook.ID, Body: []byte(body), Kind: parsed.Kind}, parsed.Events); err != nil {
		e.t.Fatal(err)
	}
	return body
}

// start prepares and runs a gateway to a until the test ends, with
// recorded, instant sleeps.
func (e *env) start(a *gatewaytest.App, mod func(*Config)) (*Gateway, func() []Event, func()) {
	e.t.Helper()
	var mu sync.Mutex
	events := &[]Event{}
	cfg := Config{Store: e.store, URL: a.URL + "/asana?from=inspector", Poll: 20 * time.Millisecond,
		OnEvent: func(ev Event) { mu.Lock(); *events = append(*events, ev); mu.Unlock() },
		Sleep:   func(ctx context.Context, d time.Duration) error { return ctx.Err() }}
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := g.Prepare(e.t.Context()); err != nil {
		e.t.Fatalf("Prepare: %v", err)
	}
	ctx, cancel := context.WithCancel(e.t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	stop := func() { cancel(); <-done }
	e.t.Cleanup(stop)
	snapshot := func() []Event { mu.Lock(); defer mu.Unlock(); return slices.Clone(*events) }
	return g, snapshot, stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestForwardsInOrderSigned: the handshake gives the app its secret, then
// every delivery stored afterwards (not those before) reaches the app, oldest
// first, byte for byte, signed with it; heartbeats too.
func TestForwardsInOrderSigned(t *testing.T) {
	e := newEnv(t)
	e.record("before") // stored before the gateway: not forwarded
	a := gatewaytest.New(t)
	g, _, _ := e.start(a, nil)
	if a.Secret() == "" {
		t.Fatal("no handshake reached the app")
	}
	var want []string
	for _, n := range []string{"1", "2", "", "3"} {
		want = append(want, e.record(n))
		g.Wake()
	}
	waitFor(t, "four deliveries", func() bool { return len(a.Bodies()) >= 4 })
	got, bad := a.Bodies(), a.Bad()
	if !slices.Equal(got, want) || bad != 0 {
		t.Errorf("the app got %q (bad signatures: %d), want %q", got, bad, want)
	}
	target, err := e.store.ForwardTarget(t.Context(), a.URL+"/asana?from=inspector")
	if err != nil {
		t.Fatal(err)
	}
	last, _ := e.store.ListDeliveries(t.Context(), inspector.DeliveryFilter{Limit: 1})
	waitFor(t, "the cursor at the last delivery", func() bool {
		target, _ = e.store.ForwardTarget(t.Context(), target.URL)
		return target.Cursor == last[0].ID
	})
	if target.Secret.Reveal() != a.Secret() {
		t.Error("the stored secret is not the one the app echoed")
	}
}

// TestRetriesThenDelivers: an app that fails twice gets the delivery a third
// time, after waits of 1 s then 2 s; nothing after it overtakes it.
func TestRetriesThenDelivers(t *testing.T) {
	e := newEnv(t)
	a := gatewaytest.New(t)
	a.Fail(2)
	var mu sync.Mutex
	var waits []time.Duration
	g, _, _ := e.start(a, func(c *Config) {
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return ctx.Err()
		}
	})
	first, second := e.record("1"), e.record("2")
	g.Wake()
	waitFor(t, "both deliveries", func() bool { return len(a.Bodies()) >= 2 })
	got := a.Bodies()
	if !slices.Equal(got, []string{first, second}) {
		t.Errorf("the app got %q, want the first then the second", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(waits, []time.Duration{time.Second, 2 * time.Second}) {
		t.Errorf("waits %v, want [1s 2s]", waits)
	}
}

// TestRestartResumes: a gateway started again on the same store hands the
// app a new secret and forwards only what it had not, signed with it.
func TestRestartResumes(t *testing.T) {
	e := newEnv(t)
	a := gatewaytest.New(t)
	g, _, stop := e.start(a, nil)
	secret := a.Secret()
	e.record("1")
	g.Wake()
	waitFor(t, "the first delivery", func() bool { return len(a.Bodies()) >= 1 })
	// Stopped only once the cursor has moved past it: stopped while the
	// app's answer is on its way, the gateway would rightly send it again
	// (at least once), which this test is not about.
	last, err := e.store.ListDeliveries(t.Context(), inspector.DeliveryFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cursor past the first delivery", func() bool {
		target, err := e.store.ForwardTarget(t.Context(), g.cfg.URL)
		return err == nil && target.Cursor >= last[0].ID
	})
	stop()
	e.record("2") // while the gateway is down
	g2, _, _ := e.start(a, nil)
	g2.Wake()
	waitFor(t, "the second delivery", func() bool { return len(a.Bodies()) >= 2 })
	got := a.Bodies()
	if len(got) != 2 || !strings.Contains(got[1], `"2"`) || a.Secret() == secret {
		t.Errorf("after the restart the app got %q (new handshake: %v), want the second delivery once, after a new handshake", got, a.Secret() != secret)
	}
}

// TestGivesUpAfterMaxAge: a delivery the app refuses for longer than MaxAge
// is given up, said so, and the next one goes.
func TestGivesUpAfterMaxAge(t *testing.T) {
	e := newEnv(t)
	a := gatewaytest.New(t)
	a.Fail(1 << 30)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	g, events, _ := e.start(a, func(c *Config) {
		c.MaxAge = time.Hour
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			now = now.Add(20 * time.Minute)
			mu.Unlock()
			return ctx.Err()
		}
	})
	e.record("doomed")
	g.Wake()
	waitFor(t, "the delivery given up", func() bool {
		return slices.ContainsFunc(events(), func(ev Event) bool { return ev.GaveUp })
	})
	a.Fail(0)
	next := e.record("next")
	g.Wake()
	waitFor(t, "the next delivery", func() bool { return len(a.Bodies()) >= 1 })
	if got := a.Bodies(); !slices.Equal(got, []string{next}) {
		t.Errorf("the app got %q, want only the next delivery", got)
	}
	var gaveUp []Event
	for _, ev := range events() {
		if ev.GaveUp {
			gaveUp = append(gaveUp, ev)
		}
	}
	if len(gaveUp) != 1 || gaveUp[0].Status != http.StatusInternalServerError {
		t.Errorf("given up: %+v, want the doomed delivery once, with its 500", gaveUp)
	}
}

// TestHandshakeRefused: an app that does not echo the secret fails Prepare
// with a message that says what Asana requires and holds no secret, and no
// target is stored.
func TestHandshakeRefused(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"no echo", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }, "did not echo the X-Hook-Secret"},
		{"404", http.NotFound, "answered 404 Not Found"},
		{"another secret", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(asana.HeaderSecret, "not-it")
			w.WriteHeader(http.StatusNoContent)
		}, "echoed a different X-Hook-Secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sent = r.Header.Get(asana.HeaderSecret)
				tt.handler(w, r)
			}))
			defer srv.Close()
			g, err := New(Config{Store: e.store, URL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.Prepare(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Prepare = %v, want an error saying %q", err, tt.want)
			}
			if sent == "" || strings.Contains(err.Error(), sent) {
				t.Errorf("the handshake sent no secret, or the error shows it: %v", err)
			}
			if _, err := e.store.ForwardTarget(t.Context(), srv.URL); err == nil {
				t.Error("a target was stored after a failed handshake")
			}
		})
	}
}

// TestSendForReplay: Use loads a stored target and Send posts any stored
// delivery again, signed, without touching the cursor.
func TestSendForReplay(t *testing.T) {
	e := newEnv(t)
	a := gatewaytest.New(t)
	g, _, stop := e.start(a, nil)
	body := e.record("again")
	g.Wake()
	waitFor(t, "the delivery", func() bool { return len(a.Bodies()) >= 1 })
	stop()
	ds, err := e.store.ListDeliveries(t.Context(), inspector.DeliveryFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Store: e.store, URL: g.cfg.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Use(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ev := r.Send(t.Context(), ds[0]); !ev.OK() {
		t.Fatalf("Send = %+v", ev)
	}
	got, bad := a.Bodies(), a.Bad()
	if !slices.Equal(got, []string{body, body}) || bad != 0 {
		t.Errorf("the app got %q (bad %d), want the delivery twice", got, bad)
	}
	other, _ := New(Config{Store: e.store, URL: a.URL + "/elsewhere"})
	if err := other.Use(t.Context()); err == nil {
		t.Error("Use of a URL with no handshake on record succeeded")
	}
	var ids []string
	for _, r := range a.Received() {
		ids = append(ids, r.ID)
	}
	if want := fmt.Sprint(ds[0].ID); len(ids) != 2 || ids[0] != want || ids[1] != want {
		t.Errorf("%s headers %q, want %s twice", HeaderDeliveryID, ids, want)
	}
}

// startWith is start for an app that may refuse the handshake at first:
// Prepare's error is returned instead of failing the test.
func (e *env) startWith(a *gatewaytest.App, mod func(*Config)) (*Gateway, func() []Event, error) {
	e.t.Helper()
	var mu sync.Mutex
	var events []Event
	cfg := Config{Store: e.store, URL: a.URL + "/asana", Poll: 20 * time.Millisecond,
		OnEvent: func(ev Event) { mu.Lock(); events = append(events, ev); mu.Unlock() },
		Sleep:   func(ctx context.Context, d time.Duration) error { time.Sleep(time.Millisecond); return ctx.Err() }}
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	_, perr := g.Prepare(e.t.Context())
	ctx, cancel := context.WithCancel(e.t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
	return g, func() []Event { mu.Lock(); defer mu.Unlock(); return slices.Clone(events) }, perr
}

// TestHandshakeRetriedUntilTheAppIsUp: an app not running yet fails the
// first handshake (ErrHandshake), the gateway keeps trying, and once the app
// is up it gets a secret and the deliveries stored meanwhile.
func TestHandshakeRetriedUntilTheAppIsUp(t *testing.T) {
	e := newEnv(t)
	a := gatewaytest.New(t)
	a.Down(http.StatusServiceUnavailable)
	g, events, err := e.startWith(a, nil)
	if !errors.Is(err, ErrHandshake) {
		t.Fatalf("Prepare with the app down = %v, want ErrHandshake", err)
	}
	body := e.record("waiting")
	g.Wake()
	waitFor(t, "a failed handshake retried", func() bool {
		n := 0
		for _, ev := range events() {
			if ev.Handshake && ev.Err != nil && ev.Retry > 0 {
				n++
			}
		}
		return n >= 2
	})
	a.Down(0)
	waitFor(t, "the delivery once the app is up", func() bool { return len(a.Bodies()) >= 1 })
	if got, bad := a.Bodies(), a.Bad(); !slices.Equal(got, []string{body}) || bad != 0 {
		t.Errorf("the app got %q (bad %d), want the delivery stored while it was down", got, bad)
	}
	if !slices.ContainsFunc(events(), func(ev Event) bool { return ev.Handshake && ev.Err == nil }) {
		t.Error("no successful handshake reported")
	}
}

// TestRenewsWhenTheAppLosesItsSecret: an app that restarted (and forgot its
// secret) refuses the next delivery with 401; the gateway hands it a new
// secret and sends the delivery again, once.
func TestRenewsWhenTheAppLosesItsSecret(t *testing.T) {
	e := newEnv(t)
	a := gatewaytest.New(t)
	g, events, err := e.startWith(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.SetSecret("") // the app restarted
	body := e.record("after the restart")
	g.Wake()
	waitFor(t, "the delivery after a new handshake", func() bool { return len(a.Bodies()) >= 1 })
	if got := a.Bodies(); !slices.Equal(got, []string{body}) {
		t.Errorf("the app got %q, want the delivery once", got)
	}
	evs := events()
	renews := slices.IndexFunc(evs, func(ev Event) bool { return ev.Renew && ev.Status == http.StatusUnauthorized })
	handshake := slices.IndexFunc(evs, func(ev Event) bool { return ev.Handshake && ev.Err == nil })
	if renews < 0 || handshake < renews {
		t.Errorf("events %+v: want the 401 with Renew, then a handshake", evs)
	}
}

// TestFreshSecretRefused: an app whose verification is broken refuses even
// a delivery signed with the secret it has just echoed; after one renewal the
// gateway says so (FreshSecret) instead of renewing again.
func TestFreshSecretRefused(t *testing.T) {
	e := newEnv(t)
	a := gatewaytest.New(t)
	a.Refuse(true)
	g, events, err := e.startWith(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.record("never accepted")
	g.Wake()
	waitFor(t, "a refusal with a fresh secret", func() bool {
		return slices.ContainsFunc(events(), func(ev Event) bool { return ev.FreshSecret })
	})
	handshakes := 0
	for _, ev := range events() {
		if ev.Handshake {
			handshakes++
		}
	}
	if handshakes != 1 {
		t.Errorf("%d handshakes reported, want 1 (the renewal; the first was Prepare's)", handshakes)
	}
}

// TestSlowAppTimesOut: an app that does not answer within Timeout (1 s, so
// that the handshake, which has the same bound, passes on a loaded machine) is a
// failed attempt (no status, an error) and the delivery is sent again; once
// the app answers, it is delivered.
func TestSlowAppTimesOut(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	hang := true
	var secret string
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if s := r.Header.Get(asana.HeaderSecret); s != "" {
			mu.Lock()
			secret = s
			mu.Unlock()
			w.Header().Set(asana.HeaderSecret, s)
			return
		}
		mu.Lock()
		h := hang
		hang = false // only the first delivery hangs
		mu.Unlock()
		if h {
			<-r.Context().Done()
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if asana.Verify(asana.NewSecret(secret), body, r.Header.Get(asana.HeaderSignature)) {
			got = append(got, string(body))
		}
	}))
	defer srv.Close()
	var evMu sync.Mutex
	var events []Event
	g, err := New(Config{Store: e.store, URL: srv.URL, Timeout: time.Second, Poll: 20 * time.Millisecond,
		OnEvent: func(ev Event) { evMu.Lock(); events = append(events, ev); evMu.Unlock() },
		Sleep:   func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	defer func() { cancel(); <-done }()
	body := e.record("slow")
	g.Wake()
	waitFor(t, "the delivery", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 1 })
	mu.Lock()
	if !slices.Equal(got, []string{body}) {
		t.Errorf("the app got %q, want the delivery once", got)
	}
	mu.Unlock()
	evMu.Lock()
	defer evMu.Unlock()
	if len(events) < 2 || events[0].Err == nil || events[0].Status != 0 || events[0].Retry != time.Second || !events[len(events)-1].OK() {
		t.Errorf("events %+v: want a timed-out attempt (no status, an error, a retry in 1s), then a success", events)
	}
}
