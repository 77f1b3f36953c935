package webui

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/google/go-cmp/cmp"
)

func TestHostCheck(t *testing.T) {
	f := newFixture(t)
	port := f.srv.Listener.Addr().(*net.TCPAddr).Port
	tests := []struct {
		host string
		want int
	}{
		{fmt.Sprintf("127.0.0.1:%d", port), http.StatusOK},
		{fmt.Sprintf("localhost:%d", port), http.StatusOK},
		{fmt.Sprintf("LOCALHOST:%d", port), http.StatusOK},
		{fmt.Sprintf("[::1]:%d", port), http.StatusOK},
		{"127.0.0.1", http.StatusOK},
		{fmt.Sprintf("evil.example:%d", port), http.StatusForbidden},
		{"evil.example", http.StatusForbidden},
		{fmt.Sprintf("127.0.0.1.nip.io:%d", port), http.StatusForbidden},
		{fmt.Sprintf("localhost.evil.example:%d", port), http.StatusForbidden},
		{fmt.Sprintf("10.0.0.5:%d", port), http.StatusForbidden},
		{"127.0.0.1:http", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			res, _ := f.do(http.MethodGet, "/events", nil, http.Header{"Host": {tt.host}})
			if res.StatusCode != tt.want {
				t.Errorf("GET /events with Host %q: status %d, want %d", tt.host, res.StatusCode, tt.want)
			}
		})
	}
	// An empty or missing Host cannot be sent with net/http's client: write
	// the requests by hand.
	raw := map[string]string{
		"empty Host":         "GET /webhooks HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n",
		"HTTP/1.0 no Host":   "GET /webhooks HTTP/1.0\r\n\r\n",
		"empty Host on POST": "POST /webhooks/delete-all HTTP/1.1\r\nHost: \r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	}
	for name, req := range raw {
		t.Run(name, func(t *testing.T) {
			before := f.snapshot()
			conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatalf("write: %v", err)
			}
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", res.StatusCode)
			}
			if diff := cmp.Diff(before, f.snapshot()); diff != "" {
				t.Errorf("state changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestIsLoopbackHost(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1:8091": true, "localhost:8091": true, "[::1]:8091": true, "[::1]": true, "localhost": true,
		"127.0.0.2:1": true, "localhost.:8091": true,
		"": false, ":8091": false, "::1": false, "evil.example:8091": false, "[::ffff:10.0.0.1]:80": false,
		"127.0.0.1:": false, "127.0.0.1:99999x": false, "0.0.0.0:8091": false, "[::1:80": false,
	}
	for host, want := range tests {
		t.Run(host, func(t *testing.T) {
			if got := IsLoopbackHost(host); got != want {
				t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
			}
		})
	}
}

func TestAllowedHosts(t *testing.T) {
	f := newFixture(t)
	ui, err := New(Config{Reader: f.store, Actions: f.actions, Feed: f.feed, AllowedHosts: []string{"192.168.1.9:8091"}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for host, want := range map[string]int{"192.168.1.9:8091": 200, "192.168.1.9:8092": 403, "127.0.0.1:8091": 200} {
		t.Run(host, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/events", nil)
			req.Host = host
			rec := httptest.NewRecorder()
			ui.Handler().ServeHTTP(rec, req)
			if rec.Code != want {
				t.Errorf("Host %s: status %d, want %d", host, rec.Code, want)
			}
		})
	}
}

func TestLegacyRedirects(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	srv := httptest.NewServer(LegacyRedirects("http://127.0.0.1:8091/", next))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	loop := fmt.Sprintf("127.0.0.1:%d", port)
	tests := []struct {
		name, method, path, host string
		header                   http.Header
		want                     int
		location                 string
	}{
		{"all_webhooks", "GET", "/all_webhooks", loop, nil, 303, "http://127.0.0.1:8091/webhooks"},
		{"create_webhook", "GET", "/create_webhook", loop, nil, 303, "http://127.0.0.1:8091/create"},
		{"remove_all_webhooks", "GET", "/remove_all_webhooks", loop, nil, 303, "http://127.0.0.1:8091/webhooks/delete-all"},
		{"localhost", "GET", "/all_webhooks", fmt.Sprintf("localhost:%d", port), nil, 303, "http://127.0.0.1:8091/webhooks"},
		{"ipv6 loopback", "GET", "/all_webhooks", fmt.Sprintf("[::1]:%d", port), nil, 303, "http://127.0.0.1:8091/webhooks"},
		{"HEAD", "HEAD", "/create_webhook", loop, nil, 303, "http://127.0.0.1:8091/create"},
		{"foreign host", "GET", "/all_webhooks", "abc.ngrok-free.app", nil, 404, ""},
		{"foreign host remove", "GET", "/remove_all_webhooks", "evil.example:443", nil, 404, ""},
		{"X-Forwarded-For", "GET", "/all_webhooks", loop, http.Header{"X-Forwarded-For": {"203.0.113.9"}}, 404, ""},
		{"X-Forwarded-Host", "GET", "/create_webhook", loop, http.Header{"X-Forwarded-Host": {"abc.ngrok-free.app"}}, 404, ""},
		{"X-Forwarded-Proto", "GET", "/remove_all_webhooks", loop, http.Header{"X-Forwarded-Proto": {"https"}}, 404, ""},
		{"Forwarded", "GET", "/all_webhooks", loop, http.Header{"Forwarded": {"for=203.0.113.9;host=abc.ngrok-free.app"}}, 404, ""},
		{"X-Real-Ip", "GET", "/all_webhooks", loop, http.Header{"X-Real-Ip": {"203.0.113.9"}}, 404, ""},
		{"POST", "POST", "/remove_all_webhooks", loop, nil, 404, ""},
		{"other path goes on", "GET", "/hooks/abc", loop, nil, http.StatusTeapot, ""},
		{"UI path is not served here", "GET", "/webhooks", loop, nil, http.StatusTeapot, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			res, err := noRedirect().Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Errorf("status %d, want %d", res.StatusCode, tt.want)
			}
			if got := res.Header.Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
		})
	}
}

func TestCrossSitePostRefused(t *testing.T) {
	f := newFixture(t)
	createForm := url.Values{"project": {"1200"}, "kind": {"project"}}
	tests := []struct {
		name, path string
		form       url.Values
		header     http.Header
	}{
		{"delete, Sec-Fetch-Site cross-site", "/webhooks/" + f.hook.ID + "/delete", url.Values{}, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"delete, Sec-Fetch-Site same-site", "/webhooks/" + f.hook.ID + "/delete", url.Values{}, http.Header{"Sec-Fetch-Site": {"same-site"}}},
		{"delete all, foreign Origin", "/webhooks/delete-all", url.Values{}, http.Header{"Origin": {"http://evil.example"}}},
		{"delete all, Sec-Fetch-Site cross-site", "/webhooks/delete-all", url.Values{}, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"create, foreign Origin", "/create", createForm, http.Header{"Origin": {"https://evil.example"}}},
		{"create, rebinding-style Origin", "/create", createForm, http.Header{"Origin": {"http://127.0.0.1.evil.example:1"}}},
		{"create, Sec-Fetch-Site cross-site", "/create", createForm, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.snapshot()
			res, _ := f.do(http.MethodPost, tt.path, tt.form, tt.header)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", res.StatusCode)
			}
			if diff := cmp.Diff(before, f.snapshot()); diff != "" {
				t.Errorf("state changed (-before +after):\n%s", diff)
			}
		})
	}
	// The same POST from the UI's own pages goes through.
	t.Run("same-origin delete works", func(t *testing.T) {
		res, _ := f.do(http.MethodPost, "/webhooks/"+f.hook.ID+"/delete", url.Values{},
			http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {f.srv.URL}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d, want 303", res.StatusCode)
		}
		h, err := f.store.GetHook(f.ctx, f.hook.ID)
		if err != nil {
			t.Fatal(err)
		}
		if h.State != inspector.HookDeleted {
			t.Errorf("hook state %s, want deleted", h.State)
		}
	})
}

// routes lists every route with a path that exercises it.
func routes(f *fixture) []string {
	return []string{
		"/", "/webhooks", "/webhooks?done=deleted&n=3", "/webhooks/delete-all", "/webhooks/" + f.hook.ID + "/delete",
		"/webhooks/" + strings.Repeat("0", 32) + "/delete", "/webhooks/not-a-hook/delete",
		"/create", "/create/jobs/unknown", "/events", "/events?hook=" + f.hook.ID + "&type=task&action=changed&field=name&gid=9001",
		"/deliveries/1", "/deliveries/2", "/deliveries/999", "/deliveries/x",
		"/static/app.css", "/static/app.js", "/static/missing", "/nowhere", "/all_webhooks", "/remove_all_webhooks",
	}
}

func TestGetChangesNothing(t *testing.T) {
	f := newFixture(t)
	before := f.snapshot()
	for _, path := range routes(f) {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			t.Run(method+" "+path, func(t *testing.T) {
				res, _ := f.do(method, path, nil, nil)
				if res.StatusCode >= 500 {
					t.Errorf("status %d", res.StatusCode)
				}
			})
		}
	}
	if diff := cmp.Diff(before, f.snapshot()); diff != "" {
		t.Errorf("GET or HEAD changed the state (-before +after):\n%s", diff)
	}
}

func TestPagesShowWhatTheyShould(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		path   string
		status int
		want   []string
		absent []string
	}{
		{"/webhooks", 200, []string{"Launch plan", "ours", "healthy", "Someone else&#39;s", "not ours", "failing",
			"500 Server Error", "Asana will delete it at", `data-refresh="webhooks-region"`, "Delete all ours"}, nil},
		{"/events", 200, []string{`id="feed"`, "heartbeat", "9001", "9002", "seen before", `data-after="3"`}, nil},
		{"/events?type=task&field=completed", 200, []string{"9002"}, []string{`id="d1"`, `id="d3"`}},
		{"/events?gid=111", 200, []string{`id="d2"`, `id="d3"`}, []string{`id="d1"`}},
		{"/deliveries/2", 200, []string{"Delivery #2", "verified", "&#34;events&#34;: [", "X-Hook-Signature", inspector.Redacted, "First received"}, nil},
		{"/deliveries/3", 200, []string{"Seen before: first in", "/deliveries/2"}, nil},
		{"/create", 200, []string{"Launch plan (1200)", `<label for="gid">`, "resource-types"}, []string{"Old (1300)"}},
		{"/webhooks/" + f.hook.ID + "/delete", 200, []string{"Yes, delete", `method="post"`, "Launch plan"}, nil},
		{"/webhooks/delete-all", 200, []string{"Yes, delete", `action="/webhooks/delete-all"`}, nil},
		{"/deliveries/999", 404, []string{"There is no such delivery."}, nil},
		{"/nowhere", 404, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := f.do(http.MethodGet, tt.path, nil, nil)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(body, a) {
					t.Errorf("page has %q", a)
				}
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}

// TestCanariesNeverShown fetches every page and reads the feed with a hook
// secret, a signature and a token in the store and the actions, and finds
// none of them.
func TestCanariesNeverShown(t *testing.T) {
	f := newFixture(t)
	check := func(t *testing.T, where, s string) {
		t.Helper()
		for _, c := range []string{canarySecret, canaryToken, canarySig} {
			if strings.Contains(s, c) {
				t.Errorf("%s contains the canary %q", where, c)
			}
		}
	}
	paths := routes(f)
	// A create job page and its error page too.
	f.actions.createErr = &asana.APIError{StatusCode: 403, Errors: []asana.ErrorDetail{{Message: "Duplicated webhook."}}}
	res, _ := f.do(http.MethodPost, "/create", url.Values{"project": {"1200"}, "kind": {"project"}}, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /create: status %d, want 303", res.StatusCode)
	}
	paths = append(paths, res.Header.Get("Location"))
	for _, p := range paths {
		_, body := f.do(http.MethodGet, p, nil, nil)
		check(t, "GET "+p, body)
	}

	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/events/stream?after=0", nil)
	sres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	defer sres.Body.Close()
	events := readSSE(sres.Body)
	f.record([]json.RawMessage{taskEvent("9003", "notes")})
	seen := 0
	for seen < len(f.deliveries) {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("stream ended after %d events", seen)
			}
			check(t, "feed message "+ev.ID, ev.Data)
			seen++
		case <-ctx.Done():
			t.Fatalf("got %d of %d feed messages", seen, len(f.deliveries))
		}
	}
}

func TestStreamSendsNewDeliveries(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	last := f.deliveries[len(f.deliveries)-1]
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/events/stream?after=%d", f.srv.URL, last), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := readSSE(res.Body)
	// Subscribed once the handler has started; wait for it so the
	// notification is not published before anyone listens (the catch-up
	// would still find it, but this checks the live path).
	deadline := time.Now().Add(20 * time.Second)
	for f.feed.Subscribers() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	rec := f.record([]json.RawMessage{taskEvent("9004", "due_on")})
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("stream ended")
		}
		if ev.Event != "delivery" || ev.ID != fmt.Sprint(rec.Delivery.ID) {
			t.Fatalf("event %+v, want delivery %d", ev, rec.Delivery.ID)
		}
		var msg feedMessage
		if err := json.Unmarshal([]byte(ev.Data), &msg); err != nil {
			t.Fatalf("data: %v", err)
		}
		for _, w := range []string{`data-fields="due_on"`, "9004", `href="/deliveries/`, "<time datetime="} {
			if !strings.Contains(msg.HTML, w) {
				t.Errorf("row lacks %q:\n%s", w, msg.HTML)
			}
		}
		if msg.HookID != f.hook.ID || msg.Kind != "events" {
			t.Errorf("message %+v", msg)
		}
	case <-ctx.Done():
		t.Fatal("no event within 30 s")
	}
	cancel()
	deadline = time.Now().Add(20 * time.Second)
	for f.feed.Subscribers() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := f.feed.Subscribers(); n != 0 {
		t.Errorf("%d subscribers after the client left", n)
	}
}

func TestCreateFlow(t *testing.T) {
	f := newFixture(t)
	f.actions.block = make(chan struct{})
	res, _ := f.do(http.MethodPost, "/create", url.Values{"gid": {"4242"}, "kind": {"project"},
		"rt0": {"task"}, "action0": {"changed"}, "fields0": {"name, due_on"}}, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /create: status %d, want 303", res.StatusCode)
	}
	job := res.Header.Get("Location")
	if !strings.HasPrefix(job, "/create/jobs/") {
		t.Fatalf("Location %q", job)
	}
	_, body := f.do(http.MethodGet, job, nil, nil)
	for _, w := range []string{"handshake received", "Waiting for Asana", `data-refresh="job-region"`, "task:changed:name,due_on"} {
		if !strings.Contains(body, w) {
			t.Errorf("running job page lacks %q", w)
		}
	}
	close(f.actions.block)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(body, `id="job-done"`) {
		if time.Now().After(deadline) {
			t.Fatalf("job not done:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
		_, body = f.do(http.MethodGet, job, nil, nil)
	}
	if strings.Contains(body, "data-refresh") {
		t.Error("a finished job page still refreshes")
	}
	if got := f.actions.mutations(); !cmp.Equal(got, []string{"create 4242"}) {
		t.Errorf("mutations %v", got)
	}
}

func TestCreateErrorInWords(t *testing.T) {
	f := newFixture(t)
	f.actions.createErr = &inspector.CreateError{Err: &asana.APIError{StatusCode: 400, Errors: []asana.ErrorDetail{{
		Message: "Webhooks for larger scoped resources must have at least one filter", Error: "invalid_filters_for_larger_scoped_webhooks"}}}}
	res, _ := f.do(http.MethodPost, "/create", url.Values{"gid": {"4242"}, "kind": {"other"}}, nil)
	job := res.Header.Get("Location")
	deadline := time.Now().Add(30 * time.Second)
	_, body := f.do(http.MethodGet, job, nil, nil)
	for !strings.Contains(body, `id="job-error"`) {
		if time.Now().After(deadline) {
			t.Fatalf("job not failed:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
		_, body = f.do(http.MethodGet, job, nil, nil)
	}
	for _, w := range []string{"Asana answered 400 Bad Request", "larger scoped resources", "need filters"} {
		if !strings.Contains(body, w) {
			t.Errorf("error page lacks %q", w)
		}
	}
}

func TestCreateFormRejectsBadInput(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"nothing", url.Values{"kind": {"project"}}, "Pick a project or paste the gid"},
		{"not a gid", url.Values{"gid": {"12ab"}, "kind": {"project"}}, "is not a gid"},
		{"both", url.Values{"gid": {"77"}, "project": {"1200"}, "kind": {"project"}}, "not both"},
		{"fields without changed", url.Values{"gid": {"77"}, "kind": {"project"}, "rt0": {"task"}, "action0": {"added"}, "fields0": {"name"}}, "only allowed with the action changed"},
		{"workspace without filters", url.Values{"gid": {"77"}, "kind": {"workspace"}}, "needs at least one filter"},
		{"workspace task filter", url.Values{"gid": {"77"}, "kind": {"workspace"}, "rt0": {"task"}, "action0": {"added"}}, "accepts only filters on project"},
		{"team fields", url.Values{"gid": {"77"}, "kind": {"team"}, "rt0": {"project"}, "action0": {"changed"}, "fields0": {"name"}}, "does not support fields"},
		{"unknown action", url.Values{"gid": {"77"}, "kind": {"project"}, "rt0": {"task"}, "action0": {"exploded"}}, "unknown action"},
		{"unknown kind", url.Values{"gid": {"77"}, "kind": {"galaxy"}}, "Say what kind"},
		{"markup in type", url.Values{"gid": {"77"}, "kind": {"project"}, "rt0": {"<script>"}}, "&lt;script&gt;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.snapshot()
			res, body := f.do(http.MethodPost, "/create", tt.form, nil)
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", res.StatusCode)
			}
			if !strings.Contains(body, tt.want) {
				t.Errorf("page lacks %q", tt.want)
			}
			if strings.Contains(body, "<script>") {
				t.Error("input echoed unescaped")
			}
			if diff := cmp.Diff(before, f.snapshot()); diff != "" {
				t.Errorf("state changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestDeleteAll(t *testing.T) {
	f := newFixture(t)
	res, _ := f.do(http.MethodPost, "/webhooks/delete-all", url.Values{}, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/webhooks?done=deleted-all&n=1" {
		t.Fatalf("status %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, body := f.do(http.MethodGet, "/webhooks?done=deleted-all&n=1", nil, nil)
	if !strings.Contains(body, "Our webhooks were deleted. (1)") {
		t.Error("no confirmation message")
	}
	res, _ = f.do(http.MethodPost, "/webhooks/"+f.hook.ID+"/delete", url.Values{}, nil)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("deleting a deleted hook: status %d, want 404", res.StatusCode)
	}
}

func TestValidateFilters(t *testing.T) {
	tests := []struct {
		name    string
		kind    string
		filters []asana.Filter
		want    int
	}{
		{"project, none", "project", nil, 0},
		{"project, task changed fields", "project", []asana.Filter{{ResourceType: "task", Action: "changed", Fields: []string{"name"}}}, 0},
		{"unknown kind, any filter", "", []asana.Filter{{ResourceType: "story", Action: "added"}}, 0},
		{"workspace, none", "workspace", nil, 1},
		{"workspace, project added", "workspace", []asana.Filter{{ResourceType: "project", Action: "added"}}, 0},
		{"team, team_membership removed", "team", []asana.Filter{{ResourceType: "team_membership", Action: "removed"}}, 0},
		{"portfolio, workspace_membership changed", "portfolio", []asana.Filter{{ResourceType: "workspace_membership", Action: "changed"}}, 1},
		{"portfolio, project without action", "portfolio", []asana.Filter{{ResourceType: "project"}}, 1},
		{"workspace, project_status", "workspace", []asana.Filter{{ResourceType: "project_status", Action: "added"}}, 1},
		{"empty filter", "project", []asana.Filter{{}}, 1},
		{"bad field name", "project", []asana.Filter{{ResourceType: "task", Action: "changed", Fields: []string{"Name!"}}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidateFilters(tt.kind, tt.filters)
			if len(got) != tt.want {
				t.Errorf("ValidateFilters = %v, want %d problem(s)", got, tt.want)
			}
		})
	}
}

func TestWebhookHealth(t *testing.T) {
	now := base.Add(10 * time.Hour)
	ok := asana.Webhook{Active: true, CreatedAt: asana.TimePtr(base), LastSuccessAt: asana.TimePtr(base.Add(time.Second))}
	hook := &inspector.Hook{CreatedAt: base, LastHeartbeatAt: base.Add(9 * time.Hour)}
	with := func(f func(*asana.Webhook)) asana.Webhook { w := ok; f(&w); return w }
	tests := []struct {
		name string
		w    asana.Webhook
		hook *inspector.Hook
		want HealthLevel
	}{
		{"fresh", ok, hook, HealthHealthy},
		{"foreign, fresh", ok, nil, HealthHealthy},
		{"inactive", with(func(w *asana.Webhook) { w.Active = false }), hook, HealthFailing},
		{"last delivery failed", with(func(w *asana.Webhook) { w.LastFailureAt = asana.TimePtr(base.Add(time.Hour)) }), hook, HealthFailing},
		{"recovered", with(func(w *asana.Webhook) {
			w.LastFailureAt = asana.TimePtr(base.Add(time.Hour))
			w.LastSuccessAt = asana.TimePtr(base.Add(2 * time.Hour))
		}), hook, HealthHealthy},
		{"retrying", with(func(w *asana.Webhook) { w.DeliveryRetryCount = 2 }), hook, HealthWarning},
		{"deletion planned", with(func(w *asana.Webhook) { w.FailureDeletionTimestamp = asana.TimePtr(base.Add(20 * time.Hour)) }), hook, HealthFailing},
		{"no heartbeat for 9 h", ok, &inspector.Hook{CreatedAt: base, LastHeartbeatAt: base.Add(time.Hour)}, HealthWarning},
		{"never a heartbeat, 10 h old", ok, &inspector.Hook{CreatedAt: base}, HealthWarning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := WebhookHealth(tt.w, tt.hook, now, DefaultHeartbeatWarning)
			if got.Level != tt.want {
				t.Errorf("level %s (%v), want %s", got.Level, got.Reasons, tt.want)
			}
		})
	}
}

func TestBroadcasterNeverBlocks(t *testing.T) {
	b := NewBroadcaster()
	ch, cancel := b.Subscribe()
	for i := range subscriberBuffer * 3 {
		b.Publish(Notification{DeliveryID: int64(i)})
	}
	if got := len(ch); got != subscriberBuffer {
		t.Errorf("buffered %d, want %d", got, subscriberBuffer)
	}
	cancel()
	cancel()
	if b.Subscribers() != 0 {
		t.Error("subscription not ended")
	}
	b.Publish(Notification{DeliveryID: 1})
}

func TestNewNeedsItsParts(t *testing.T) {
	_, err := New(Config{})
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("New(Config{}) = %v, want an error", err)
	}
}

func TestStreamOutlivesServerTimeouts(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewUnstartedServer(f.ui.Handler())
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Config.WriteTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/events/stream?after=%d", srv.URL, f.deliveries[len(f.deliveries)-1]), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	defer res.Body.Close()
	events := readSSE(res.Body)
	// Let both timeouts pass on purpose: the stream must still deliver.
	time.Sleep(time.Second)
	rec := f.record([]json.RawMessage{taskEvent("9005", "notes")})
	select {
	case ev, ok := <-events:
		if !ok || ev.ID != fmt.Sprint(rec.Delivery.ID) {
			t.Fatalf("event %+v (open %v), want delivery %d", ev, ok, rec.Delivery.ID)
		}
	case <-ctx.Done():
		t.Fatal("no event within 30 s")
	}
}

func TestCloseStreamsLetsShutdownFinish(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewUnstartedServer(f.ui.Handler())
	srv.Config.RegisterOnShutdown(f.ui.CloseStreams)
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events/stream", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	defer res.Body.Close()
	events := readSSE(res.Body)
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an open stream: %v", err)
	}
	for range events {
	}
	res2, _ := f.do(http.MethodGet, "/events/stream", nil, nil)
	if res2.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a stream after CloseStreams: status %d, want 503", res2.StatusCode)
	}
}

func TestCloseCancelsRunningCreates(t *testing.T) {
	f := newFixture(t)
	f.actions.block = make(chan struct{}) // never closed: only cancellation ends the create
	res, _ := f.do(http.MethodPost, "/create", url.Values{"gid": {"4242"}, "kind": {"project"}}, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /create: status %d, want 303", res.StatusCode)
	}
	job := res.Header.Get("Location")
	closed := make(chan struct{})
	go func() {
		f.ui.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return: the running create was not cancelled")
	}
	_, body := f.do(http.MethodGet, job, nil, nil)
	if !strings.Contains(body, `id="job-error"`) {
		t.Errorf("the cancelled create does not show its error:\n%s", body)
	}
	before := f.snapshot()
	res, _ = f.do(http.MethodPost, "/create", url.Values{"gid": {"4243"}, "kind": {"project"}}, nil)
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a create after Close: status %d, want 503", res.StatusCode)
	}
	if diff := cmp.Diff(before, f.snapshot()); diff != "" {
		t.Errorf("state changed (-before +after):\n%s", diff)
	}
}

// TestFormControlsHaveLabels checks that every input and select of every page
// has a label (screen readers and keyboard users need one).
func TestFormControlsHaveLabels(t *testing.T) {
	f := newFixture(t)
	control := regexp.MustCompile(`<(input|select)\b[^>]*>`)
	idAttr := regexp.MustCompile(`\bid="([^"]+)"`)
	for _, p := range []string{"/webhooks", "/create", "/events", "/deliveries/2", "/webhooks/delete-all", "/webhooks/" + f.hook.ID + "/delete"} {
		t.Run(p, func(t *testing.T) {
			_, body := f.do(http.MethodGet, p, nil, nil)
			controls := control.FindAllString(body, -1)
			if (p == "/create" || p == "/events") && len(controls) < 5 {
				t.Fatalf("found %d controls on %s; the pattern is broken", len(controls), p)
			}
			for _, c := range controls {
				if strings.Contains(c, `type="hidden"`) || strings.Contains(c, "aria-label=") {
					continue
				}
				m := idAttr.FindStringSubmatch(c)
				if m == nil {
					t.Errorf("control without an id: %s", c)
					continue
				}
				if !strings.Contains(body, `<label for="`+m[1]+`"`) {
					t.Errorf("control %q has no label", m[1])
				}
			}
		})
	}
}

// TestStreamSendsOtherProcessesDeliveries: a delivery stored by another
// process sharing the store (no notification reaches this one) still reaches
// the stream, by its reading the store every PollInterval.
func TestStreamSendsOtherProcessesDeliveries(t *testing.T) {
	f := newFixture(t)
	f.ui.cfg.PollInterval = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	last := f.deliveries[len(f.deliveries)-1]
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/events/stream?after=%d", f.srv.URL, last), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	defer res.Body.Close()
	events := readSSE(res.Body)
	body := []byte(`{"events":[` + string(taskEvent("9005", "name")) + `]}`)
	parsed := inspector.ParseDeliveryBody(body)
	rec, err := f.store.RecordDelivery(f.ctx, inspector.Delivery{HookID: f.hook.ID, Body: body, Kind: parsed.Kind}, parsed.Events)
	if err != nil {
		t.Fatal(err)
	}
	// Not f.record: the feed is not told, as another process's would not be.
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("stream ended")
		}
		if ev.Event != "delivery" || ev.ID != fmt.Sprint(rec.Delivery.ID) {
			t.Fatalf("event %+v, want delivery %d", ev, rec.Delivery.ID)
		}
	case <-ctx.Done():
		t.Fatal("the delivery stored by another process did not reach the stream within 30 s")
	}
}

// fakeForwarder answers replays with status, and records them.
type fakeForwarder struct {
	mu      sync.Mutex
	status  int
	err     error
	replays []int64
}

func (f *fakeForwarder) ForwardURL() string { return "http://localhost:3000/asana/webhook" }
func (f *fakeForwarder) Replay(_ context.Context, id int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replays = append(f.replays, id)
	return f.status, f.err
}

// TestReplayButton: with a forwarder, a delivery's page offers to send it to
// the app again, and says how the app answered; without one, neither the
// button nor the route exists.
func TestReplayButton(t *testing.T) {
	f := newFixture(t)
	id := f.deliveries[0]
	page := fmt.Sprintf("/deliveries/%d", id)
	if _, body := f.do(http.MethodGet, page, nil, nil); strings.Contains(body, `id="replay"`) {
		t.Error("a replay button without a forwarder")
	}
	if res, _ := f.do(http.MethodPost, page+"/replay", url.Values{}, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("POST replay without a forwarder: %d, want 404", res.StatusCode)
	}

	if _, body := f.do(http.MethodGet, "/events", nil, nil); strings.Contains(body, `id="forwarding"`) {
		t.Error("the Events page says it forwards without a forwarder")
	}
	fw := &fakeForwarder{status: http.StatusNoContent}
	f.ui.cfg.Forwarder = fw
	if _, body := f.do(http.MethodGet, "/events", nil, nil); !strings.Contains(body, `id="forwarding"`) ||
		!strings.Contains(body, "http://localhost:3000/asana/webhook") {
		t.Error("the Events page does not say where deliveries are forwarded")
	}
	_, body := f.do(http.MethodGet, page, nil, nil)
	for _, want := range []string{`id="replay"`, "http://localhost:3000/asana/webhook", `action="` + page + `/replay"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	tests := []struct {
		status int
		err    error
		want   string
	}{
		{http.StatusNoContent, nil, "your app answered 204 No Content"},
		{http.StatusUnauthorized, nil, "your app refused it, 401 Unauthorized"},
		{0, errors.New("connection refused"), "your app did not answer"},
	}
	for _, tt := range tests {
		fw.mu.Lock()
		fw.status, fw.err = tt.status, tt.err
		fw.mu.Unlock()
		res, _ := f.do(http.MethodPost, page+"/replay", url.Values{}, nil)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST replay: %d, want 303", res.StatusCode)
		}
		_, body := f.do(http.MethodGet, res.Header.Get("Location"), nil, nil)
		if !strings.Contains(body, tt.want) {
			t.Errorf("after a replay answered %d (%v), the page lacks %q", tt.status, tt.err, tt.want)
		}
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if len(fw.replays) != 3 || fw.replays[0] != id {
		t.Errorf("replays %v, want delivery %d three times", fw.replays, id)
	}
}
