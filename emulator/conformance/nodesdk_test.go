package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

// nodeSDKDir holds the pinned SDK (package-lock.json) and the driver script.
const nodeSDKDir = "nodesdk"

// sdkStep is one line of drive.js's output.
type sdkStep struct {
	Step  string          `json:"step"`
	Value json.RawMessage `json:"value"`
}

// TestNodeSDK drives the emulator with Asana's official Node SDK (npm asana,
// pinned in nodesdk/package-lock.json): it creates, lists, gets, updates and
// deletes a webhook and reads /events. The SDK talks to the emulator through
// a recording proxy, so every response it got is also validated against the
// spec. It fails, not skips, without node or the npm packages: `make test`
// installs both.
func TestNodeSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH (%v): install Node.js 18 or later; `make test` (scripts/test.sh) installs it", err)
	}
	if _, err := os.Stat(filepath.Join(nodeSDKDir, "node_modules", "asana", "package.json")); err != nil {
		t.Fatalf("the pinned Node SDK is not installed (%v): run `npm ci` in emulator/conformance/nodesdk; `make test` does", err)
	}

	recv := &receiver{}
	target := httptest.NewServer(recv)
	t.Cleanup(target.Close)
	srv := emulatortest.New(t, emulatortest.WithTokens(token))
	rec := &recorder{}
	proxy := httptest.NewServer(rec.proxy(t, srv.URL()))
	t.Cleanup(proxy.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "drive.js")
	cmd.Dir = nodeSDKDir
	cmd.Env = append(os.Environ(),
		"ASANA_BASE_URL="+proxy.URL+"/api/1.0",
		"ASANA_TOKEN="+token,
		"ASANA_WORKSPACE="+srv.WorkspaceGID(),
		"ASANA_PROJECT="+srv.ProjectGID(),
		"ASANA_TARGET="+target.URL+"/hooks/node-sdk",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node drive.js: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	out := map[string]json.RawMessage{}
	var order []string
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var s sdkStep
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("drive.js printed a line that is not a step: %q: %v", sc.Text(), err)
		}
		out[s.Step] = s.Value
		order = append(order, s.Step)
	}
	wantOrder := []string{"create", "list", "get", "update", "events-412", "events", "delete"}
	if !slices.Equal(order, wantOrder) {
		t.Fatalf("drive.js steps %v, want %v\nstderr:\n%s", order, wantOrder, stderr.String())
	}

	type webhook struct {
		GID      string `json:"gid"`
		Active   bool   `json:"active"`
		Target   string `json:"target"`
		Resource struct {
			GID string `json:"gid"`
		} `json:"resource"`
		Filters []struct {
			ResourceType string   `json:"resource_type"`
			Action       *string  `json:"action"`
			Fields       []string `json:"fields"`
		} `json:"filters"`
	}
	decode := func(step string, v any) {
		t.Helper()
		if err := json.Unmarshal(out[step], v); err != nil {
			t.Fatalf("step %s: %v: %s", step, err, out[step])
		}
	}

	t.Run("create", func(t *testing.T) {
		var created struct {
			Data   webhook `json:"data"`
			Secret string  `json:"X-Hook-Secret"`
		}
		decode("create", &created)
		h := created.Data
		if h.GID == "" || !h.Active || h.Resource.GID != srv.ProjectGID() || h.Target != target.URL+"/hooks/node-sdk" {
			t.Errorf("created webhook %+v, want an active webhook on project %s with the target", h, srv.ProjectGID())
		}
		if len(h.Filters) != 1 || h.Filters[0].ResourceType != "task" || !slices.Equal(h.Filters[0].Fields, []string{"name"}) {
			t.Errorf("created filters %+v, want the one task/changed/name filter", h.Filters)
		}
		// The SDK returns the whole body, so the top-level secret reaches the
		// caller (§3.4).
		// drive.js redacts the value before printing it.
		if created.Secret != "<redacted>" {
			t.Errorf("the SDK's create result has no X-Hook-Secret: %s", out["create"])
		}
	})
	var gid string
	{
		var created struct {
			Data webhook `json:"data"`
		}
		decode("create", &created)
		gid = created.Data.GID
	}

	t.Run("list", func(t *testing.T) {
		var listed struct {
			Data     []webhook       `json:"data"`
			NextPage json.RawMessage `json:"next_page"`
		}
		decode("list", &listed)
		if len(listed.Data) != 1 || listed.Data[0].GID != gid {
			t.Errorf("listed %+v, want only webhook %s", listed.Data, gid)
		}
		if string(listed.NextPage) != "null" {
			t.Errorf("next_page %s, want null (limit sent, one page)", listed.NextPage)
		}
	})

	t.Run("get", func(t *testing.T) {
		var got struct {
			Data webhook `json:"data"`
		}
		decode("get", &got)
		if got.Data.GID != gid || got.Data.Resource.GID != srv.ProjectGID() {
			t.Errorf("got %+v, want webhook %s", got.Data, gid)
		}
	})

	t.Run("update", func(t *testing.T) {
		var updated struct {
			Data webhook `json:"data"`
		}
		decode("update", &updated)
		var types []string
		for _, f := range updated.Data.Filters {
			types = append(types, f.ResourceType)
		}
		if updated.Data.GID != gid || !slices.Equal(types, []string{"task", "story"}) {
			t.Errorf("updated %+v, want webhook %s with the task and story filters (replaced wholesale)", updated.Data, gid)
		}
	})

	t.Run("events", func(t *testing.T) {
		var first struct {
			Status int    `json:"status"`
			Sync   string `json:"sync"`
		}
		decode("events-412", &first)
		if first.Status != http.StatusPreconditionFailed || first.Sync == "" {
			t.Errorf("first /events call: %+v, want 412 with a sync token", first)
		}
		var page struct {
			Data []struct {
				Action   string `json:"action"`
				Type     string `json:"type"`
				Resource struct {
					GID          string `json:"gid"`
					ResourceType string `json:"resource_type"`
					Name         string `json:"name"`
				} `json:"resource"`
				Parent *struct {
					GID string `json:"gid"`
				} `json:"parent"`
			} `json:"data"`
			Sync    string `json:"sync"`
			HasMore *bool  `json:"has_more"`
		}
		decode("events", &page)
		if page.Sync == "" || page.HasMore == nil {
			t.Errorf("events page without sync or has_more: %s", out["events"])
		}
		found := false
		for _, ev := range page.Data {
			if ev.Action == "added" && ev.Resource.ResourceType == "task" && ev.Resource.Name == "Made by the Node SDK" &&
				ev.Parent != nil && ev.Parent.GID == srv.ProjectGID() {
				found = true
			}
		}
		if !found {
			t.Errorf("events page has no \"added\" event of the task the SDK created in project %s: %s", srv.ProjectGID(), out["events"])
		}
	})

	t.Run("delete", func(t *testing.T) {
		var deleted struct {
			Data map[string]any `json:"data"`
		}
		decode("delete", &deleted)
		if deleted.Data == nil || len(deleted.Data) != 0 {
			t.Errorf("delete returned %s, want {\"data\":{}}", out["delete"])
		}
		if gids := srv.WebhookGIDs(); len(gids) != 0 {
			t.Errorf("the emulator still has webhooks %v after the SDK deleted %s", gids, gid)
		}
	})

	// Every response the SDK got conforms to the spec, like those of the
	// conformance steps.
	t.Run("responses conform", func(t *testing.T) {
		sp := loadSpec(t, []string{srv.BaseURL()})
		xs := rec.exchanges()
		if len(xs) < len(wantOrder) {
			t.Fatalf("the proxy saw %d responses, want at least %d", len(xs), len(wantOrder))
		}
		for _, x := range xs {
			if err := sp.validate(x); err != nil {
				t.Errorf("%s: response does not conform to the spec: %v\nbody: %s", x.name, err, x.body)
			}
			if err := checkWire(x); err != nil {
				t.Errorf("%s: wire: %v", x.name, err)
			}
		}
	})
}

// recorder is a reverse proxy to the emulator that records every exchange.
type recorder struct {
	mu sync.Mutex
	xs []exchange
}

func (rc *recorder) proxy(t *testing.T, upstream string) http.Handler {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatalf("parse %s: %v", upstream, err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		req := resp.Request
		rc.mu.Lock()
		rc.xs = append(rc.xs, exchange{name: req.Method + " " + req.URL.RequestURI(), req: req,
			status: resp.StatusCode, header: resp.Header.Clone(), body: body})
		rc.mu.Unlock()
		return nil
	}
	p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("proxy %s %s: %v", r.Method, r.URL, err)
		}
		http.Error(w, strings.TrimSpace(err.Error()), http.StatusBadGateway)
	}
	return p
}

func (rc *recorder) exchanges() []exchange {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.xs)
}
