package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/webui"
)

// uiCanaryToken is the emulator's token in the web UI tests; it must appear
// in no page and no feed message.
const uiCanaryToken = "canary-ui-token-4d5e6f708192a3b4"

func noRedirectClient() *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get fetches u with extra headers (a "Host" entry sets the Host).
func get(t *testing.T, method, u string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		if k == "Host" {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	res, err := noRedirectClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	return res, string(b)
}

// TestWebUI runs a real inspector with its web UI against the emulator: the
// original paths on the public port redirect only a local browser, the UI
// refuses foreign Hosts and cross-site POSTs, deletes through the adapter,
// and shows neither the webhook's secret nor the token anywhere.
func TestWebUI(t *testing.T) {
	srv := emulatortest.New(t, emulatortest.WithTokens(uiCanaryToken))
	project := srv.ProjectGID()
	h := start(t, Config{Client: newClient(srv, uiCanaryToken), Resources: []string{project}, DBPath: dbPath(t), UI: true})
	ui := h.in.UIURL()
	if !strings.HasPrefix(ui, "http://127.0.0.1:") || ui == "http://"+h.in.Addr() {
		t.Fatalf("UI URL %q (receiver %s)", ui, h.in.Addr())
	}
	if !strings.Contains(h.stderr.String()+h.stdout.String(), "web UI on "+ui) {
		t.Errorf("the UI URL is not printed:\n%s", h.stderr.String())
	}
	hook := runHooks(t, h.in)[0]
	st := h.in.Store()
	secret, err := st.Secret(context.Background(), hook.ID)
	if err != nil {
		t.Fatalf("Secret: %v", err)
	}
	waitFor(t, "the initial heartbeat", func() bool { return hasHeartbeat(t, st, hook.ID) })
	if _, err := srv.CreateTask(uiCanaryToken, project, "Look at me"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task's events", func() bool { return len(eventsOf(t, st, hook.ID)) > 0 })

	public := "http://" + h.in.Addr()
	t.Run("legacy paths on the public port", func(t *testing.T) {
		tests := []struct {
			name, path string
			header     http.Header
			want       int
			location   string
		}{
			{"local browser", "/all_webhooks", nil, http.StatusSeeOther, ui + "/webhooks"},
			{"create", "/create_webhook", nil, http.StatusSeeOther, ui + "/create"},
			{"remove all", "/remove_all_webhooks", nil, http.StatusSeeOther, ui + "/webhooks/delete-all"},
			{"through a tunnel", "/all_webhooks", http.Header{"X-Forwarded-For": {"203.0.113.7"}}, http.StatusNotFound, ""},
			{"tunnel host", "/remove_all_webhooks", http.Header{"Host": {"abc.ngrok-free.app"}}, http.StatusNotFound, ""},
			{"Forwarded", "/create_webhook", http.Header{"Forwarded": {"for=203.0.113.7"}}, http.StatusNotFound, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, _ := get(t, http.MethodGet, public+tt.path, tt.header)
				if res.StatusCode != tt.want || res.Header.Get("Location") != tt.location {
					t.Errorf("status %d, Location %q; want %d, %q", res.StatusCode, res.Header.Get("Location"), tt.want, tt.location)
				}
			})
		}
	})

	t.Run("UI refuses a foreign Host", func(t *testing.T) {
		res, _ := get(t, http.MethodGet, ui+"/webhooks", http.Header{"Host": {"rebind.example:" + port(t, ui)}})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("status %d, want 403", res.StatusCode)
		}
	})

	t.Run("no secret or token in any page or feed message", func(t *testing.T) {
		ds, err := st.ListDeliveries(context.Background(), inspector.DeliveryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		paths := []string{"/webhooks", "/events", "/create", "/webhooks/delete-all", "/webhooks/" + hook.ID + "/delete"}
		for _, d := range ds {
			paths = append(paths, fmt.Sprintf("/deliveries/%d", d.ID))
		}
		for _, p := range paths {
			res, body := get(t, http.MethodGet, ui+p, nil)
			if res.StatusCode != http.StatusOK {
				t.Errorf("GET %s: status %d", p, res.StatusCode)
			}
			if strings.Contains(body, secret.Reveal()) || strings.Contains(body, uiCanaryToken) {
				t.Errorf("GET %s shows a secret", p)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ui+"/events/stream?after=0", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("open the feed: %v", err)
		}
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		got := 0
		for got < len(ds) && sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, secret.Reveal()) || strings.Contains(line, uiCanaryToken) {
				t.Errorf("feed line shows a secret")
			}
			if strings.HasPrefix(line, "event: delivery") {
				got++
			}
		}
		if got != len(ds) {
			t.Errorf("read %d feed messages, want %d (%v)", got, len(ds), sc.Err())
		}
	})

	deletePath := ui + "/webhooks/" + hook.ID + "/delete"
	post := func(t *testing.T, header http.Header) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, deletePath, strings.NewReader(url.Values{}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, vs := range header {
			req.Header[k] = vs
		}
		res, err := noRedirectClient().Do(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	t.Run("cross-site delete is refused", func(t *testing.T) {
		if code := post(t, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}); code != http.StatusForbidden {
			t.Errorf("status %d, want 403", code)
		}
		if !slices.Contains(srv.WebhookGIDs(), hook.WebhookGID) {
			t.Error("the webhook was deleted")
		}
	})
	t.Run("delete from the UI", func(t *testing.T) {
		if code := post(t, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {ui}}); code != http.StatusSeeOther {
			t.Fatalf("status %d, want 303", code)
		}
		if slices.Contains(srv.WebhookGIDs(), hook.WebhookGID) {
			t.Error("the webhook is still in the emulator")
		}
		got, err := st.GetHook(context.Background(), hook.ID)
		if err != nil || got.State != inspector.HookDeleted {
			t.Errorf("hook %+v, %v; want deleted", got, err)
		}
	})
}

func port(t *testing.T, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return pu.Port()
}

func TestUIListenAddr(t *testing.T) {
	recv := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8090}
	tests := []struct {
		name, uiListen, listen string
		want                   string
		wantErr                bool
	}{
		{"default: port + 1", "", "127.0.0.1:8090", "127.0.0.1:8091", false},
		{"free port for a free receiver port", "", "127.0.0.1:0", "127.0.0.1:0", false},
		{"explicit", "127.0.0.1:9999", "127.0.0.1:8090", "127.0.0.1:9999", false},
		{"explicit without port", "127.0.0.1", "127.0.0.1:8090", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UIListenAddr(tt.uiListen, tt.listen, recv)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("UIListenAddr = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestUIRemoteNeedsTheFlag(t *testing.T) {
	srv := emulatortest.New(t)
	in, err := New(Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: dbPath(t),
		Listen: "127.0.0.1:0", UI: true, UIListen: "0.0.0.0:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	err = in.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--ui-allow-remote") {
		t.Fatalf("Start = %v, want an error naming --ui-allow-remote", err)
	}
	if got := srv.WebhookGIDs(); len(got) != 0 {
		t.Errorf("webhooks created before the refusal: %v", got)
	}
}

func TestUICreateChecksTheResource(t *testing.T) {
	srv := emulatortest.New(t)
	h := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: dbPath(t), UI: true})
	a := h.in.ui.actions
	before := srv.WebhookGIDs()
	tests := []struct {
		name string
		req  webui.CreateRequest
		want string
	}{
		{"workspace gid said to be a project", webui.CreateRequest{ResourceGID: srv.WorkspaceGID(), ResourceType: "project"}, "is the workspace"},
		{"unknown project", webui.CreateRequest{ResourceGID: "1999999999999999", ResourceType: "project"}, "is not a project this token can see"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Create(context.Background(), tt.req, func(string) {})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Create = %v, want an error with %q", err, tt.want)
			}
			if got := srv.WebhookGIDs(); !slices.Equal(got, before) {
				t.Errorf("webhooks %v, want %v", got, before)
			}
		})
	}
	t.Run("a project by gid", func(t *testing.T) {
		var steps []string
		res, err := a.Create(context.Background(), webui.CreateRequest{ResourceGID: srv.ProjectGID()}, func(s string) { steps = append(steps, s) })
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if res.Resource.ResourceType != "project" || res.Resource.Name == "" || !slices.Contains(srv.WebhookGIDs(), res.WebhookGID) {
			t.Errorf("result %+v", res)
		}
		if len(steps) < 3 || !strings.Contains(strings.Join(steps, "\n"), "Handshake received") {
			t.Errorf("progress steps %q", steps)
		}
	})
}
