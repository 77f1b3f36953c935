package receiver

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// env is a receiver over a real SQLite file, served on loopback.
type env struct {
	t       *testing.T
	store   inspector.Store
	windows *inspector.HandshakeWindows
	handler *Handler
	srv     *httptest.Server
	logs    *syncBuffer
	run     inspector.Run
	// active is a hook with secret activeSecret; pending has no secret.
	active, pending inspector.Hook
	mu              sync.Mutex
	observed        []inspector.RecordResult
}

const activeSecret = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

// syncBuffer is a bytes.Buffer safe for concurrent writers (slog handlers
// serialize their own writes, but tests read while requests run).
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

type envOption func(*Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "inspector.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvWithStore(t, st, st, opts...)
}

// newEnvWithStore serves a receiver over store (possibly a wrapper of base,
// which the env uses to set things up).
func newEnvWithStore(t *testing.T, store, base inspector.Store, opts ...envOption) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{t: t, store: base, windows: &inspector.HandshakeWindows{}, logs: &syncBuffer{}}
	e.run = inspector.Run{ID: inspector.NewHookID(), StartedAt: time.Now(), PublicURL: "http://127.0.0.1"}
	if err := base.CreateRun(ctx, e.run); err != nil {
		t.Fatal(err)
	}
	e.active = e.newHook("111")
	if err := base.SaveHandshake(ctx, e.active.ID, asana.NewSecret(activeSecret)); err != nil {
		t.Fatal(err)
	}
	if err := base.ActivateHook(ctx, e.active.ID, "999"); err != nil {
		t.Fatal(err)
	}
	e.pending = e.newHook("222")
	cfg := Config{
		Store:      store,
		Windows:    e.windows,
		Logger:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnDelivery: func(r inspector.RecordResult) { e.mu.Lock(); e.observed = append(e.observed, r); e.mu.Unlock() },
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.handler = h
	e.srv = httptest.NewUnstartedServer(h)
	e.srv.Config = NewServer("", h, ServerOptions{Logger: cfg.Logger})
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

// waitObserved waits until the observer has seen n deliveries (it runs after
// the response is flushed, so after the client has its answer) and returns
// them.
func (e *env) waitObserved(n int) []inspector.RecordResult {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		e.mu.Lock()
		got := append([]inspector.RecordResult(nil), e.observed...)
		e.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			// Observers of successive requests may run in either order.
			slices.SortFunc(got, func(a, b inspector.RecordResult) int { return cmp.Compare(a.Delivery.ID, b.Delivery.ID) })
			if len(got) != n {
				e.t.Errorf("observer saw %d deliveries, want %d", len(got), n)
			}
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) newHook(resource string) inspector.Hook {
	e.t.Helper()
	id := inspector.NewHookID()
	h := inspector.Hook{ID: id, Resource: asana.Compact{GID: resource, ResourceType: "project"},
		Target: e.run.PublicURL + HookPath(id) + "?project=" + resource, RunID: e.run.ID}
	if err := e.store.CreateHook(e.t.Context(), h); err != nil {
		e.t.Fatal(err)
	}
	return h
}

// post sends a POST to path with the given headers and body.
func (e *env) post(path string, headers map[string]string, body []byte) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header[k] = []string{v}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *env) handshake(hookID, secret string) (*http.Response, string) {
	e.t.Helper()
	return e.post(HookPath(hookID)+"?project=1", map[string]string{asana.HeaderSecret: secret}, nil)
}

func (e *env) deliver(hookID string, body []byte, sig string) (*http.Response, string) {
	e.t.Helper()
	return e.post(HookPath(hookID)+"?project=111", map[string]string{asana.HeaderSignature: sig, "Content-Type": "application/json"}, body)
}

func (e *env) stats() inspector.Stats {
	e.t.Helper()
	st, err := e.store.Stats(e.t.Context(), "")
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *env) secret(hookID string) (string, error) {
	s, err := e.store.Secret(e.t.Context(), hookID)
	return s.Reveal(), err
}

func eventJSON(task, field string) string {
	return fmt.Sprintf(`{"user":{"gid":"111","resource_type":"user"},"created_at":"2026-03-14T15:09:26.535Z","action":"changed",`+
		`"resource":{"gid":%q,"resource_type":"task","resource_subtype":"default_task"},"parent":null,`+
		`"change":{"field":%q,"action":"changed"}}`, task, field)
}

func body(events ...string) []byte {
	return []byte(`{"events":[` + strings.Join(events, ",") + `]}`)
}

func sign(secret string, b []byte) string { return asana.Sign(asana.NewSecret(secret), b) }

func TestHandshake(t *testing.T) {
	e := newEnv(t)
	const first = "handshake-secret-5f2a0c"
	tests := []struct {
		name       string
		hookID     string
		open       bool
		secret     string
		wantStatus int
		wantStored string // the hook's secret afterwards ("" = none)
	}{
		{"no window", e.pending.ID, false, first, http.StatusForbidden, ""},
		{"empty secret", e.pending.ID, true, "", http.StatusBadRequest, ""},
		{"first secret in the window", e.pending.ID, true, first, http.StatusOK, first},
		{"same secret again", e.pending.ID, true, first, http.StatusOK, first},
		{"different secret", e.pending.ID, true, "attacker-secret", http.StatusConflict, first},
		{"window closed again", e.pending.ID, false, "attacker-secret", http.StatusForbidden, first},
		{"active hook, no window", e.active.ID, false, "attacker-secret", http.StatusForbidden, activeSecret},
		{"unknown hook with a window", "0123456789abcdef0123456789abcdef", true, first, http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.open {
				e.windows.Open(tt.hookID)
				defer e.windows.Close(tt.hookID)
			}
			before := e.stats()
			resp, text := e.handshake(tt.hookID, tt.secret)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, text, tt.wantStatus)
			}
			echo := resp.Header.Get(asana.HeaderSecret)
			if tt.wantStatus == http.StatusOK && echo != tt.secret {
				t.Errorf("echoed X-Hook-Secret %q, want the secret", echo)
			}
			if tt.wantStatus != http.StatusOK && echo != "" {
				t.Error("a rejected handshake echoed a secret")
			}
			got, err := e.secret(tt.hookID)
			if tt.wantStored == "" {
				if !errors.Is(err, inspector.ErrNoSecret) && !errors.Is(err, inspector.ErrNotFound) {
					t.Errorf("secret stored (err %v)", err)
				}
			} else if got != tt.wantStored {
				t.Errorf("stored secret changed: intact=%v", got == tt.wantStored)
			}
			if after := e.stats(); after.Deliveries != before.Deliveries {
				t.Error("a handshake stored a delivery")
			}
		})
	}
	if strings.Contains(e.logs.String(), "attacker-secret") || strings.Contains(e.logs.String(), first) {
		t.Error("a secret reached the log")
	}
	if !strings.Contains(e.logs.String(), "handshake rejected") {
		t.Error("rejected handshakes were not logged")
	}
}

func TestDelivery(t *testing.T) {
	e := newEnv(t)
	valid := body(eventJSON("1", "completed"), eventJSON("1", "completed_at"))
	validSig := sign(activeSecret, valid)
	flipped := append([]byte(nil), valid...)
	flipped[20] ^= 0x01
	var parsed any
	if err := json.Unmarshal(valid, &parsed); err != nil {
		t.Fatal(err)
	}
	reserialized, _ := json.Marshal(parsed) // reordered keys: what naive receivers verify
	if bytes.Equal(reserialized, valid) {
		t.Fatal("re-serialised body equals the original; the test would prove nothing")
	}
	tests := []struct {
		name       string
		hookID     string
		headers    map[string]string
		body       []byte
		wantStatus int
		wantStored bool
	}{
		{"forged signature", e.active.ID, map[string]string{asana.HeaderSignature: sign("not-the-secret", valid)}, valid, 401, false},
		{"flipped body byte", e.active.ID, map[string]string{asana.HeaderSignature: validSig}, flipped, 401, false},
		{"re-serialised body", e.active.ID, map[string]string{asana.HeaderSignature: sign(activeSecret, reserialized)}, valid, 401, false},
		{"re-serialised body, original signature", e.active.ID, map[string]string{asana.HeaderSignature: validSig}, reserialized, 401, false},
		{"empty signature", e.active.ID, map[string]string{asana.HeaderSignature: ""}, valid, 401, false},
		{"missing signature", e.active.ID, map[string]string{"Content-Type": "application/json"}, valid, 401, false},
		{"truncated signature", e.active.ID, map[string]string{asana.HeaderSignature: validSig[:63]}, valid, 401, false},
		{"no secret for the hook", e.pending.ID, map[string]string{asana.HeaderSignature: sign("", valid)}, valid, 401, false},
		{"unknown hook", "0123456789abcdef0123456789abcdef", map[string]string{asana.HeaderSignature: validSig}, valid, 401, false},
		{"neither header", e.active.ID, map[string]string{}, nil, 400, false},
		{"valid", e.active.ID, map[string]string{asana.HeaderSignature: validSig}, valid, 200, true},
		{"uppercase signature", e.active.ID, map[string]string{asana.HeaderSignature: strings.ToUpper(validSig)}, valid, 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.stats()
			resp, text := e.post(HookPath(tt.hookID)+"?project=111", tt.headers, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, text, tt.wantStatus)
			}
			if resp.Header.Get(HeaderRequestID) == "" {
				t.Error("no request id in the response")
			}
			if strings.Contains(text, validSig) || strings.Contains(text, activeSecret) {
				t.Errorf("response %q leaks the secret or the expected signature", text)
			}
			after := e.stats()
			if stored := after.Deliveries > before.Deliveries; stored != tt.wantStored {
				t.Errorf("stored = %v, want %v", stored, tt.wantStored)
			}
		})
	}

	// The valid delivery is stored with its events, its query and its
	// redacted headers, and was observed after the commit.
	ds, err := e.store.ListDeliveries(t.Context(), inspector.DeliveryFilter{HookID: e.active.ID})
	if err != nil || len(ds) != 2 {
		t.Fatalf("ListDeliveries: %d, %v", len(ds), err)
	}
	d, err := e.store.GetDelivery(t.Context(), ds[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Delivery.Body, valid) || d.Delivery.Kind != inspector.KindEvents || d.Delivery.Query != "project=111" ||
		len(d.Events) != 2 || !d.Events[0].New || d.Delivery.RequestID == "" {
		t.Errorf("stored delivery: %+v", d)
	}
	if got := d.Delivery.Headers.Get(asana.HeaderSignature); got != inspector.Redacted {
		t.Errorf("stored X-Hook-Signature %q, want it redacted", got)
	}
	e.waitObserved(2)
	// The second valid one repeated the events: counted, not duplicated.
	st := e.stats()
	if st.Events != 2 || st.Receipts != 4 {
		t.Errorf("%d events, %d receipts; want 2, 4", st.Events, st.Receipts)
	}
}

func TestDeliveryKinds(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name      string
		body      []byte
		kind      inspector.Kind
		events    int
		heartbeat bool
	}{
		{"heartbeat", []byte(`{"events":[]}`), inspector.KindHeartbeat, 0, true},
		{"not json", []byte(`<html>`), inspector.KindMalformed, 0, false},
		{"no events key", []byte(`{"data":{}}`), inspector.KindMalformed, 0, false},
		{"events not an array", []byte(`{"events":"x"}`), inspector.KindMalformed, 0, false},
		{"events", body(eventJSON("5", "name")), inspector.KindEvents, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, text := e.deliver(e.active.ID, tt.body, sign(activeSecret, tt.body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d (%q), want 200", resp.StatusCode, text)
			}
			var reply struct {
				DeliveryID int64  `json:"delivery_id"`
				Kind       string `json:"kind"`
			}
			if err := json.Unmarshal([]byte(text), &reply); err != nil {
				t.Fatalf("reply %q: %v", text, err)
			}
			d, err := e.store.GetDelivery(t.Context(), reply.DeliveryID)
			if err != nil {
				t.Fatalf("GetDelivery: %v", err)
			}
			if d.Delivery.Kind != tt.kind || reply.Kind != string(tt.kind) || len(d.Events) != tt.events || !bytes.Equal(d.Delivery.Body, tt.body) {
				t.Errorf("stored as kind %s with %d events, want %s with %d", d.Delivery.Kind, len(d.Events), tt.kind, tt.events)
			}
			if (tt.kind == inspector.KindMalformed) != (d.Delivery.Problem != "") {
				t.Errorf("kind %s with problem %q", d.Delivery.Kind, d.Delivery.Problem)
			}
			h, _ := e.store.GetHook(t.Context(), e.active.ID)
			if tt.heartbeat && !h.LastHeartbeatAt.Equal(d.Delivery.ReceivedAt) {
				t.Errorf("last heartbeat %v, want %v", h.LastHeartbeatAt, d.Delivery.ReceivedAt)
			}
		})
	}
	if !strings.Contains(e.logs.String(), "malformed delivery stored") {
		t.Error("malformed deliveries were not flagged in the log")
	}
}

func TestDuplicateDelivery(t *testing.T) {
	e := newEnv(t)
	b := body(eventJSON("7", "completed"))
	for i := range 2 {
		resp, text := e.deliver(e.active.ID, b, sign(activeSecret, b))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("delivery %d: status %d (%q)", i, resp.StatusCode, text)
		}
	}
	st := e.stats()
	if st.Deliveries != 2 || st.Events != 1 || st.Receipts != 2 {
		t.Errorf("%d deliveries, %d events, %d receipts; want 2, 1, 2", st.Deliveries, st.Events, st.Receipts)
	}
	observed := e.waitObserved(2)
	if len(observed) == 2 && (!observed[0].Events[0].New || observed[1].Events[0].New) {
		t.Errorf("observed new flags: %v then %v, want true then false", observed[0].Events[0].New, observed[1].Events[0].New)
	}
}

func TestOversizedBody(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 1 << 10 })
	big := body(eventJSON(strings.Repeat("9", 2<<10), "name"))
	tests := []struct {
		name    string
		chunked bool
	}{
		{"content length", false},
		{"chunked", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(big)
			if tt.chunked {
				r = io.MultiReader(r) // hides the length: sent chunked
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+HookPath(e.active.ID), r)
			req.Header.Set(asana.HeaderSignature, sign(activeSecret, big))
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", resp.StatusCode)
			}
		})
	}
	if st := e.stats(); st.Deliveries != 0 {
		t.Errorf("%d deliveries stored", st.Deliveries)
	}
}

func TestRoutes(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		method, path string
		want         int
		wantBody     string
	}{
		{"GET", PreflightPath("n0nce_-X"), 200, "n0nce_-X"},
		{"GET", PreflightPath("bad<nonce>"), 404, ""},
		{"GET", PreflightPath(strings.Repeat("a", maxNonce+1)), 404, ""},
		{"GET", HookPath(e.active.ID), 405, ""},
		{"PUT", HookPath(e.active.ID), 405, ""},
		{"POST", "/hooks/not-a-hook-id", 404, ""},
		{"POST", "/receive-webhook", 404, ""},
		{"GET", "/", 404, ""},
		{"POST", "/_preflight/x", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, e.srv.URL+tt.path, nil)
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.wantBody != "" && string(b) != tt.wantBody {
				t.Errorf("body %q, want %q", b, tt.wantBody)
			}
		})
	}
}

// blockingStore is a Store whose RecordDelivery waits until its context ends
// (or fails at once with err, if set).
type blockingStore struct {
	inspector.Store
	err error
}

func (b blockingStore) RecordDelivery(ctx context.Context, _ inspector.Delivery, _ []inspector.IncomingEvent) (inspector.RecordResult, error) {
	if b.err != nil {
		return inspector.RecordResult{}, b.err
	}
	<-ctx.Done()
	return inspector.RecordResult{}, ctx.Err()
}

func TestStoreUnavailable(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"store blocked past the commit timeout", nil},
		{"store failing", errors.New("disk I/O error")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "x.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			e := newEnvWithStore(t, blockingStore{Store: st, err: tt.err}, st, func(c *Config) { c.CommitTimeout = 200 * time.Millisecond })
			b := body(eventJSON("1", "name"))
			start := time.Now()
			resp, text := e.deliver(e.active.ID, b, sign(activeSecret, b))
			elapsed := time.Since(start)
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status %d (%q), want 503", resp.StatusCode, text)
			}
			if resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			// 200 ms configured; 5 s is the production budget, kept as a
			// generous bound for a loaded machine.
			if elapsed > 5*time.Second {
				t.Errorf("503 after %v", elapsed)
			}
			if s := e.stats(); s.Deliveries != 0 {
				t.Errorf("%d deliveries stored", s.Deliveries)
			}
		})
	}
}

func TestLimitInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	})
	srv := httptest.NewServer(LimitInFlight(slow, 1, 2*time.Second, nil))
	defer srv.Close()
	done := make(chan int, 1)
	go func() {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("second request: status %d, Retry-After %q; want 503, 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Errorf("first request: status %d, want 200", code)
	}
	// Capacity is given back.
	resp, err = srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after release: status %d, want 200", resp.StatusCode)
	}
}

func TestServerHardening(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	s := NewServer("127.0.0.1:0", h, ServerOptions{})
	for name, v := range map[string]time.Duration{
		"ReadHeaderTimeout": s.ReadHeaderTimeout, "ReadTimeout": s.ReadTimeout,
		"WriteTimeout": s.WriteTimeout, "IdleTimeout": s.IdleTimeout,
	} {
		if v <= 0 {
			t.Errorf("%s not set", name)
		}
	}
	if s.WriteTimeout <= DefaultCommitTimeout {
		t.Errorf("WriteTimeout %v does not leave room for the commit timeout", s.WriteTimeout)
	}
	if s.MaxHeaderBytes <= 0 {
		t.Error("MaxHeaderBytes not set")
	}

	// A client that never finishes its headers is cut off.
	slow := NewServer("", h, ServerOptions{ReadHeaderTimeout: 100 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go slow.Serve(ln) //nolint:errcheck // ends with Close
	defer slow.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /hooks/x HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(conn) // returns when the server closes the connection
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("slow headers kept the connection %v", time.Since(start))
	}

	// Oversized headers are refused.
	srv := httptest.NewUnstartedServer(h)
	srv.Config = NewServer("", h, ServerOptions{MaxHeaderBytes: 1 << 10})
	srv.Start()
	defer srv.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/hooks/x", nil)
	req.Header.Set("X-Padding", strings.Repeat("p", 8<<10))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized headers: status %d, want 431", resp.StatusCode)
	}
}

// TestCanary runs a full exchange with a canary secret and token and finds
// neither in any log line, response body or stored header.
func TestCanary(t *testing.T) {
	const canarySecret = "CANARY-SECRET-7f3a91c2e5"
	const canaryOther = "CANARY-OTHER-0b8d44e1"
	const canaryToken = "CANARY-TOKEN-2/9b1f6c"
	e := newEnv(t)
	hook := e.newHook("333")
	e.windows.Open(hook.ID)
	var responses []string
	record := func(resp *http.Response, text string, allowEcho bool) {
		h := resp.Header.Clone()
		if allowEcho {
			h.Del(asana.HeaderSecret) // the echo is the protocol itself
		}
		var hb strings.Builder
		_ = h.Write(&hb)
		responses = append(responses, hb.String()+text)
	}
	resp, text := e.handshake(hook.ID, canarySecret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("handshake: %d", resp.StatusCode)
	}
	record(resp, text, true)
	resp, text = e.handshake(hook.ID, canarySecret)
	record(resp, text, true)
	resp, text = e.handshake(hook.ID, canaryOther)
	record(resp, text, false)
	e.windows.Close(hook.ID)
	resp, text = e.handshake(hook.ID, canaryOther)
	record(resp, text, false)

	b := body(eventJSON("1", "name"))
	good := sign(canarySecret, b)
	for _, sig := range []string{good, sign(canaryOther, b), "", good[:10]} {
		resp, text = e.post(HookPath(hook.ID), map[string]string{
			asana.HeaderSignature: sig, "Authorization": "Bearer " + canaryToken, "Cookie": "t=" + canaryToken,
		}, b)
		record(resp, text, false)
	}
	resp, text = e.post(HookPath(hook.ID), map[string]string{asana.HeaderSignature: good}, append(b, ' '))
	record(resp, text, false)

	logs := e.logs.String()
	if !strings.Contains(logs, "request_id") {
		t.Fatal("no request ids in the log; the capture is broken")
	}
	ds, err := e.store.ListDeliveries(t.Context(), inspector.DeliveryFilter{})
	if err != nil || len(ds) != 1 {
		t.Fatalf("ListDeliveries: %d, %v", len(ds), err)
	}
	stored, _ := json.Marshal(ds[0].Headers)
	for _, canary := range []string{canarySecret, canaryOther, canaryToken, good} {
		if strings.Contains(logs, canary) {
			t.Errorf("log contains canary %q", canary[:12])
		}
		for _, r := range responses {
			if strings.Contains(r, canary) {
				t.Errorf("response contains canary %q:\n%s", canary[:12], r)
			}
		}
		if strings.Contains(string(stored), canary) {
			t.Errorf("stored headers contain canary %q", canary[:12])
		}
	}
	// Every log line of a request carries its id.
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !strings.Contains(line, `"request_id"`) {
			t.Errorf("log line without request id: %s", line)
		}
	}
}

// TestAppendReply checks the hand-written reply against encoding/json.
func TestAppendReply(t *testing.T) {
	for _, d := range []inspector.Delivery{
		{ID: 1, Kind: inspector.KindEvents, EventCount: 3, NewEventCount: 2},
		{ID: 9007199254740993, Kind: inspector.KindHeartbeat},
		{ID: 42, Kind: inspector.KindMalformed},
	} {
		want, err := json.Marshal(struct {
			DeliveryID int64  `json:"delivery_id"`
			Kind       string `json:"kind"`
			Events     int    `json:"events"`
			New        int    `json:"new_events"`
		}{d.ID, string(d.Kind), d.EventCount, d.NewEventCount})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(appendReply(nil, d)); got != string(want)+"\n" {
			t.Errorf("appendReply(%+v) = %q, want %q", d, got, want)
		}
	}
}

// sharedWindowsStore is a store shared by replicas: open says which hooks'
// windows another replica has open; err fails the lookup.
type sharedWindowsStore struct {
	inspector.Store
	open map[string]bool
	err  error
}

func (s sharedWindowsStore) OpenHandshakeWindow(context.Context, string, time.Duration) error {
	return nil
}
func (s sharedWindowsStore) CloseHandshakeWindow(context.Context, string) error { return nil }
func (s sharedWindowsStore) HandshakeWindowOpen(_ context.Context, id string) (bool, error) {
	return s.open[id], s.err
}

// TestHandshakeSharedWindow: with a store shared by replicas, a handshake
// is accepted when another replica has the hook's window open, refused when
// nobody has, and answered 503 (nothing stored) when the store cannot say.
func TestHandshakeSharedWindow(t *testing.T) {
	tests := []struct {
		name       string
		open       bool
		err        error
		wantStatus int
	}{
		{"open in another replica", true, nil, http.StatusOK},
		{"open nowhere", false, nil, http.StatusForbidden},
		{"the store cannot say", false, errors.New("connection refused"), http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "r.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			shared := sharedWindowsStore{Store: st, open: map[string]bool{}, err: tt.err}
			e := newEnvWithStore(t, shared, st)
			shared.open[e.pending.ID] = tt.open
			resp, text := e.handshake(e.pending.ID, "replica-secret")
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, text, tt.wantStatus)
			}
			_, err = e.secret(e.pending.ID)
			if stored := err == nil; stored != (tt.wantStatus == http.StatusOK) {
				t.Errorf("secret stored: %v (err %v)", stored, err)
			}
		})
	}
}
