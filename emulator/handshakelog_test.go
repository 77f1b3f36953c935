package emulator_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

// syncBuffer is a bytes.Buffer safe for the emulator's goroutines.
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

// TestFailedHandshakeLoggedOnce: a create whose handshake fails is logged
// once (by the delivery engine, which ran it), not also by the API handler.
func TestFailedHandshakeLoggedOnce(t *testing.T) {
	var logs syncBuffer
	srv := emulatortest.New(t, emulatortest.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	rc := newReceiver(t)
	rc.noEcho = true
	r := call(t, srv, srv.Token(), "POST", "/webhooks", map[string]any{"data": map[string]any{"resource": srv.ProjectGID(), "target": rc.URL}})
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if n := strings.Count(logs.String(), "handshake failed"); n != 1 {
		t.Errorf("the failed handshake was logged %d times, want 1:\n%s", n, logs.String())
	}
}
