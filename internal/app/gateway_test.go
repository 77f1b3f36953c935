package app

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/postgres/pgtest"
)

// asanaApp is the user's app: an Asana webhook receiver as Asana's docs
// describe it (echo the handshake's secret, verify each delivery with it).
type asanaApp struct {
	mu     sync.Mutex
	secret string
	bodies []string
	bad    int
}

func (a *asanaApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := r.Header.Get(asana.HeaderSecret); s != "" {
		a.secret = s
		w.Header().Set(asana.HeaderSecret, s)
		w.WriteHeader(http.StatusOK)
		return
	}
	if !asana.Verify(asana.NewSecret(a.secret), body, r.Header.Get(asana.HeaderSignature)) {
		a.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	a.bodies = append(a.bodies, string(body))
	w.WriteHeader(http.StatusOK)
}

func (a *asanaApp) got() ([]string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.bodies), a.bad
}

// TestForwardToApp: with ForwardTo, the user's app gets every delivery
// Asana (the emulator) sent the inspector, byte for byte, signed with the
// secret of its own handshake; the terminal says so.
func TestForwardToApp(t *testing.T) {
	srv := emulatortest.New(t)
	a := &asanaApp{}
	appSrv := httptest.NewServer(a)
	defer appSrv.Close()
	h := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: dbPath(t),
		ForwardTo: appSrv.URL + "/asana/webhook", UI: true})
	hooks := runHooks(t, h.in)
	task, err := srv.CreateTask(srv.Token(), srv.ProjectGID(), "forwarded")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task's delivery at the app", func() bool {
		bodies, _ := a.got()
		return slices.ContainsFunc(bodies, func(b string) bool { return strings.Contains(b, task) })
	})
	// Every delivery the emulator made (and the inspector acknowledged)
	// reaches the app, the same bytes in the same order.
	sentBodies := func() []string {
		var sent []string
		for _, d := range srv.Deliveries(hooks[0].WebhookGID) {
			if d.Success && d.Kind != delivery.KindHandshake {
				sent = append(sent, string(d.RequestBody))
			}
		}
		return sent
	}
	waitFor(t, "the app to have what Asana sent", func() bool { bodies, _ := a.got(); return slices.Equal(bodies, sentBodies()) })
	if _, bad := a.got(); bad != 0 {
		t.Errorf("%d deliveries reached the app with a bad signature", bad)
	}
	// The terminal prints from its own goroutine.
	waitFor(t, "the forwards on the terminal", func() bool {
		return strings.Count(h.stdout.String(), "-> forwarded delivery") >= len(sentBodies())
	})
	out := h.stdout.String() + h.stderr.String()
	// Each delivery is shown before what the gateway did with it.
	if hb, fw := strings.Index(h.stdout.String(), ")  heartbeat\n"), strings.Index(h.stdout.String(), "-> forwarded delivery"); hb < 0 || fw < hb {
		t.Errorf("the first forward is shown before the first delivery (heartbeat at %d, forward at %d):\n%s", hb, fw, h.stdout)
	}
	for _, want := range []string{"forwarding every delivery to " + appSrv.URL + "/asana/webhook (handshake done", "-> forwarded delivery"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	a.mu.Lock()
	secret := a.secret
	a.mu.Unlock()
	if secret == "" || strings.Contains(out, secret) {
		t.Error("no handshake reached the app, or its secret was printed")
	}

	// The web UI's replay button sends a stored delivery again: the one
	// with the task, whose body no other delivery has.
	stored, err := h.in.Store().ListDeliveries(t.Context(), inspector.DeliveryFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(stored, func(d inspector.Delivery) bool { return strings.Contains(string(d.Body), task) })
	if i < 0 {
		t.Fatal("the task's delivery is not stored")
	}
	replayed := stored[i]
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Post(fmt.Sprintf("%s/deliveries/%d/replay", h.in.UIURL(), replayed.ID), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(loc, "?replayed=200") {
		t.Errorf("replay: %d to %q, want 303 to ?replayed=200", res.StatusCode, loc)
	}
	bodies, bad := a.got()
	if n := countOf(bodies, string(replayed.Body)); n != 2 || bad != 0 {
		t.Errorf("after the replay the app has the task's delivery %d times (bad signatures %d), want 2", n, bad)
	}
}

func countOf(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// TestForwardBeforeTheAppIsUp: the inspector starts although the app does
// not answer the handshake yet, says so, and forwards once it does.
func TestForwardBeforeTheAppIsUp(t *testing.T) {
	srv := emulatortest.New(t)
	a := &asanaApp{}
	var mu sync.Mutex
	up := false
	appSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		isUp := up
		mu.Unlock()
		if !isUp {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		a.ServeHTTP(w, r)
	}))
	defer appSrv.Close()
	h := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: dbPath(t),
		ForwardTo: appSrv.URL + "/asana"})
	if out := h.stdout.String(); !strings.Contains(out, "warning: forwarding to "+appSrv.URL+"/asana: handshake with") ||
		!strings.Contains(out, "502 Bad Gateway") {
		t.Errorf("no warning that the app did not complete the handshake:\n%s", out)
	}
	mu.Lock()
	up = true
	mu.Unlock()
	task, err := srv.CreateTask(srv.Token(), srv.ProjectGID(), "once the app is up")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task's delivery at the app", func() bool {
		bodies, _ := a.got()
		return slices.ContainsFunc(bodies, func(b string) bool { return strings.Contains(b, task) })
	})
	if _, bad := a.got(); bad != 0 {
		t.Errorf("%d deliveries reached the app with a bad signature", bad)
	}
}

// TestReplicasForwardFromTheManager: with --replica, only the replica that
// manages the webhooks forwards (the others would duplicate every delivery);
// the one that takes over starts forwarding.
func TestReplicasForwardFromTheManager(t *testing.T) {
	srv := emulatortest.New(t)
	a := &asanaApp{}
	appSrv := httptest.NewServer(a)
	defer appSrv.Close()
	cfg := Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: pgtest.Schema(t),
		Replica: true, ReplicaPoll: 20 * time.Millisecond, ForwardTo: appSrv.URL + "/asana"}
	first := start(t, cfg)
	cfg.PublicURL = first.in.PublicURL()
	second := start(t, cfg)
	const forwarding = "forwarding every delivery to "
	if !strings.Contains(first.stdout.String(), forwarding) || strings.Contains(second.stdout.String(), forwarding) {
		t.Fatalf("want only the first replica forwarding:\nfirst:\n%s\nsecond:\n%s", first.stdout, second.stdout)
	}
	if second.in.fwd.Load() != nil {
		t.Error("the second replica has a gateway while the first manages the webhooks")
	}
	if err := first.in.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second replica to forward", func() bool { return strings.Contains(second.stdout.String(), forwarding) })
	if second.in.fwd.Load() == nil {
		t.Error("the second replica took over but does not forward")
	}
}
