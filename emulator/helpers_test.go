package emulator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator"
)

// receiver is a webhook target: it answers the handshake by echoing the
// secret and records every delivery.
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	secret    string
	handshake int
	got       []delivered
	status    int // reply to deliveries; 0 means 200
	noEcho    bool
}

type delivered struct {
	body      []byte
	signature string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if s := r.Header.Get(asana.HeaderSecret); s != "" {
			rc.handshake++
			rc.secret = s
			if !rc.noEcho {
				w.Header().Set(asana.HeaderSecret, s)
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		rc.got = append(rc.got, delivered{body: body, signature: r.Header.Get(asana.HeaderSignature)})
		if rc.status != 0 {
			w.WriteHeader(rc.status)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// deliveries returns what the receiver got so far.
func (rc *receiver) deliveries() []delivered {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivered(nil), rc.got...)
}

// waitFor polls until cond holds for the receiver's deliveries, or fails.
func (rc *receiver) waitFor(t *testing.T, what string, cond func([]delivered) bool) []delivered {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if d := rc.deliveries(); cond(d) {
			return d
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; got %d deliveries", what, len(rc.deliveries()))
	return nil
}

// events decodes every event delivered so far (heartbeats add none).
func deliveredEvents(t *testing.T, ds []delivered) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, d := range ds {
		var body struct {
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(d.body, &body); err != nil {
			t.Fatalf("delivery body %q: %v", d.body, err)
		}
		out = append(out, body.Events...)
	}
	return out
}

// response is a decoded API response.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call sends a request to the emulator. body may be nil, a string (sent
// as is) or any value (sent as JSON).
func call(t *testing.T, srv *emulator.Server, token, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
		if strings.HasPrefix(b, "form:") {
			rd = strings.NewReader(strings.TrimPrefix(b, "form:"))
			ctype = "application/x-www-form-urlencoded"
		}
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = srv.BaseURL() + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: response is not a JSON object: %q", method, path, raw)
	}
	return r
}

// data returns the response's data object.
func (r response) data(t *testing.T) map[string]any {
	t.Helper()
	d, ok := r.body["data"].(map[string]any)
	if !ok {
		t.Fatalf("response has no data object: %s", r.raw)
	}
	return d
}

// list returns the response's data array.
func (r response) list(t *testing.T) []any {
	t.Helper()
	d, ok := r.body["data"].([]any)
	if !ok {
		t.Fatalf("response has no data array: %s", r.raw)
	}
	return d
}

// errorMessage returns the first error message, checking the envelope.
func (r response) errorMessage(t *testing.T) string {
	t.Helper()
	errs, ok := r.body["errors"].([]any)
	if !ok || len(errs) == 0 {
		t.Fatalf("no error envelope in %s", r.raw)
	}
	first, ok := errs[0].(map[string]any)
	if !ok {
		t.Fatalf("bad error entry in %s", r.raw)
	}
	msg, _ := first["message"].(string)
	if msg == "" {
		t.Fatalf("error without message: %s", r.raw)
	}
	if help, _ := first["help"].(string); help == "" {
		t.Fatalf("error without help: %s", r.raw)
	}
	return msg
}

// createWebhook creates a webhook and returns its gid and secret.
func createWebhook(t *testing.T, srv *emulator.Server, token, resource, target string, filters any) (string, string) {
	t.Helper()
	data := map[string]any{"resource": resource, "target": target}
	if filters != nil {
		data["filters"] = filters
	}
	r := call(t, srv, token, "POST", "/webhooks", map[string]any{"data": data})
	if r.status != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", r.status, r.raw)
	}
	secret, _ := r.body["X-Hook-Secret"].(string)
	return r.data(t)["gid"].(string), secret
}

func emulatorTaskName(name string) emulator.TaskUpdate { return emulator.TaskUpdate{Name: &name} }

func taskUpdateNotes(notes string) emulator.TaskUpdate { return emulator.TaskUpdate{Notes: &notes} }
