package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/clock"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
	"github.com/asana-webhooks/asana-webhooks/internal/gateway/gatewaytest"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// Shape of the run. The events are sent in bursts through the emulator's
// admin API; the child is killed after some of them, at a random moment, and
// stays down for one more burst.
const (
	totalEvents = 2400
	kills       = 5
	minBurst    = 40
	maxBurst    = 160
	maxInject   = 25 // events per admin call, so a burst makes several deliveries
	maxBatch    = 20 // events per delivery
)

// waitLimit bounds every wait: generous, since the machine may be loaded and
// the test may run under -race.
const waitLimit = 60 * time.Second

// createdLayout is how the test writes created_at: each injected event has
// its own, so each one is a distinct event for the store.
const createdLayout = "2006-01-02T15:04:05.000Z"

// TestCrashRecovery kills the inspector with SIGKILL several times while the
// emulator delivers events to it, restarting it on the same database file,
// public URL and port each time (the kept webhook is reused), and advancing
// the emulator's clock so that the failed deliveries are retried at once.
// At the end (a) every event of every delivery that got a 2xx is stored
// exactly once for the webhook, with the delivery's exact body recorded, (b)
// every event sent arrived, and (c) the child's gateway (--forward-to) got
// every stored delivery to the user's app, with its stored body and a valid
// signature, at least once.
func TestCrashRecovery(t *testing.T) {
	bin := buildBinary(t)

	clk := clock.NewShifted()
	srv, err := emulator.Start(emulator.Config{
		Clock:     clk,
		RateLimit: -1,
		// Small batches: more deliveries, so more commits for a kill to
		// interrupt.
		Delivery: delivery.Config{MaxBatch: maxBatch},
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	token := srv.Token()
	project := srv.ProjectGID()
	task, err := srv.CreateTask(token, project, "Crash test target")
	if err != nil {
		t.Fatal(err)
	}
	user, err := srv.UserGID(token)
	if err != nil {
		t.Fatal(err)
	}
	api := asana.NewClient(token, asana.WithBaseURL(srv.BaseURL()))

	// The user's app, to which the child forwards every delivery
	// (--forward-to): it must get each one stored, whatever the kills.
	userApp := gatewaytest.New(t)

	dir := t.TempDir()
	c := &child{
		forwardTo: userApp.URL + "/asana",
		t:         t,
		bin:       bin,
		dir:       dir,
		addr:      freePort(t),
		db:        filepath.Join(dir, "inspector.db"),
		env: []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + dir,
			"ASANA_PAT=" + token,
			"ASANA_API_URL=" + srv.BaseURL(),
			"ASANA_WEBHOOKS_DATA_DIR=" + dir,
		},
		project: project,
	}
	t.Cleanup(c.cleanup)
	c.start()
	gids := srv.WebhookGIDs()
	if len(gids) != 1 {
		t.Fatalf("webhooks in the emulator after the first start: %v, want one", gids)
	}
	gid := gids[0]

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (bursts, kill moments)", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))

	// Plan the bursts, then pick the ones after which the child dies (never
	// the last, so that it comes back for the end).
	var bursts []int
	for left := totalEvents; left > 0; {
		n := min(left, minBurst+rng.IntN(maxBurst-minBurst+1))
		bursts = append(bursts, n)
		left -= n
	}
	killAfter := map[int]bool{}
	for _, i := range rng.Perm(len(bursts) - 1)[:min(kills, len(bursts)-1)] {
		killAfter[i] = true
	}

	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sent := map[string]bool{} // created_at of every event sent
	next := 0
	for i, n := range bursts {
		events := make([]json.RawMessage, n)
		for j := range events {
			created := base.Add(time.Duration(next) * time.Millisecond).Format(createdLayout)
			next++
			sent[created] = true
			events[j] = json.RawMessage(fmt.Sprintf(
				`{"user":{"gid":%q,"resource_type":"user"},"created_at":%q,"action":"changed",`+
					`"resource":{"gid":%q,"resource_type":"task","resource_subtype":"default_task"},"parent":null,`+
					`"change":{"field":"notes","action":"changed"}}`, user, created, task))
		}
		for len(events) > 0 {
			k := min(len(events), 1+rng.IntN(maxInject))
			inject(t, srv.AdminURL(), project, events[:k])
			events = events[k:]
		}
		if !c.running() {
			c.start() // the burst above was sent while it was down
		}
		kickRetries(t, api, srv, gid)
		if killAfter[i] {
			// Let some deliveries get going, so that the kill lands in
			// the middle of receiving and committing.
			time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
			c.kill()
		}
	}

	// Everything sent must be acknowledged in the end: retries wait on the
	// emulator's clock, so move it whenever one is due.
	deadline := time.Now().Add(waitLimit)
	for srv.State().Pending > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("events still pending in the emulator after %s: %d", waitLimit, srv.State().Pending)
		}
		kickRetries(t, api, srv, gid)
		time.Sleep(10 * time.Millisecond)
	}
	// The gateway forwards what is stored, in order, after the kills too.
	forwarded := waitForwarded(t, userApp, c.db)
	c.stop()
	if got := srv.WebhookGIDs(); !slices.Equal(got, []string{gid}) {
		t.Errorf("webhooks in the emulator at the end: %v, want the one kept webhook %s", got, gid)
	}
	if c.starts != kills+1 {
		t.Errorf("the child was started %d times, want %d", c.starts, kills+1)
	}

	records := srv.Deliveries(gid)
	if len(records) >= delivery.MaxRecords {
		t.Fatalf("%d delivery records: the emulator may have dropped the oldest; lower totalEvents", len(records))
	}
	verify(t, c.db, gid, records, sent)
	t.Logf("the app got every one of the %d stored deliveries, %d of them more than once (%d forwards refused for their signature, sent again)",
		forwarded.stored, forwarded.repeated, forwarded.refused)
}

// forwardCount is what waitForwarded found: the deliveries stored, those the
// app got more than once, and the forwards it refused for their signature.
type forwardCount struct{ stored, repeated, refused int }

// waitForwarded waits until the app has every delivery stored in the
// database at db, each with its stored body, and returns the counts.
func waitForwarded(t *testing.T, a *gatewaytest.App, db string) forwardCount {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(waitLimit)
	for {
		var all []inspector.Delivery
		for after := int64(0); ; {
			ds, err := st.DeliveriesAfter(ctx, after, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) == 0 {
				break
			}
			all = append(all, ds...)
			after = ds[len(ds)-1].ID
		}
		got := map[string]int{}       // delivery id -> receipts
		bodies := map[string]string{} // delivery id -> the latest body received
		for _, r := range a.Received() {
			got[r.ID]++
			bodies[r.ID] = r.Body
		}
		var missing []int64
		count := forwardCount{stored: len(all)}
		for _, d := range all {
			id := fmt.Sprint(d.ID)
			switch n := got[id]; {
			case n == 0:
				missing = append(missing, d.ID)
			case bodies[id] != string(d.Body):
				t.Fatalf("delivery %d reached the app with another body than the one stored", d.ID)
			case n > 1:
				count.repeated++
			}
		}
		// A delivery signed before a kill with the secret the next start
		// replaced may be refused once; it is sent again, and counted above.
		count.refused = a.Bad()
		if len(missing) == 0 {
			return count
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d stored deliveries never reached the app (first: %v)", len(missing), len(all), missing[:min(5, len(missing))])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verify opens the store the child left and checks both promises.
func verify(t *testing.T, dbPath, gid string, records []delivery.Record, sent map[string]bool) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hook, err := st.GetHookByGID(ctx, gid)
	if err != nil {
		t.Fatalf("the store has no hook for webhook %s: %v", gid, err)
	}

	// The store: every event of the hook, and every delivery body.
	stored := map[string]inspector.Event{} // by key
	storedCreated := map[string]int{}
	for before := int64(0); ; {
		page, err := st.ListEvents(ctx, inspector.EventFilter{HookID: hook.ID, BeforeID: before, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page {
			if _, dup := stored[ev.Key]; dup {
				t.Errorf("event %s stored twice for hook %s", ev.Key, hook.ID)
			}
			stored[ev.Key] = ev
			var fields struct {
				CreatedAt string `json:"created_at"`
			}
			if err := json.Unmarshal(ev.Raw, &fields); err != nil {
				t.Errorf("stored event %d: %v", ev.ID, err)
			}
			storedCreated[fields.CreatedAt]++
		}
		if len(page) == 0 {
			break
		}
		before = page[len(page)-1].ID
	}
	storedBodies := map[string]int{}
	for before := int64(0); ; {
		page, err := st.ListDeliveries(ctx, inspector.DeliveryFilter{HookID: hook.ID, BeforeID: before, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page {
			storedBodies[string(d.Body)]++
		}
		if len(page) == 0 {
			break
		}
		before = page[len(page)-1].ID
	}

	// (a) Every acknowledged delivery is stored, with each of its events
	// exactly once for the hook.
	acked, ackedEvents, lost := 0, 0, 0
	ackedBodies := map[string]int{}
	receipts := map[string]int{}
	for _, r := range records {
		if r.Kind != delivery.KindEvents || r.Status < 200 || r.Status > 299 {
			continue
		}
		acked++
		ackedBodies[string(r.RequestBody)]++
		parsed := inspector.ParseDeliveryBody(r.RequestBody)
		if parsed.Kind != inspector.KindEvents {
			t.Errorf("delivery record %d: body is %s (%s)", r.ID, parsed.Kind, parsed.Problem)
			continue
		}
		for _, ev := range parsed.Events {
			ackedEvents++
			receipts[ev.Key]++
			if _, ok := stored[ev.Key]; !ok {
				lost++
				if lost <= 5 {
					t.Errorf("event %s of acknowledged delivery record %d (status %d) is not in the store", ev.Key, r.ID, r.Status)
				}
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d acknowledged event receipts are not in the store", lost)
	}
	unstored := 0
	for body, n := range ackedBodies {
		if storedBodies[body] < n {
			if unstored++; unstored <= 5 {
				t.Errorf("a body acknowledged %d time(s) is stored %d time(s): %.120s", n, storedBodies[body], body)
			}
		}
	}
	if unstored > 0 {
		t.Errorf("%d acknowledged delivery bodies are not all stored", unstored)
	}
	for key, n := range receipts {
		if ev, ok := stored[key]; ok && ev.Receipts < n {
			t.Errorf("event %s: %d receipts stored, but %d deliveries of it were acknowledged", key, ev.Receipts, n)
		}
	}

	// (b) Every event sent arrived, once, and nothing else did.
	for created, n := range storedCreated {
		if n != 1 {
			t.Errorf("the event created at %s is stored %d times", created, n)
		}
		if !sent[created] {
			t.Errorf("the store holds an event created at %s that was never sent", created)
		}
	}
	missing := 0
	for created := range sent {
		if storedCreated[created] == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("the event created at %s never arrived", created)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events never arrived", missing, len(sent))
	}
	failed := 0
	for _, r := range records {
		if r.Kind == delivery.KindEvents && (r.Status < 200 || r.Status > 299) {
			failed++
		}
	}
	t.Logf("%d events sent; %d event deliveries acknowledged (%d event receipts), %d failed and retried; %d distinct events and %d delivery rows stored",
		len(sent), acked, ackedEvents, failed, len(stored), sum(storedBodies))
	if failed == 0 {
		t.Errorf("no delivery failed: the kills did not interrupt anything, so the test proved little")
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// inject sends events to the webhooks on resource through the emulator's
// admin API.
func inject(t *testing.T, adminURL, resource string, events []json.RawMessage) {
	t.Helper()
	body, err := json.Marshal(struct {
		Resource string            `json:"resource"`
		Events   []json.RawMessage `json:"events"`
	}{resource, events})
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(adminURL+"/events/inject", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("inject events: %v", err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	var got struct {
		Webhooks int `json:"webhooks"`
		Events   int `json:"events"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(out, &got) != nil || got.Webhooks != 1 {
		t.Fatalf("inject events: %s: %s", res.Status, out)
	}
}

// kickRetries moves the emulator's clock to the webhook's next retry, if one
// is waiting, so the retry happens now instead of 30 s or more later.
func kickRetries(t *testing.T, api *asana.Client, srv *emulator.Server, gid string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	w, err := api.GetWebhook(ctx, gid)
	if err != nil {
		t.Fatalf("read webhook %s: %v", gid, err)
	}
	if w.NextAttemptAfter == nil {
		return
	}
	// The API gives milliseconds; the deadline may be up to 1 ms later.
	if d := w.NextAttemptAfter.Sub(srv.Clock().Now()) + 2*time.Millisecond; d > 0 {
		if err := srv.AdvanceClock(d); err != nil {
			t.Fatal(err)
		}
	}
}

// child is the inspector process under test.
type child struct {
	t         *testing.T
	bin       string
	dir       string
	addr      string
	db        string
	env       []string
	project   string
	forwardTo string

	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	starts int
	logs   []string // output of earlier processes, for failure messages
}

// start runs the child and waits until it says it watches the resource. If
// the port is briefly taken (another process's connection got it as its
// local port while the child was down), it tries again.
func (c *child) start() {
	c.t.Helper()
	if c.running() {
		c.t.Fatal("start: the child is already running")
	}
	c.starts++
	deadline := time.Now().Add(waitLimit)
	for !c.tryStart(deadline) {
		if time.Now().After(deadline) {
			c.t.Fatalf("start %d: the port %s stayed in use for %s:\n%s", c.starts, c.addr, waitLimit, c.out)
		}
		c.logs = append(c.logs, c.out.String())
		time.Sleep(100 * time.Millisecond)
	}
	if c.starts > 1 && !strings.Contains(c.out.String(), "reusing kept webhook") {
		c.t.Fatalf("start %d: the kept webhook was not reused:\n%s", c.starts, c.out)
	}
}

// tryStart runs the child once; it returns false if it could not listen.
func (c *child) tryStart(deadline time.Time) bool {
	c.t.Helper()
	c.out = &syncBuffer{}
	c.cmd = exec.Command(c.bin, "inspect",
		"--public-url", "http://"+c.addr, "--listen", c.addr,
		"--resource", c.project, "--db", c.db, "--keep", "--skip-preflight", "--forward-to", c.forwardTo)
	c.cmd.Dir = c.dir
	c.cmd.Env = c.env
	c.cmd.Stdout = c.out
	c.cmd.Stderr = c.out
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("start the inspector: %v", err)
	}
	exited := make(chan struct{})
	c.exited = exited
	cmd := c.cmd
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	for !strings.Contains(c.out.String(), "watching ") {
		select {
		case <-exited:
			if strings.Contains(c.out.String(), "address already in use") {
				return false
			}
			c.t.Fatalf("start %d: the inspector exited (%v) before watching:\n%s", c.starts, cmd.ProcessState, c.out)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("start %d: the inspector is not watching after %s:\n%s", c.starts, waitLimit, c.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func (c *child) running() bool {
	if c.exited == nil {
		return false
	}
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.t.Fatalf("kill the inspector: %v", err)
	}
	c.wait()
	c.logs = append(c.logs, c.out.String())
}

// stop sends SIGTERM, as Ctrl+C would, and expects a clean exit that keeps
// the webhook (--keep).
func (c *child) stop() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("stop the inspector: %v", err)
	}
	c.wait()
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		c.t.Errorf("the inspector exited with %d after SIGTERM, want 0:\n%s", code, c.out)
	}
}

func (c *child) wait() {
	c.t.Helper()
	select {
	case <-c.exited:
	case <-time.After(waitLimit):
		_ = c.cmd.Process.Kill()
		c.t.Fatalf("the inspector did not exit within %s:\n%s", waitLimit, c.out)
	}
}

// cleanup kills a child left running by a failed test, and shows the
// output of every run when the test failed.
func (c *child) cleanup() {
	if c.running() {
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	if c.t.Failed() {
		for i, l := range append(c.logs, c.out.String()) {
			if len(l) > 4000 {
				l = "…" + l[len(l)-4000:]
			}
			c.t.Logf("inspector run %d output (end):\n%s", i+1, l)
		}
	}
}

// buildBinary builds asana-webhooks once into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Fatalf("no go command to build the inspector: %v", err)
		}
	}
	bin := filepath.Join(t.TempDir(), "asana-webhooks")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/asana-webhooks")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// freePort returns a loopback address that was free a moment ago; the child
// listens on it in every run.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for the child's writers and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
