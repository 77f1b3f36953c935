package app

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
	"github.com/asana-webhooks/asana-webhooks/internal/gateway/gatewaytest"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/postgres/pgtest"
)

// TestForwardToApp: with ForwardTo, the user's app gets every delivery
// Asana (the emulator) sent the inspector, byte for byte, signed with the
// secret of its own handshake; the terminal says so.
func TestForwardToApp(t *testing.T) {
	srv := emulatortest.New(t)
	a := gatewaytest.New(t)
	a.Accept(http.StatusOK)
	h := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: dbPath(t),
		ForwardTo: a.URL + "/asana/webhook", UI: true})
	hooks := runHooks(t, h.in)
	task, err := srv.CreateTask(srv.Token(), srv.ProjectGID(), "forwarded")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task's delivery at the app", func() bool {
		bodies := a.Bodies()
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
	waitFor(t, "the app to have what Asana sent", func() bool { return slices.Equal(a.Bodies(), sentBodies()) })
	if bad := a.Bad(); bad != 0 {
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
	for _, want := range []string{"forwarding every delivery to " + a.URL + "/asana/webhook (handshake done", "-> forwarded delivery"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	secret := a.Secret()
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
	bodies, bad := a.Bodies(), a.Bad()
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
	a := gatewaytest.New(t)
	a.Down(http.StatusBadGateway) // not up yet
	h := start(t, Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: dbPath(t),
		ForwardTo: a.URL + "/asana"})
	if out := h.stdout.String(); !strings.Contains(out, "warning: forwarding to "+a.URL+"/asana: handshake with") ||
		!strings.Contains(out, "502 Bad Gateway") {
		t.Errorf("no warning that the app did not complete the handshake:\n%s", out)
	}
	a.Down(0)
	task, err := srv.CreateTask(srv.Token(), srv.ProjectGID(), "once the app is up")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task's delivery at the app", func() bool {
		bodies := a.Bodies()
		return slices.ContainsFunc(bodies, func(b string) bool { return strings.Contains(b, task) })
	})
	if bad := a.Bad(); bad != 0 {
		t.Errorf("%d deliveries reached the app with a bad signature", bad)
	}
}

// TestReplicasForwardFromTheManager: with --replica, only the replica that
// manages the webhooks forwards (the others would duplicate every delivery);
// the one that takes over starts forwarding.
func TestReplicasForwardFromTheManager(t *testing.T) {
	srv := emulatortest.New(t)
	a := gatewaytest.New(t)
	cfg := Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: pgtest.Schema(t),
		Replica: true, ReplicaPoll: 20 * time.Millisecond, ForwardTo: a.URL + "/asana"}
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
