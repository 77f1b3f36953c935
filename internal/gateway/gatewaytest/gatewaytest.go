// Package gatewaytest is the user's app for tests of the gateway (inspect
// --forward-to): a webhook receiver as Asana's docs describe one. It echoes
// each handshake's X-Hook-Secret and keeps the latest, verifies each
// delivery's X-Hook-Signature with it, and records what it accepted. Its
// answers can be made to fail, as an app's do.
package gatewaytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// headerDeliveryID is gateway.HeaderDeliveryID (not imported: the gateway's
// own tests use this package).
const headerDeliveryID = "X-Asana-Webhooks-Delivery"

// Received is a delivery the app accepted.
type Received struct {
	// ID is the gateway's delivery-id header.
	ID   string
	Body string
}

// App is the user's app, served on loopback until the test ends.
type App struct {
	// URL is the app's base URL; any path reaches it.
	URL string

	mu       sync.Mutex
	secret   string
	received []Received
	bad      int
	accept   int // status of an accepted delivery
	down     int // status answered to everything, when not 0
	refuse   bool
	fail     int
}

// New starts an app that accepts deliveries with 204 No Content.
func New(t testing.TB) *App {
	t.Helper()
	a := &App{accept: http.StatusNoContent}
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

func (a *App) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the sender went away mid-request
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down != 0 {
		w.WriteHeader(a.down)
		return
	}
	if s := r.Header.Get(asana.HeaderSecret); s != "" {
		a.secret = s
		w.Header().Set(asana.HeaderSecret, s)
		w.WriteHeader(http.StatusOK)
		return
	}
	if a.refuse || !asana.Verify(asana.NewSecret(a.secret), body, r.Header.Get(asana.HeaderSignature)) {
		a.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if a.fail > 0 {
		a.fail--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	a.received = append(a.received, Received{ID: r.Header.Get(headerDeliveryID), Body: string(body)})
	w.WriteHeader(a.accept)
}

// Secret returns the secret of the latest handshake, "" before any.
func (a *App) Secret() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.secret
}

// SetSecret replaces the app's secret: one it got some other way, or ""
// for an app that restarted and forgot it.
func (a *App) SetSecret(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.secret = s
}

// Received returns the deliveries accepted, in order.
func (a *App) Received() []Received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.received)
}

// Bodies returns the bodies of the deliveries accepted, in order.
func (a *App) Bodies() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, len(a.received))
	for i, r := range a.received {
		out[i] = r.Body
	}
	return out
}

// Bad counts the deliveries refused with 401: a signature that did not
// verify, or Refuse.
func (a *App) Bad() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bad
}

// Accept sets the status of an accepted delivery.
func (a *App) Accept(status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.accept = status
}

// Down makes the app answer status to everything, handshakes included; 0
// brings it back.
func (a *App) Down(status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.down = status
}

// Refuse makes the app refuse every delivery with 401, whatever its
// signature (a broken signature check).
func (a *App) Refuse(refuse bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refuse = refuse
}

// Fail makes the app answer 500 to the next n deliveries it verified.
func (a *App) Fail(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = n
}
