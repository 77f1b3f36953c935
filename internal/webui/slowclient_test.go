package webui

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStreamDropsClientThatDoesNotRead: a feed client that stops reading
// (a frozen tab, a stalled proxy) cannot hold its stream's goroutine and
// connection for ever: a write that cannot finish within StreamWriteTimeout
// ends the stream and its subscription. The publisher never waits meanwhile.
func TestStreamDropsClientThatDoesNotRead(t *testing.T) {
	f := newFixture(t)
	ui, err := New(Config{Reader: f.store, Actions: f.actions, Feed: f.feed, StreamWriteTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ui.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(ui.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	last := f.deliveries[len(f.deliveries)-1]
	if _, err := fmt.Fprintf(conn, "GET /events/stream?after=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", last); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the stream subscribed", func() bool { return f.feed.Subscribers() == 1 })

	// Big rows (long resource names), far more than the socket buffers
	// hold, while the client reads nothing.
	name := strings.Repeat("n", 16<<10)
	for d := range 12 {
		var evs []json.RawMessage
		for i := range 100 {
			evs = append(evs, json.RawMessage(fmt.Sprintf(`{"action":"changed","resource":{"gid":"%d","resource_type":"task","name":%q}}`, d*1000+i, name)))
		}
		start := time.Now()
		f.record(evs)
		if took := time.Since(start); took > 20*time.Second {
			t.Fatalf("recording a delivery took %s: the publisher waited for the slow client", took)
		}
	}
	waitUntil(t, "the stream of the client that does not read to end", func() bool { return f.feed.Subscribers() == 0 })
}

// waitUntil polls cond until it holds or a generous deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
