package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
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
		ForwardTo: appSrv.URL + "/asana/webhook"})
	hooks := runHooks(t, h.in)
	task, err := srv.CreateTask(srv.Token(), srv.ProjectGID(), "forwarded")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task's delivery at the app", func() bool {
		bodies, _ := a.got()
		return slices.ContainsFunc(bodies, func(b string) bool { return strings.Contains(b, task) })
	})
	var sent []string
	for _, d := range srv.Deliveries(hooks[0].WebhookGID) {
		if d.Success && d.Kind != delivery.KindHandshake {
			sent = append(sent, string(d.RequestBody))
		}
	}
	waitFor(t, "every delivery at the app", func() bool { bodies, _ := a.got(); return len(bodies) >= len(sent) })
	bodies, bad := a.got()
	if !slices.Equal(bodies, sent) || bad != 0 {
		t.Errorf("the app got %q (bad signatures %d), want what Asana sent: %q", bodies, bad, sent)
	}
	out := h.stdout.String() + h.stderr.String()
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
}

// TestOneGatewayPerApp: a second inspector on the same database refuses to
// forward to an app the first is forwarding to; once the first is gone, it
// may.
func TestOneGatewayPerApp(t *testing.T) {
	srv := emulatortest.New(t)
	a := &asanaApp{}
	appSrv := httptest.NewServer(a)
	defer appSrv.Close()
	db := dbPath(t)
	cfg := func() Config {
		return Config{Client: newClient(srv, srv.Token()), Resources: []string{srv.ProjectGID()}, DBPath: db,
			Listen: "127.0.0.1:0", ForwardTo: appSrv.URL + "/asana/webhook"}
	}
	first := start(t, cfg())
	second, err := New(cfg())
	if err != nil {
		t.Fatal(err)
	}
	err = second.Start(t.Context())
	_ = second.Close()
	if err == nil || !strings.Contains(err.Error(), "another inspector on this database is already forwarding to "+appSrv.URL) {
		t.Fatalf("second Start = %v, want a refusal naming the app", err)
	}
	if err := first.in.Close(); err != nil {
		t.Fatal(err)
	}
	third := start(t, cfg())
	if third.in.gateway == nil {
		t.Error("the third inspector does not forward")
	}
}
