package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// apiClient calls the emulator's Asana API as a user would (curl, an SDK):
// JSON bodies under "data", a bearer token.
type apiClient struct {
	base string
	http *http.Client
}

// do sends one request and returns the response's "data".
func (c *apiClient) do(ctx context.Context, token, method, path string, data any) (json.RawMessage, error) {
	var body io.Reader
	if data != nil {
		b, err := json.Marshal(map[string]any{"data": data})
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if data != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, fmt.Errorf("%s %s: %w", method, path, asana.ParseError(res.StatusCode, res.Header, raw))
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return env.Data, nil
}

// gidOf returns the gid of a response's data.
func gidOf(data json.RawMessage) (string, error) {
	var v struct {
		GID string `json:"gid"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.GID == "" {
		return "", fmt.Errorf("no gid in the answer")
	}
	return v.GID, nil
}

// introduce reads the seeded data through the API and says what it is.
func (d *run) introduce(ctx context.Context) error {
	p, err := d.client.Project(ctx, d.project)
	if err != nil {
		return fmt.Errorf("read the seeded project: %w", err)
	}
	wsName := ""
	if p.Workspace != nil {
		d.workspace, wsName = p.Workspace.GID, p.Workspace.Name
	}
	raw, err := d.api.do(ctx, AdaToken, http.MethodGet, "/projects/"+d.project+"/sections", nil)
	if err != nil {
		return fmt.Errorf("read the project's sections: %w", err)
	}
	var secs []asana.Compact
	if err := json.Unmarshal(raw, &secs); err != nil {
		return fmt.Errorf("read the project's sections: %w", err)
	}
	d.sections = map[string]string{}
	var names []string
	for _, s := range secs {
		d.sections[s.Name] = s.GID
		names = append(names, s.Name)
	}
	d.users = map[string]string{}
	var people []string
	for _, tok := range []string{AdaToken, GraceToken} {
		raw, err := d.api.do(ctx, tok, http.MethodGet, "/users/me", nil)
		if err != nil {
			return fmt.Errorf("read the seeded users: %w", err)
		}
		var u asana.Compact
		if err := json.Unmarshal(raw, &u); err != nil {
			return fmt.Errorf("read the seeded users: %w", err)
		}
		d.users[tok] = u.GID
		people = append(people, fmt.Sprintf("%s (user %s, token %s)", u.Name, u.GID, tok))
	}
	t := d.term
	t.sayf("1. The emulator, a local Asana, is running.")
	t.sayf("   API:        %s", d.emu.BaseURL())
	t.sayf("   Workspace:  %q (%s)", wsName, d.workspace)
	t.sayf("   Project:    %q (%s), sections %s", p.Name, d.project, strings.Join(names, ", "))
	t.sayf("   Users:      %s", people[0])
	t.sayf("               %s", people[1])
	t.sayf("")
	t.sayf("2. The inspector starts: a receiver on a free port, a store in a temporary directory.")
	t.sayf("   It creates a webhook on %q with these filters (an event is delivered if it matches one):", p.Name)
	for _, f := range Filters() {
		t.sayf("     %s", describeFilter(f))
	}
	t.sayf("   Task description (notes) edits match none of them, so Asana will not deliver those.")
	t.sayf("   While the create call is in flight, Asana sends a handshake with the webhook's secret in")
	t.sayf("   X-Hook-Secret; the inspector accepts it only then, stores it and echoes it. The secret is")
	t.sayf("   never printed. Lines that start with a time are the inspector's own output:")
	t.sayf("")
	return nil
}

func describeFilter(f asana.Filter) string {
	s := f.ResourceType + " " + f.Action
	if len(f.Fields) > 0 {
		s += " (fields: " + strings.Join(f.Fields, ", ") + ")"
	}
	return s
}

// play runs the scene: the webhook's first heartbeat, project work, a
// heartbeat eight hours later and the forgeries.
func (d *run) play(ctx context.Context) error {
	hooks, err := d.in.Manager().Hooks(ctx)
	if err != nil {
		return err
	}
	if len(hooks) != 1 {
		return fmt.Errorf("the inspector has %d webhooks, want 1", len(hooks))
	}
	d.hook = hooks[0]
	t := d.term
	if err := d.waitStored(ctx, func(s inspector.Stats) bool { return s.Heartbeats >= 1 }); err != nil {
		return fmt.Errorf("wait for the first heartbeat: %w", err)
	}
	t.sayf("")
	t.sayf("   Webhook %s is active: Asana accepted the handshake's echo and sent its first heartbeat", d.hook.WebhookGID)
	t.sayf("   (an empty, signed delivery). Its target is %s", d.hook.Target)
	if err := d.startEvents(ctx); err != nil {
		return err
	}
	if ui := d.in.UIURL(); ui != "" {
		t.sayf("")
		t.sayf("   Web UI: open %s/events in a browser to watch the deliveries arrive live", ui)
		t.sayf("   (%s/webhooks shows the webhook's health). Everything also shows here.", ui)
		if !d.cfg.Once {
			// Give the user a moment to open it before the scene starts.
			for range 3 {
				if err := d.pause(ctx); err != nil {
					return err
				}
			}
		}
	}
	t.sayf("")
	t.sayf("3. Project work, as Ada and Grace would do it in Asana (each step is one API call).")
	t.sayf("   Every delivery is verified (HMAC-SHA256 with the webhook's secret), stored, then printed.")
	if err := d.pause(ctx); err != nil {
		return err
	}
	if err := d.work(ctx); err != nil {
		return err
	}
	if err := d.heartbeat(ctx); err != nil {
		return err
	}
	return d.forgeries(ctx)
}

// work is the project work of the scene.
func (d *run) work(ctx context.Context) error {
	var cake, flavours, balloons string
	grace := d.users[GraceToken]
	due := d.emu.Clock().Now().AddDate(0, 0, 7)
	steps := []struct {
		say, call string
		act       func(ctx context.Context) error
	}{
		{`Ada creates the task "Order the launch cake"`, "POST /tasks", func(ctx context.Context) (err error) {
			cake, err = d.create(ctx, AdaToken, "/tasks", map[string]any{"name": "Order the launch cake", "projects": []string{d.project}})
			return err
		}},
		{`Ada renames it "Order the launch cake (chocolate, 40 people)"`, "PUT /tasks/{gid}", func(ctx context.Context) error {
			return d.put(ctx, AdaToken, "/tasks/"+cake, map[string]any{"name": "Order the launch cake (chocolate, 40 people)"})
		}},
		{"Grace follows the task", "POST /tasks/{gid}/addFollowers", func(ctx context.Context) error {
			_, err := d.api.do(ctx, GraceToken, http.MethodPost, "/tasks/"+cake+"/addFollowers", map[string]any{"followers": []string{"me"}})
			return err
		}},
		{"Ada assigns it to Grace", "PUT /tasks/{gid}", func(ctx context.Context) error {
			return d.put(ctx, AdaToken, "/tasks/"+cake, map[string]any{"assignee": grace})
		}},
		{"Grace sets the due date to " + due.Format("Monday, January 2"), "PUT /tasks/{gid}", func(ctx context.Context) error {
			return d.put(ctx, GraceToken, "/tasks/"+cake, map[string]any{"due_on": due.Format(time.DateOnly)})
		}},
		{`Grace comments "Called the bakery: they need the order by Thursday."`, "POST /tasks/{gid}/stories", func(ctx context.Context) error {
			_, err := d.api.do(ctx, GraceToken, http.MethodPost, "/tasks/"+cake+"/stories", map[string]any{"text": "Called the bakery: they need the order by Thursday."})
			return err
		}},
		{`Grace moves it from "To do" to "Doing"`, "POST /sections/{gid}/addTask", func(ctx context.Context) error {
			return d.move(ctx, GraceToken, cake, "Doing")
		}},
		{"Ada edits the task's description (outside the webhook's filter)", "PUT /tasks/{gid}", func(ctx context.Context) error {
			return d.put(ctx, AdaToken, "/tasks/"+cake, map[string]any{"notes": "Candles too. Nut-free, please."})
		}},
		{`Grace adds a subtask "Choose the flavours"`, "POST /tasks/{gid}/subtasks", func(ctx context.Context) (err error) {
			flavours, err = d.create(ctx, GraceToken, "/tasks/"+cake+"/subtasks", map[string]any{"name": "Choose the flavours"})
			return err
		}},
		{"Grace completes the subtask", "PUT /tasks/{gid}", func(ctx context.Context) error {
			return d.put(ctx, GraceToken, "/tasks/"+flavours, map[string]any{"completed": true})
		}},
		{"Grace completes the task", "PUT /tasks/{gid}", func(ctx context.Context) error {
			return d.put(ctx, GraceToken, "/tasks/"+cake, map[string]any{"completed": true})
		}},
		{`Grace moves it to "Done"`, "POST /sections/{gid}/addTask", func(ctx context.Context) error {
			return d.move(ctx, GraceToken, cake, "Done")
		}},
		{`Ada creates the task "Order balloons"`, "POST /tasks", func(ctx context.Context) (err error) {
			balloons, err = d.create(ctx, AdaToken, "/tasks", map[string]any{"name": "Order balloons", "projects": []string{d.project}})
			return err
		}},
		{"Ada deletes it again: no balloons this year", "DELETE /tasks/{gid}", func(ctx context.Context) error {
			_, err := d.api.do(ctx, AdaToken, http.MethodDelete, "/tasks/"+balloons, nil)
			return err
		}},
	}
	for _, s := range steps {
		if err := d.step(ctx, s.say, s.call, s.act); err != nil {
			return err
		}
	}
	return nil
}

func (d *run) create(ctx context.Context, token, path string, data map[string]any) (string, error) {
	raw, err := d.api.do(ctx, token, http.MethodPost, path, data)
	if err != nil {
		return "", err
	}
	return gidOf(raw)
}

func (d *run) put(ctx context.Context, token, path string, data map[string]any) error {
	_, err := d.api.do(ctx, token, http.MethodPut, path, data)
	return err
}

func (d *run) move(ctx context.Context, token, task, section string) error {
	gid, ok := d.sections[section]
	if !ok {
		return fmt.Errorf("the project has no section %q", section)
	}
	_, err := d.api.do(ctx, token, http.MethodPost, "/sections/"+gid+"/addTask", map[string]any{"task": task})
	return err
}

// step narrates one change, makes it, then waits until the events Asana
// logged for it that pass the webhook's filters are stored and printed.
func (d *run) step(ctx context.Context, say, call string, act func(context.Context) error) error {
	t := d.term
	t.sayf("")
	t.sayf("▸ %s   [%s]", say, call)
	before, err := d.store.Stats(ctx, "")
	if err != nil {
		return fmt.Errorf("read the store: %w", err)
	}
	writes := t.inspectorWrites()
	attempts := d.attempts()
	if err := act(ctx); err != nil {
		return fmt.Errorf("%s: %w", say, err)
	}
	events, err := d.newEvents(ctx)
	if err != nil {
		return err
	}
	d.logged += len(events)
	passing := 0
	for _, e := range events {
		if passes(Filters(), e) {
			passing++
		}
	}
	d.expected += int64(passing)
	if err := d.waitStored(ctx, func(s inspector.Stats) bool { return s.Receipts >= d.expected }); err != nil {
		return fmt.Errorf("%s: wait for its events: %w", say, err)
	}
	after, err := d.store.Stats(ctx, "")
	if err != nil {
		return fmt.Errorf("read the store: %w", err)
	}
	t.waitWrites(ctx, writes+int(after.Deliveries-before.Deliveries), 2*time.Second)
	if err := d.pause(ctx); err != nil {
		return err
	}
	if left := len(events) - passing; passing > 0 && left > 0 {
		t.sayf("  (Asana also logged %d %s for this change outside the webhook's filter: not delivered.)",
			left, plural(left, "event", "events"))
	}
	if passing == 0 && len(events) > 0 {
		if d.attempts() == attempts {
			t.sayf("  Asana logged %d %s for this change (GET /events shows it), but the webhook's filter leaves it out:",
				len(events), plural(len(events), "event", "events"))
			t.sayf("  nothing was delivered, as it should be.")
		} else {
			t.sayf("  Asana made a delivery for a change outside the filter: this is a bug in the emulator.")
		}
	}
	return nil
}

// attempts counts the emulator's delivery attempts (handshakes apart).
func (d *run) attempts() int {
	n := 0
	for _, r := range d.emu.Deliveries("") {
		if r.Kind != delivery.KindHandshake {
			n++
		}
	}
	return n
}

// heartbeat moves the emulator's clock eight hours on, so Asana's next
// heartbeat is due at once.
func (d *run) heartbeat(ctx context.Context) error {
	t := d.term
	t.sayf("")
	t.sayf("4. Asana sends every webhook a heartbeat (an empty delivery) every 8 hours; a webhook whose")
	t.sayf("   deliveries keep failing for 24 hours is deleted. The demo moves the emulator's clock 8 hours")
	t.sayf("   on (as POST %s/clock/advance {\"duration\":\"8h\"} does), so the next one comes now:", d.emu.AdminURL())
	before, err := d.store.Stats(ctx, "")
	if err != nil {
		return fmt.Errorf("read the store: %w", err)
	}
	writes := d.term.inspectorWrites()
	if err := d.emu.AdvanceClock(8 * time.Hour); err != nil {
		return fmt.Errorf("advance the emulator's clock: %w", err)
	}
	if err := d.waitStored(ctx, func(s inspector.Stats) bool { return s.Heartbeats > before.Heartbeats }); err != nil {
		return fmt.Errorf("wait for the heartbeat: %w", err)
	}
	t.waitWrites(ctx, writes+1, 2*time.Second)
	return d.pause(ctx)
}

// forgeries sends two requests that pretend to come from Asana: a delivery
// signed with the wrong secret, and a second handshake outside any create;
// then it tells how the third, a second handshake during the create (sent
// by handshakeRacer), was answered.
func (d *run) forgeries(ctx context.Context) error {
	t := d.term
	t.sayf("")
	t.sayf("5. Safety: anyone on the internet can reach a webhook's target. The demo now plays an attacker")
	t.sayf("   who knows the target URL but not the secret.")
	before, err := d.store.Stats(ctx, "")
	if err != nil {
		return fmt.Errorf("read the store: %w", err)
	}
	secretBefore, err := d.store.Secret(ctx, d.hook.ID)
	if err != nil {
		return fmt.Errorf("read the webhook's secret: %w", err)
	}

	t.sayf("")
	t.sayf("▸ A forged delivery: \"the project was deleted\", signed with a made-up secret")
	body := fmt.Sprintf(`{"events":[{"user":null,"created_at":%q,"action":"deleted","resource":{"gid":%q,"resource_type":"project"},"parent":null}]}`,
		time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), d.project)
	fake := asana.NewSecret(randomHex(32))
	status, err := d.forge(ctx, map[string]string{asana.HeaderSignature: asana.Sign(fake, []byte(body)), "Content-Type": "application/json"}, body)
	if err != nil {
		return fmt.Errorf("send the forged delivery: %w", err)
	}
	after, err := d.store.Stats(ctx, "")
	if err != nil {
		return fmt.Errorf("read the store: %w", err)
	}
	stored := "nothing was stored"
	if after.Deliveries != before.Deliveries {
		stored = "but something was stored"
	}
	t.sayf("  The receiver answered %d %s: the signature does not match this webhook's secret; %s.",
		status, http.StatusText(status), stored)
	if err := d.pause(ctx); err != nil {
		return err
	}

	t.sayf("")
	t.sayf("▸ A forged second handshake: a new X-Hook-Secret for the same target, to replace the secret")
	status, err = d.forge(ctx, map[string]string{asana.HeaderSecret: randomHex(32)}, "")
	if err != nil {
		return fmt.Errorf("send the forged handshake: %w", err)
	}
	secretAfter, err := d.store.Secret(ctx, d.hook.ID)
	if err != nil {
		return fmt.Errorf("read the webhook's secret: %w", err)
	}
	kept := "the stored secret is unchanged"
	if !secretAfter.Equal(secretBefore) {
		kept = "but the stored secret changed"
	}
	t.sayf("  The receiver answered %d %s: a handshake is accepted only while the inspector's own create", status, http.StatusText(status))
	t.sayf("  call is in flight; %s.", kept)
	if err := d.pause(ctx); err != nil {
		return err
	}

	t.sayf("")
	t.sayf("▸ And one during the create (step 2): right after Asana's handshake, while the inspector still")
	t.sayf("  waited for Asana's answer, the demo sent the target a second handshake with another secret.")
	switch st, err := d.racer.result(); {
	case err != nil:
		t.sayf("  It could not be sent: %v", err)
	case st == 0:
		t.sayf("  It was not sent: the create's answer never came through the demo's client.")
	default:
		t.sayf("  The receiver answered %d %s: the first secret of a create is the one kept; %s.", st, http.StatusText(st), kept)
	}
	return d.pause(ctx)
}

// handshakeRacer is the HTTP transport of the demo's inspector. When
// Asana's 201 to the first create arrives, and before the inspector reads it
// (so its create is still in flight and the handshake window open), it plays
// an attacker who saw Asana's handshake go by and sends the same target a
// second handshake with another secret. The inspector must answer 409 and
// keep Asana's secret.
type handshakeRacer struct {
	base  http.RoundTripper
	forge func(ctx context.Context, target string, headers map[string]string, body string) (int, error)

	mu     sync.Mutex
	done   bool
	status int
	err    error
}

// RoundTrip implements http.RoundTripper.
func (h *handshakeRacer) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := h.base.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/webhooks") || res.StatusCode != http.StatusCreated {
		return res, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return res, nil
	}
	h.done = true
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		h.err = fmt.Errorf("read the create's answer: %w", err)
		return res, nil
	}
	var created struct {
		Data struct {
			Target string `json:"target"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Data.Target == "" {
		h.err = errors.New("the create's answer names no target")
		return res, nil
	}
	h.status, h.err = h.forge(req.Context(), created.Data.Target, map[string]string{asana.HeaderSecret: randomHex(32)}, "")
	return res, nil
}

// result is the status of the forged handshake, 0 if none was sent.
func (h *handshakeRacer) result() (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status, h.err
}

// forge posts to the webhook's target and returns the status. The request
// is not cut short by an interrupt, so that it is counted exactly when the
// receiver saw it.
func (d *run) forge(ctx context.Context, headers map[string]string, body string) (int, error) {
	return d.forgeTo(ctx, d.hook.Target, headers, body)
}

// forgeTo is forge to a target given.
func (d *run) forgeTo(ctx context.Context, target string, headers map[string]string, body string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), syncTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := d.api.http.Do(req)
	if err != nil {
		return 0, err
	}
	d.forged++
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	return res.StatusCode, nil
}

// explore tells the user how to go on once the scene is over.
func (d *run) explore() {
	t := d.term
	t.sayf("")
	t.sayf("The scene is over; the emulator and the inspector keep running. Make your own changes and watch")
	t.sayf("them arrive here. As Ada, with curl:")
	t.sayf("  curl -s -X POST %s/tasks -H 'Authorization: Bearer %s' \\", d.emu.BaseURL(), AdaToken)
	t.sayf("       -H 'Content-Type: application/json' -d '{\"data\":{\"name\":\"Try it\",\"projects\":[\"%s\"]}}'", d.project)
	t.sayf("  curl -s -X POST %s/clock/advance -d '{\"duration\":\"8h\"}'     # the next heartbeat", d.emu.AdminURL())
	t.sayf("Or with this tool: ASANA_API_URL=%s ASANA_PAT=%s asana-webhooks webhooks list --workspace %s",
		d.emu.BaseURL(), AdaToken, d.workspace)
	t.sayf("The emulator's API and admin routes are in emulator/README.md (asana-webhooks emulate runs it alone).")
	t.sayf("Press Ctrl+C to delete the webhook, see the summary and exit.")
}

// startEvents gets a sync token on the project, so that every later change
// can be read from Asana's /events log.
func (d *run) startEvents(ctx context.Context) error {
	_, err := d.client.Events(ctx, d.project, "")
	var se *asana.SyncError
	if !errors.As(err, &se) {
		return fmt.Errorf("start reading the project's events: %w", err)
	}
	d.sync = se.Sync
	d.logged = 0
	return nil
}

// newEvents reads the project's events since the last call.
func (d *run) newEvents(ctx context.Context) ([]asana.Event, error) {
	var out []asana.Event
	for {
		page, err := d.client.Events(ctx, d.project, d.sync)
		if err != nil {
			return nil, fmt.Errorf("read the project's events: %w", err)
		}
		d.sync = page.Sync
		out = append(out, page.Events...)
		if !page.HasMore {
			return out, nil
		}
	}
}

// passes reports whether an event passes a webhook's filters, as Asana
// decides: any filter matches when each attribute it sets matches.
func passes(filters []asana.Filter, e asana.Event) bool {
	if len(filters) == 0 {
		return true
	}
	field := ""
	if e.Change != nil {
		field = e.Change.Field
	}
	for _, f := range filters {
		switch {
		case f.ResourceType != "" && f.ResourceType != e.Resource.ResourceType,
			f.ResourceSubtype != "" && f.ResourceSubtype != e.Resource.ResourceSubtype,
			f.Action != "" && f.Action != e.Action,
			len(f.Fields) > 0 && !slices.Contains(f.Fields, field):
			continue
		}
		return true
	}
	return false
}

// waitStored polls the store until ok holds, for at most syncTimeout.
func (d *run) waitStored(ctx context.Context, ok func(inspector.Stats) bool) error {
	deadline := time.Now().Add(syncTimeout)
	for {
		s, err := d.store.Stats(ctx, "")
		if err != nil {
			return fmt.Errorf("read the store: %w", err)
		}
		if ok(s) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing arrived within %s", syncTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// pause waits the pace, or until ctx ends.
func (d *run) pause(ctx context.Context) error {
	timer := time.NewTimer(d.cfg.Pace)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	return string(b)
}
