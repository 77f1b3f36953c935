package asana

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testToken = "0/tok-canary-3e1f"

// sleepRecorder stands in for the real timer: it records the waits the
// client asks for and returns at once.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// recorded is what the test server saw of one request.
type recorded struct {
	Method string
	Path   string
	Query  string
	Body   string
}

// apiServer is a scripted Asana: handle answers each request; every request
// is recorded.
type apiServer struct {
	mu   sync.Mutex
	reqs []recorded
	hdrs []http.Header
}

func (a *apiServer) headers() []http.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]http.Header(nil), a.hdrs...)
}

func (a *apiServer) requests() []recorded {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]recorded(nil), a.reqs...)
}

// newTestClient starts a loopback server running handle and returns a client
// pointed at it, with a recording sleep.
func newTestClient(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int), opts ...Option) (*Client, *apiServer, *sleepRecorder) {
	t.Helper()
	a := &apiServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.reqs = append(a.reqs, recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(b)})
		a.hdrs = append(a.hdrs, r.Header.Clone())
		n := len(a.reqs)
		a.mu.Unlock()
		handle(w, r, n)
	}))
	t.Cleanup(srv.Close)
	sl := &sleepRecorder{}
	all := append([]Option{WithBaseURL(srv.URL), WithSleep(sl.sleep)}, opts...)
	return NewClient(testToken, all...), a, sl
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func webhookJSON(gid, resource, target string) string {
	return fmt.Sprintf(`{"gid":%q,"resource_type":"webhook","active":true,"resource":{"gid":%q,"resource_type":"project","name":"P"},"target":%q,"created_at":"2026-01-02T03:04:05.678Z","last_failure_at":null,"last_failure_content":"","last_success_at":null,"delivery_retry_count":0,"next_attempt_after":null,"failure_deletion_timestamp":null,"filters":[],"is_workspace_webhook":false}`, gid, resource, target)
}

func gids(hs []Webhook) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.GID)
	}
	return out
}

func TestListWebhooksPagination(t *testing.T) {
	pages := map[string]string{
		"":     `{"data":[` + webhookJSON("1", "P", "https://a/1") + `,` + webhookJSON("2", "P", "https://a/2") + `],"next_page":{"offset":"off2","path":"/webhooks?offset=off2","uri":"x"}}`,
		"off2": `{"data":[` + webhookJSON("3", "P", "https://a/3") + `],"next_page":{"offset":"off3","path":"p","uri":"u"}}`,
		"off3": `{"data":[` + webhookJSON("4", "P", "https://a/4") + `],"next_page":null}`,
	}
	c, srv, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		page, ok := pages[r.URL.Query().Get("offset")]
		if !ok {
			writeJSON(w, 400, `{"errors":[{"message":"offset: Invalid"}]}`)
			return
		}
		writeJSON(w, 200, page)
	})
	hs, err := c.ListWebhooks(context.Background(), "W1", "P")
	if err != nil {
		t.Fatalf("ListWebhooks: %v", err)
	}
	if diff := cmp.Diff([]string{"1", "2", "3", "4"}, gids(hs)); diff != "" {
		t.Errorf("gids (-want +got):\n%s", diff)
	}
	want := []recorded{
		{Method: "GET", Path: "/webhooks", Query: "limit=100&resource=P&workspace=W1"},
		{Method: "GET", Path: "/webhooks", Query: "limit=100&offset=off2&resource=P&workspace=W1"},
		{Method: "GET", Path: "/webhooks", Query: "limit=100&offset=off3&resource=P&workspace=W1"},
	}
	if diff := cmp.Diff(want, srv.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if hs[0].CreatedAt == nil || !hs[0].CreatedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)) {
		t.Errorf("created_at = %v", hs[0].CreatedAt)
	}
}

func TestListPaginationOtherEndpoints(t *testing.T) {
	c, srv, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch r.URL.Path + "?" + r.URL.Query().Get("offset") {
		case "/projects?":
			writeJSON(w, 200, `{"data":[{"gid":"p1","resource_type":"project","name":"One"}],"next_page":{"offset":"o"}}`)
		case "/projects?o":
			writeJSON(w, 200, `{"data":[{"gid":"p2","resource_type":"project","name":"Two","workspace":{"gid":"W","resource_type":"workspace"}}],"next_page":null}`)
		case "/workspaces?":
			writeJSON(w, 200, `{"data":[{"gid":"W","resource_type":"workspace","name":"Acme","is_organization":true}]}`)
		default:
			writeJSON(w, 404, `{"errors":[{"message":"No matching route for request"}]}`)
		}
	})
	ps, err := c.Projects(context.Background(), "W")
	if err != nil {
		t.Fatalf("Projects: %v", err)
	}
	wantP := []Project{
		{GID: "p1", ResourceType: "project", Name: "One"},
		{GID: "p2", ResourceType: "project", Name: "Two", Workspace: &Compact{GID: "W", ResourceType: "workspace"}},
	}
	if diff := cmp.Diff(wantP, ps); diff != "" {
		t.Errorf("projects (-want +got):\n%s", diff)
	}
	ws, err := c.Workspaces(context.Background())
	if err != nil {
		t.Fatalf("Workspaces: %v", err)
	}
	if diff := cmp.Diff([]Workspace{{GID: "W", ResourceType: "workspace", Name: "Acme", IsOrganization: true}}, ws); diff != "" {
		t.Errorf("workspaces (-want +got):\n%s", diff)
	}
	wantQ := []string{"limit=100&workspace=W", "limit=100&offset=o&workspace=W", "limit=100"}
	var gotQ []string
	for _, r := range srv.requests() {
		gotQ = append(gotQ, r.Query)
	}
	if diff := cmp.Diff(wantQ, gotQ); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
}

func TestListRepeatedOffsetStops(t *testing.T) {
	c, _, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		writeJSON(w, 200, `{"data":[],"next_page":{"offset":"same"}}`)
	})
	_, err := c.ListWebhooks(context.Background(), "W", "")
	if err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Fatalf("err = %v, want a repeated-offset error", err)
	}
}

func TestRetryAfter429(t *testing.T) {
	tests := []struct {
		name string
		call func(c *Client) error
		ok   string // body of the eventual success
		code int
	}{
		{"get", func(c *Client) error { _, err := c.GetWebhook(context.Background(), "123"); return err },
			`{"data":` + webhookJSON("123", "P", "https://t") + `}`, 200},
		{"list", func(c *Client) error { _, err := c.ListWebhooks(context.Background(), "W", ""); return err },
			`{"data":[]}`, 200},
		{"events", func(c *Client) error { _, err := c.Events(context.Background(), "P", "s1"); return err },
			`{"data":[],"sync":"s2","has_more":false}`, 200},
		{"delete", func(c *Client) error { return c.DeleteWebhook(context.Background(), "123") },
			`{"data":{}}`, 200},
		{"create", func(c *Client) error {
			_, err := c.CreateWebhook(context.Background(), CreateWebhookRequest{Resource: "P", Target: "https://t"})
			return err
		}, `{"data":` + webhookJSON("9", "P", "https://t") + `,"X-Hook-Secret":"s"}`, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv, sl := newTestClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
				switch n {
				case 1:
					w.Header().Set("Retry-After", "7")
					writeJSON(w, 429, `{"errors":[{"message":"You've made too many requests and hit a rate limit."}]}`)
				case 2:
					w.Header().Set("Retry-After", "30")
					writeJSON(w, 429, `{"errors":[{"message":"rate limit"}]}`)
				default:
					writeJSON(w, tt.code, tt.ok)
				}
			})
			if err := tt.call(c); err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff([]time.Duration{7 * time.Second, 30 * time.Second}, sl.got()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if got := len(srv.requests()); got != 3 {
				t.Errorf("requests = %d, want 3", got)
			}
		})
	}
}

func TestRetry429GivesUp(t *testing.T) {
	c, srv, sl := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Retry-After", "2")
		writeJSON(w, 429, `{"errors":[{"message":"rate limit"}]}`)
	}, WithMaxRetries(2))
	_, err := c.GetWebhook(context.Background(), "1")
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.RetryAfter != 2*time.Second {
		t.Fatalf("err = %v, want a 429 APIError with RetryAfter 2s", err)
	}
	if diff := cmp.Diff([]time.Duration{2 * time.Second, 2 * time.Second}, sl.got()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if got := len(srv.requests()); got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}
}

// TestRetryAfterTooLongNotWaited checks that a Retry-After longer than the
// client is willing to wait inside one call returns the 429 at once (with its
// RetryAfter, for the caller to decide) instead of blocking for hours.
func TestRetryAfterTooLongNotWaited(t *testing.T) {
	for _, ra := range []string{"86400", "99999999999999999999"} {
		t.Run(ra, func(t *testing.T) {
			c, srv, sl := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				w.Header().Set("Retry-After", ra)
				writeJSON(w, 429, `{"errors":[{"message":"rate limit"}]}`)
			})
			_, err := c.GetWebhook(context.Background(), "1")
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.RetryAfter < 24*time.Hour {
				t.Fatalf("err = %v, want a 429 APIError with its long RetryAfter", err)
			}
			if waits := sl.got(); len(waits) != 0 {
				t.Errorf("waited %v, want no wait", waits)
			}
			if got := len(srv.requests()); got != 1 {
				t.Errorf("requests = %d, want 1", got)
			}
		})
	}
}

func TestBackoff5xx(t *testing.T) {
	tests := []struct {
		name       string
		failures   int // 5xx answers before success
		maxRetries int
		wantWaits  []time.Duration
		wantStatus int // 0: success
	}{
		{"recovers", 3, 4, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second}, 0},
		{"gives up", 100, 4, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, 500},
		{"no retries", 100, 0, nil, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv, sl := newTestClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n <= tt.failures {
					writeJSON(w, 500, `{"errors":[{"message":"Server Error","phrase":"6 sad squid snuggle softly"}]}`)
					return
				}
				writeJSON(w, 200, `{"data":`+webhookJSON("1", "P", "https://t")+`}`)
			}, WithMaxRetries(tt.maxRetries))
			h, err := c.GetWebhook(context.Background(), "1")
			if tt.wantStatus == 0 {
				if err != nil || h.GID != "1" {
					t.Fatalf("GetWebhook = %v, %v", h, err)
				}
			} else {
				if !IsStatus(err, tt.wantStatus) {
					t.Fatalf("err = %v, want status %d", err, tt.wantStatus)
				}
				if !strings.Contains(err.Error(), "get webhook 1: ") || !strings.Contains(err.Error(), "6 sad squid") {
					t.Errorf("err = %q, want the operation and the phrase", err)
				}
			}
			if diff := cmp.Diff(tt.wantWaits, sl.got()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if got, want := len(srv.requests()), len(tt.wantWaits)+1; got != want {
				t.Errorf("requests = %d, want %d", got, want)
			}
		})
	}
}

// hangup closes the connection without answering: a network error.
func hangup(t *testing.T, w http.ResponseWriter) {
	t.Helper()
	hj, ok := w.(http.Hijacker)
	if !ok {
		t.Error("response writer cannot hijack")
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	_ = conn.Close()
}

func TestNetworkErrorRetriedForIdempotent(t *testing.T) {
	c, _, sl := newTestClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			hangup(t, w)
			return
		}
		writeJSON(w, 200, `{"data":{"gid":"u1","resource_type":"user","name":"Ann"}}`)
	})
	u, err := c.Me(context.Background())
	if err != nil {
		t.Fatalf("Me: %v", err)
	}
	if diff := cmp.Diff(&User{GID: "u1", ResourceType: "user", Name: "Ann"}, u); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{time.Second}, sl.got()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestDeleteWebhook(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		wantErr  bool
	}{
		{"ok", []int{200}, false},
		{"not found", []int{404}, true},
		{"404 after 5xx retry is success", []int{502, 404}, false},
		{"404 after 429 is a real 404", []int{429, 404}, true},
		{"forbidden", []int{403}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
				st := tt.statuses[min(n-1, len(tt.statuses)-1)]
				if st == 200 {
					writeJSON(w, 200, `{"data":{}}`)
					return
				}
				writeJSON(w, st, `{"errors":[{"message":"webhook: Unknown object"}]}`)
			})
			err := c.DeleteWebhook(context.Background(), "77")
			if (err != nil) != tt.wantErr {
				t.Fatalf("DeleteWebhook err = %v, wantErr %v", err, tt.wantErr)
			}
			for _, r := range srv.requests() {
				if r.Method != "DELETE" || r.Path != "/webhooks/77" {
					t.Errorf("request %s %s, want DELETE /webhooks/77", r.Method, r.Path)
				}
			}
		})
	}
}

func TestCreateWebhookSuccess(t *testing.T) {
	c, srv, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		writeJSON(w, 201, `{"data":`+webhookJSON("555", "P1", "https://ex.test/h?x=1")+`,"X-Hook-Secret":"b5c8e1d2a3f4"}`)
	})
	got, err := c.CreateWebhook(context.Background(), CreateWebhookRequest{
		Resource: "P1", Target: "https://ex.test/h?x=1", Workspace: "W-hint",
		Filters: []Filter{{ResourceType: "task", Action: "changed", Fields: []string{"due_on"}}},
	})
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	if got.Secret.Reveal() != "b5c8e1d2a3f4" {
		t.Errorf("secret = %q, want the top-level X-Hook-Secret", got.Secret.Reveal())
	}
	if got.Webhook.GID != "555" || got.Webhook.Target != "https://ex.test/h?x=1" {
		t.Errorf("webhook = %+v", got.Webhook)
	}
	reqs := srv.requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/webhooks" {
		t.Fatalf("requests = %+v, want one POST /webhooks", reqs)
	}
	var sent any
	if err := json.Unmarshal([]byte(reqs[0].Body), &sent); err != nil {
		t.Fatalf("request body %q: %v", reqs[0].Body, err)
	}
	want := map[string]any{"data": map[string]any{
		"resource": "P1", "target": "https://ex.test/h?x=1",
		"filters": []any{map[string]any{"resource_type": "task", "action": "changed", "fields": []any{"due_on"}}},
	}}
	if diff := cmp.Diff(any(want), sent); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
	if ct := srv.headers()[0].Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestCreateWebhookClientErrorsNotRetried(t *testing.T) {
	c, srv, sl := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		writeJSON(w, 403, `{"errors":[{"message":"Duplicated webhook. You already have an existing webhook for the given resource and target."}]}`)
	})
	_, err := c.CreateWebhook(context.Background(), CreateWebhookRequest{Resource: "P", Target: "https://t"})
	if !IsStatus(err, 403) || !strings.HasPrefix(err.Error(), "create webhook: ") {
		t.Fatalf("err = %v, want a wrapped 403", err)
	}
	var ue *CreateUncertainError
	if errors.As(err, &ue) {
		t.Errorf("a 403 is certain, got %v", err)
	}
	if len(srv.requests()) != 1 || len(sl.got()) != 0 {
		t.Errorf("requests = %d, waits = %v; want 1 request, no wait", len(srv.requests()), sl.got())
	}
}

func TestCreateWebhookUncertain(t *testing.T) {
	const target = "https://ex.test/hook"
	tests := []struct {
		name      string
		create    func(t *testing.T, w http.ResponseWriter, r *http.Request) // the POST's answer
		workspace string                                                     // hint
		lookups   map[string]string                                          // path -> body (404 if absent)
		list      string                                                     // status 200 body of GET /webhooks, or "" for 403
		wantGID   string                                                     // Existing's gid; "" for nil
		wantCause func(error) bool
		wantPaths []string
		lookupErr bool
	}{
		{
			name: "timeout finds existing via project",
			create: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done() // hold the create open until the client gives up
			},
			lookups:   map[string]string{"/projects/P": `{"data":{"gid":"P","resource_type":"project","workspace":{"gid":"W","resource_type":"workspace"}}}`},
			list:      `{"data":[` + webhookJSON("1", "P", "https://ex.test/other") + `,` + webhookJSON("2", "P", target) + `],"next_page":null}`,
			wantGID:   "2",
			wantCause: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) },
			wantPaths: []string{"POST /webhooks", "GET /projects/P", "GET /webhooks"},
		},
		{
			name: "5xx none found",
			create: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 500, `{"errors":[{"message":"Server Error","phrase":"x y z"}]}`)
			},
			lookups:   map[string]string{"/projects/P": `{"data":{"gid":"P","workspace":{"gid":"W"}}}`},
			list:      `{"data":[` + webhookJSON("1", "P", target+"/not-the-same") + `]}`,
			wantCause: func(err error) bool { return IsStatus(err, 500) },
			wantPaths: []string{"POST /webhooks", "GET /projects/P", "GET /webhooks"},
		},
		{
			name: "workspace hint skips lookup",
			create: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 503, `{"errors":[{"message":"Service Unavailable"}]}`)
			},
			workspace: "W",
			list:      `{"data":[` + webhookJSON("3", "P", target) + `]}`,
			wantGID:   "3",
			wantCause: func(err error) bool { return IsStatus(err, 503) },
			wantPaths: []string{"POST /webhooks", "GET /webhooks"},
		},
		{
			name:      "network error, resource is a task",
			create:    func(t *testing.T, w http.ResponseWriter, r *http.Request) { hangup(t, w) },
			lookups:   map[string]string{"/tasks/P": `{"data":{"gid":"P","resource_type":"task","workspace":{"gid":"W","resource_type":"workspace"}}}`},
			list:      `{"data":[` + webhookJSON("4", "P", target) + `]}`,
			wantGID:   "4",
			wantCause: func(err error) bool { return err != nil },
			wantPaths: []string{"POST /webhooks", "GET /projects/P", "GET /tasks/P", "GET /webhooks"},
		},
		{
			name:      "201 with malformed body",
			create:    func(t *testing.T, w http.ResponseWriter, r *http.Request) { writeJSON(w, 201, `{"data":{"gid":"5",`) },
			workspace: "W",
			list:      `{"data":[` + webhookJSON("5", "P", target) + `]}`,
			wantGID:   "5",
			wantCause: func(err error) bool { return strings.Contains(err.Error(), "POST /webhooks") },
			wantPaths: []string{"POST /webhooks", "GET /webhooks"},
		},
		{
			name: "listing fails",
			create: func(t *testing.T, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 500, `{"errors":[{"message":"Server Error"}]}`)
			},
			workspace: "W",
			wantCause: func(err error) bool { return IsStatus(err, 500) },
			wantPaths: []string{"POST /webhooks", "GET /webhooks"},
			lookupErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv, sl := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				switch {
				case r.Method == "POST" && r.URL.Path == "/webhooks":
					tt.create(t, w, r)
				case r.Method == "GET" && r.URL.Path == "/webhooks":
					if r.URL.Query().Get("workspace") != "W" || r.URL.Query().Get("resource") != "P" {
						t.Errorf("list query = %q", r.URL.RawQuery)
					}
					if tt.list == "" {
						writeJSON(w, 403, `{"errors":[{"message":"Forbidden"}]}`)
						return
					}
					writeJSON(w, 200, tt.list)
				default:
					if b, ok := tt.lookups[r.URL.Path]; ok {
						writeJSON(w, 200, b)
						return
					}
					writeJSON(w, 404, `{"errors":[{"message":"Unknown object"}]}`)
				}
			}, WithTimeouts(10*time.Second, 300*time.Millisecond))
			created, err := c.CreateWebhook(context.Background(), CreateWebhookRequest{Resource: "P", Target: target, Workspace: tt.workspace})
			if created != nil {
				t.Fatalf("created = %+v, want nil", created)
			}
			var ue *CreateUncertainError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v (%T), want *CreateUncertainError", err, err)
			}
			gotGID := ""
			if ue.Existing != nil {
				gotGID = ue.Existing.GID
			}
			if gotGID != tt.wantGID {
				t.Errorf("Existing = %q, want %q", gotGID, tt.wantGID)
			}
			if !tt.wantCause(ue.Err) {
				t.Errorf("Err = %v, not the expected cause", ue.Err)
			}
			if (ue.LookupErr != nil) != tt.lookupErr {
				t.Errorf("LookupErr = %v, want set: %v", ue.LookupErr, tt.lookupErr)
			}
			if !strings.HasPrefix(err.Error(), "create webhook: outcome unknown: ") {
				t.Errorf("Error() = %q", err)
			}
			var paths []string
			for _, r := range srv.requests() {
				paths = append(paths, r.Method+" "+r.Path)
			}
			if diff := cmp.Diff(tt.wantPaths, paths); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if w := sl.got(); len(w) != 0 {
				t.Errorf("create was retried: waits %v", w)
			}
		})
	}
}

func TestCreateWebhookCancelledSkipsLookup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c, srv, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		cancel()
		<-r.Context().Done()
	})
	_, err := c.CreateWebhook(ctx, CreateWebhookRequest{Resource: "P", Target: "https://t", Workspace: "W"})
	var ue *CreateUncertainError
	if !errors.As(err, &ue) || ue.LookupErr == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want an uncertain error with a skipped lookup", err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("requests = %d, want only the create", n)
	}
}

func TestEvents(t *testing.T) {
	const msg = "Sync token invalid or too old. If you are attempting to keep resources in sync, you must fetch the full dataset for this query now and use the new sync token for the next sync."
	tests := []struct {
		name     string
		sync     string
		status   int
		body     string
		want     *EventsPage
		wantSync *SyncError
		wantErr  string
	}{
		{
			name: "first call 412", status: 412,
			body:     `{"errors":[{"message":"` + msg + `"}],"sync":"de4774f6915eae04714ca93bb2f5ee81"}`,
			wantSync: &SyncError{Sync: "de4774f6915eae04714ca93bb2f5ee81", HadToken: false},
		},
		{
			name: "expired token 412", sync: "old", status: 412,
			body:     `{"errors":[{"message":"` + msg + `"}],"sync":"new1"}`,
			wantSync: &SyncError{Sync: "new1", HadToken: true},
		},
		{
			name: "old top-level message shape", sync: "old", status: 412,
			body:     `{"message":"` + msg + `","sync":"new2"}`,
			wantSync: &SyncError{Sync: "new2", HadToken: true},
		},
		{
			name: "412 without a token", status: 412,
			body:    `{"errors":[{"message":"nope"}]}`,
			wantErr: "events: 412 without a new sync token",
		},
		{
			name: "page with unknown fields", sync: "s1", status: 200,
			body: `{"data":[{"user":{"gid":"u","resource_type":"user","name":"Ann","photo":null},"created_at":"2026-03-01T10:00:00.000Z","action":"changed","resource":{"gid":"t1","resource_type":"task","name":"T"},"parent":null,"change":{"field":"name","action":"changed","new_value":"x"},"type":"task","brand_new_key":{"a":[1,2]}}],"sync":"s2","has_more":true,"extra":1}`,
			want: &EventsPage{Sync: "s2", HasMore: true, Events: []Event{{
				User:      &Compact{GID: "u", ResourceType: "user", Name: "Ann"},
				CreatedAt: NewTime(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)),
				Action:    "changed",
				Resource:  Compact{GID: "t1", ResourceType: "task", Name: "T"},
				Change:    &Change{Field: "name", Action: "changed", NewValue: json.RawMessage(`"x"`)},
				Type:      "task",
			}}},
		},
		{
			name: "empty page", sync: "s1", status: 200,
			body: `{"data":[],"sync":"s3","has_more":false}`,
			want: &EventsPage{Events: []Event{}, Sync: "s3"},
		},
		{
			name: "malformed", sync: "s1", status: 200,
			body:    `{"data":[{"action":`,
			wantErr: "events: malformed response of GET /events (status 200)",
		},
		{
			name: "401", sync: "s1", status: 401,
			body:    `{"errors":[{"message":"Not Authorized"}]}`,
			wantErr: "events: asana: 401 Unauthorized: Not Authorized",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				writeJSON(w, tt.status, tt.body)
			})
			page, err := c.Events(context.Background(), "P", tt.sync)
			wantQ := "resource=P"
			if tt.sync != "" {
				wantQ += "&sync=" + tt.sync
			}
			if q := srv.requests()[0].Query; q != wantQ {
				t.Errorf("query = %q, want %q", q, wantQ)
			}
			switch {
			case tt.wantSync != nil:
				var se *SyncError
				if !errors.As(err, &se) {
					t.Fatalf("err = %v, want *SyncError", err)
				}
				if diff := cmp.Diff(tt.wantSync, se); diff != "" {
					t.Errorf("SyncError (-want +got):\n%s", diff)
				}
				if !errors.Is(err, ErrSyncTokenInvalid) {
					t.Errorf("err does not wrap ErrSyncTokenInvalid")
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("Events: %v", err)
				}
				if diff := cmp.Diff(tt.want, page); diff != "" {
					t.Errorf("page (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestPollEvents(t *testing.T) {
	c, srv, sl := newTestClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 1:
			writeJSON(w, 412, `{"errors":[{"message":"Sync token invalid"}],"sync":"a"}`)
		case 2:
			writeJSON(w, 200, `{"data":[{"action":"added","resource":{"gid":"t","resource_type":"task"},"created_at":"2026-01-01T00:00:00.000Z"}],"sync":"b","has_more":true}`)
		case 3:
			writeJSON(w, 200, `{"data":[],"sync":"c","has_more":false}`)
		default:
			writeJSON(w, 412, `{"errors":[{"message":"Sync token invalid"}],"sync":"fresh"}`)
		}
	})
	// A deadline so that a broken client fails instead of polling forever.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var syncs []string
	err := c.PollEvents(ctx, "P", "", 5*time.Second, func(p EventsPage) error {
		syncs = append(syncs, p.Sync)
		return nil
	})
	var se *SyncError
	if !errors.As(err, &se) || !se.HadToken || se.Sync != "fresh" {
		t.Fatalf("err = %v, want an expired-token SyncError", err)
	}
	if diff := cmp.Diff([]string{"b", "c"}, syncs); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	var qs []string
	for _, r := range srv.requests() {
		qs = append(qs, r.Query)
	}
	if diff := cmp.Diff([]string{"resource=P", "resource=P&sync=a", "resource=P&sync=b", "resource=P&sync=c"}, qs); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{5 * time.Second}, sl.got()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}

	stop := errors.New("stop")
	err = c.PollEvents(ctx, "P", "x", time.Second, func(EventsPage) error { return stop })
	if err == nil {
		t.Fatal("PollEvents after 412 with a token returned nil")
	}
}

func TestUnknownFieldsIgnored(t *testing.T) {
	c, _, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		writeJSON(w, 200, `{"data":{"gid":"9","resource_type":"webhook","active":true,"target":"https://t","resource":{"gid":"P","resource_type":"project","color":"red"},"filters":[{"resource_type":"task","future":true}],"future_field":{"nested":[1,{"x":null}]}},"meta":"ignored"}`)
	})
	h, err := c.GetWebhook(context.Background(), "9")
	if err != nil {
		t.Fatalf("GetWebhook: %v", err)
	}
	want := &Webhook{GID: "9", ResourceType: "webhook", Active: true, Target: "https://t",
		Resource: Compact{GID: "P", ResourceType: "project"}, Filters: []Filter{{ResourceType: "task"}}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("webhook (-want +got):\n%s", diff)
	}
}

func TestMalformedResponse(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		call    func(c *Client) error
		wantErr []string
	}{
		{"truncated json", 200, `{"data":{"gid":`,
			func(c *Client) error { _, err := c.GetWebhook(context.Background(), "12"); return err },
			[]string{"get webhook 12: ", "malformed response of GET /webhooks/12 (status 200)"}},
		{"html", 200, `<html>gateway</html>`,
			func(c *Client) error { _, err := c.ListWebhooks(context.Background(), "W", ""); return err },
			[]string{"list webhooks: ", "malformed response of GET /webhooks (status 200)"}},
		{"wrong type", 200, `{"data":"a string"}`,
			func(c *Client) error { _, err := c.Project(context.Background(), "p"); return err },
			[]string{"project p: ", "malformed response of GET /projects/p (status 200)"}},
		{"no data", 200, `{}`,
			func(c *Client) error { _, err := c.Me(context.Background()); return err },
			[]string{"me: ", "malformed response of GET /users/me (status 200): no data"}},
		{"empty body", 200, ``,
			func(c *Client) error { _, err := c.UpdateWebhook(context.Background(), "1", nil); return err },
			[]string{"update webhook 1: ", "malformed response of PUT /webhooks/1 (status 200)"}},
		{"error page html", 502, `<html>bad gateway</html>`,
			func(c *Client) error { _, err := c.GetWebhook(context.Background(), "1"); return err },
			[]string{"get webhook 1: asana: 502 Bad Gateway: Bad Gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				writeJSON(w, tt.status, tt.body)
			}, WithMaxRetries(0))
			err := tt.call(c)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %q, want it to contain %q", err, s)
				}
			}
		})
	}
}

func TestRequestHeadersAndBodies(t *testing.T) {
	tests := []struct {
		name     string
		opts     []Option
		call     func(c *Client) error
		wantUA   string
		wantBody string // "" means no body at all
	}{
		{"get default UA", nil,
			func(c *Client) error { _, err := c.GetWebhook(context.Background(), "1"); return err },
			"asana-webhooks", ""},
		{"list custom UA", []Option{WithUserAgent("asana-webhooks/1.2.3")},
			func(c *Client) error { _, err := c.ListWebhooks(context.Background(), "W", "R"); return err },
			"asana-webhooks/1.2.3", ""},
		{"events", nil,
			func(c *Client) error { _, err := c.Events(context.Background(), "R", "s"); return err },
			"asana-webhooks", ""},
		{"delete", nil,
			func(c *Client) error { return c.DeleteWebhook(context.Background(), "1") },
			"asana-webhooks", ""},
		{"put", nil,
			func(c *Client) error {
				_, err := c.UpdateWebhook(context.Background(), "1", []Filter{{ResourceType: "task", Action: "added"}})
				return err
			},
			"asana-webhooks", `{"data":{"filters":[{"resource_type":"task","action":"added"}]}}`},
		{"put clears filters", nil,
			func(c *Client) error { _, err := c.UpdateWebhook(context.Background(), "1", nil); return err },
			"asana-webhooks", `{"data":{"filters":[]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				if r.URL.Path == "/events" {
					writeJSON(w, 200, `{"data":[],"sync":"s2","has_more":false}`)
					return
				}
				if r.URL.Path == "/webhooks" {
					writeJSON(w, 200, `{"data":[]}`)
					return
				}
				writeJSON(w, 200, `{"data":`+webhookJSON("1", "P", "https://t")+`}`)
			}, tt.opts...)
			if err := tt.call(c); err != nil {
				t.Fatalf("call: %v", err)
			}
			h := srv.headers()[0]
			if got := h.Get("Authorization"); got != "Bearer "+testToken {
				t.Errorf("Authorization = %q", got)
			}
			if got := h.Get("User-Agent"); got != tt.wantUA {
				t.Errorf("User-Agent = %q, want %q", got, tt.wantUA)
			}
			if got := h.Get("X-Asana-Client-Lib"); !strings.HasPrefix(got, "language=Go&version=") || !strings.Contains(got, "&language_version=go1.") {
				t.Errorf("X-Asana-Client-Lib = %q", got)
			}
			r := srv.requests()[0]
			if r.Body != tt.wantBody {
				t.Errorf("body = %q, want %q", r.Body, tt.wantBody)
			}
			if tt.wantBody == "" && (h.Get("Content-Type") != "" || h.Get("Content-Length") != "") {
				t.Errorf("bodiless %s has Content-Type %q, Content-Length %q", r.Method, h.Get("Content-Type"), h.Get("Content-Length"))
			}
		})
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	c, _, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		writeJSON(w, 401, `{"errors":[{"message":"Not Authorized"}]}`)
	})
	_, err := c.GetWebhook(context.Background(), "1")
	if err == nil || strings.Contains(err.Error(), testToken) || strings.Contains(fmt.Sprintf("%+v", err), testToken) {
		t.Errorf("err = %v", err)
	}
	// A dead server: the transport error names the URL, never the header.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	sl := &sleepRecorder{}
	c = NewClient(testToken, WithBaseURL(dead.URL), WithSleep(sl.sleep), WithMaxRetries(1))
	_, err = c.ListWebhooks(context.Background(), "W", "")
	if err == nil || strings.Contains(err.Error(), testToken) || !strings.HasPrefix(err.Error(), "list webhooks: ") {
		t.Errorf("err = %v", err)
	}
	if len(sl.got()) != 1 {
		t.Errorf("waits = %v, want one retry", sl.got())
	}
}

func TestBadInput(t *testing.T) {
	c, srv, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		writeJSON(w, 500, `{}`)
	})
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"list without workspace", func() error { _, err := c.ListWebhooks(ctx, "", "R"); return err }, "list webhooks: workspace is required"},
		{"projects without workspace", func() error { _, err := c.Projects(ctx, " "); return err }, "list projects: workspace is required"},
		{"get empty gid", func() error { _, err := c.GetWebhook(ctx, ""); return err }, "get webhook: empty gid"},
		{"update empty gid", func() error { _, err := c.UpdateWebhook(ctx, "", nil); return err }, "update webhook: empty gid"},
		{"delete empty gid", func() error { return c.DeleteWebhook(ctx, "") }, "delete webhook: empty gid"},
		{"project empty gid", func() error { _, err := c.Project(ctx, ""); return err }, "project: empty gid"},
		{"create no target", func() error {
			_, err := c.CreateWebhook(ctx, CreateWebhookRequest{Resource: "R"})
			return err
		}, "create webhook: resource and target are required"},
		{"events no resource", func() error { _, err := c.Events(ctx, "", ""); return err }, "events: resource is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("bad input reached the server %d times", n)
	}
}

func TestGIDIsEscaped(t *testing.T) {
	c, _, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if got := r.URL.EscapedPath(); got != "/webhooks/..%2Fusers%2Fme" {
			writeJSON(w, 400, fmt.Sprintf(`{"errors":[{"message":%q}]}`, "path "+got))
			return
		}
		writeJSON(w, 404, `{"errors":[{"message":"Unknown object"}]}`)
	})
	_, err := c.GetWebhook(context.Background(), "../users/me")
	if !IsStatus(err, 404) {
		t.Fatalf("err = %v, want the 404 of an escaped gid", err)
	}
}

func TestSleepCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- sleepCtx(ctx, time.Hour) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sleepCtx ignored a cancelled context")
	}
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Errorf("short sleep: %v", err)
	}
}

func TestRetryStopsWhenContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c, srv, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		writeJSON(w, 503, `{"errors":[{"message":"Service Unavailable"}]}`)
	}, WithSleep(func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}))
	_, err := c.GetWebhook(ctx, "1")
	if !errors.Is(err, context.Canceled) || !IsStatus(err, 503) {
		t.Errorf("err = %v, want cancelled while waiting after a 503", err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestInvalidBaseURL(t *testing.T) {
	for _, base := range []string{"app.asana.com/api/1.0", "ftp://x/api", "http://", "://bad"} {
		t.Run(base, func(t *testing.T) {
			sl := &sleepRecorder{}
			c := NewClient(testToken, WithBaseURL(base), WithSleep(sl.sleep))
			_, err := c.CreateWebhook(context.Background(), CreateWebhookRequest{Resource: "P", Target: "https://t", Workspace: "W"})
			if err == nil || !strings.Contains(err.Error(), "invalid base URL") {
				t.Fatalf("err = %v, want an invalid base URL error", err)
			}
			var ue *CreateUncertainError
			if errors.As(err, &ue) {
				t.Errorf("a create never sent is not uncertain: %v", err)
			}
			if len(sl.got()) != 0 {
				t.Errorf("retried: %v", sl.got())
			}
		})
	}
}

// TestPermanentErrorsNotRetried: a request that can never be sent (an
// invalid header value, a certificate that does not verify) fails at once,
// without waits, while a hang-up is still retried (above).
func TestPermanentErrorsNotRetried(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"data":{"gid":"u1"}}`)
	}))
	t.Cleanup(tlsSrv.Close)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"data":{"gid":"u1"}}`)
	}))
	t.Cleanup(plain.Close)
	tests := []struct {
		name  string
		token string
		base  string
		want  string
	}{
		{name: "invalid header field value", token: "tok\nen", base: plain.URL, want: "invalid header field value"},
		{name: "certificate signed by unknown authority", token: "tok", base: tlsSrv.URL, want: "certificate"},
		{name: "https to a plain http server", token: "tok", base: "https://" + strings.TrimPrefix(plain.URL, "http://"), want: "HTTP response to HTTPS client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sl := &sleepRecorder{}
			c := NewClient(tt.token, WithBaseURL(tt.base), WithSleep(sl.sleep))
			_, err := c.Me(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Me: err = %v, want one containing %q", err, tt.want)
			}
			if got := sl.got(); len(got) != 0 {
				t.Errorf("waited %v before failing; want no retry", got)
			}
		})
	}
}

// TestCallTraceAttempts: a CallTrace sees each attempt of a create that a
// 429 made the client retry, and the wait between them lies outside both
// attempts; the lookups after an uncertain create are not traced.
func TestCallTraceAttempts(t *testing.T) {
	var events []string
	inFlight := false
	trace := &CallTrace{
		AttemptStart: func() { events = append(events, "start"); inFlight = true },
		AttemptDone: func(err error) {
			events = append(events, fmt.Sprintf("done(%v)", err != nil))
			inFlight = false
		},
	}
	c, srv, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "3")
			writeJSON(w, 429, `{"errors":[{"message":"rate limit"}]}`)
			return
		}
		writeJSON(w, 201, `{"data":`+webhookJSON("555", "P1", "https://ex.test/h")+`,"X-Hook-Secret":"b5c8e1d2a3f4"}`)
	}, WithSleep(func(_ context.Context, d time.Duration) error {
		events = append(events, fmt.Sprintf("sleep(%s, in flight %v)", d, inFlight))
		return nil
	}))
	if _, err := c.CreateWebhook(WithCallTrace(context.Background(), trace), CreateWebhookRequest{Resource: "P1", Target: "https://ex.test/h"}); err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	want := []string{"start", "done(false)", "sleep(3s, in flight false)", "start", "done(false)"}
	if diff := cmp.Diff(want, events); diff != "" || len(srv.requests()) != 2 {
		t.Errorf("trace (-want +got):\n%s\nrequests: %d, want 2", diff, len(srv.requests()))
	}

	t.Run("the lookups after an uncertain create are not traced", func(t *testing.T) {
		events = nil
		c, srv, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
			switch {
			case r.Method == http.MethodPost:
				writeJSON(w, 503, `{"errors":[{"message":"down"}]}`)
			case r.URL.Path == "/projects/P":
				writeJSON(w, 200, `{"data":{"gid":"P","resource_type":"project","workspace":{"gid":"W","resource_type":"workspace"}}}`)
			default:
				writeJSON(w, 200, `{"data":[],"next_page":null}`)
			}
		})
		_, err := c.CreateWebhook(WithCallTrace(context.Background(), trace), CreateWebhookRequest{Resource: "P", Target: "https://t"})
		var ue *CreateUncertainError
		if !errors.As(err, &ue) {
			t.Fatalf("err = %v, want CreateUncertainError", err)
		}
		if diff := cmp.Diff([]string{"start", "done(false)"}, events); diff != "" || len(srv.requests()) < 2 {
			t.Errorf("trace (-want +got):\n%s\nrequests: %d, want the POST and its lookups", diff, len(srv.requests()))
		}
	})
}
