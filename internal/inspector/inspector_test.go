package inspector

import (
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewHookID(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := NewHookID()
		if !ValidHookID(id) {
			t.Fatalf("NewHookID() = %q, not a valid hook id", id)
		}
		if seen[id] {
			t.Fatalf("NewHookID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestValidHookID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"0123456789abcdef0123456789abcdef", true},
		{"0123456789ABCDEF0123456789abcdef", false},
		{"0123456789abcdef0123456789abcde", false},
		{"0123456789abcdef0123456789abcdef0", false},
		{"0123456789abcdef0123456789abcdeg", false},
		{"", false},
		{"../../../../../../../../etc/passw", false},
	}
	for _, tt := range tests {
		if got := ValidHookID(tt.id); got != tt.want {
			t.Errorf("ValidHookID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestHandshakeWindows(t *testing.T) {
	var w HandshakeWindows
	if w.IsOpen("a") {
		t.Fatal("zero HandshakeWindows has an open window")
	}
	w.Open("a")
	if !w.IsOpen("a") || w.IsOpen("b") {
		t.Fatalf("after Open(a): IsOpen(a)=%v IsOpen(b)=%v, want true false", w.IsOpen("a"), w.IsOpen("b"))
	}
	w.Open("a")
	w.Close("a")
	if !w.IsOpen("a") {
		t.Fatal("a window opened twice closed after one Close")
	}
	w.Close("a")
	if w.IsOpen("a") {
		t.Fatal("window still open after closing every opening")
	}
	w.Close("a") // closing a closed window is harmless
	if w.IsOpen("a") {
		t.Fatal("extra Close opened the window")
	}

	// Concurrent use, checked by -race.
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := string(rune('a' + i%4))
			w.Open(id)
			_ = w.IsOpen(id)
			w.Close(id)
		}()
	}
	wg.Wait()
	for _, id := range []string{"a", "b", "c", "d"} {
		if w.IsOpen(id) {
			t.Errorf("window %s left open after balanced concurrent use", id)
		}
	}
}

func TestRedactHeaders(t *testing.T) {
	in := http.Header{
		"X-Hook-Secret":    {"s3cret"},
		"X-Hook-Signature": {"abcd"},
		"Authorization":    {"Bearer token"},
		"Cookie":           {"a=b"},
		"x-hook-secret":    {"lowercase-key"},
		"Content-Type":     {"application/json"},
	}
	want := http.Header{
		"X-Hook-Secret":    {Redacted},
		"X-Hook-Signature": {Redacted},
		"Authorization":    {Redacted},
		"Cookie":           {Redacted},
		"x-hook-secret":    {Redacted},
		"Content-Type":     {"application/json"},
	}
	got := RedactHeaders(in)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RedactHeaders (-want +got):\n%s", diff)
	}
	if in.Get("X-Hook-Secret") != "s3cret" {
		t.Error("RedactHeaders modified its argument")
	}
}

func TestParseDeliveryBody(t *testing.T) {
	ev := `{"action":"changed","resource":{"gid":"222","resource_type":"task"},"user":null}`
	tests := []struct {
		name       string
		body       string
		kind       Kind
		events     int
		wantAction string
	}{
		{"events", `{"events":[` + ev + `,` + ev + `]}`, KindEvents, 2, "changed"},
		{"heartbeat", `{"events":[]}`, KindHeartbeat, 0, ""},
		{"heartbeat with spaces", " {\"events\" : [ ] }\n", KindHeartbeat, 0, ""},
		{"extra top-level key", `{"events":[` + ev + `],"x":1}`, KindEvents, 1, "changed"},
		{"not json", `hello`, KindMalformed, 0, ""},
		{"empty", ``, KindMalformed, 0, ""},
		{"array", `[]`, KindMalformed, 0, ""},
		{"no events key", `{"data":[]}`, KindMalformed, 0, ""},
		{"other case", `{"EVENTS":[]}`, KindMalformed, 0, ""},
		{"events null", `{"events":null}`, KindMalformed, 0, ""},
		{"events object", `{"events":{}}`, KindMalformed, 0, ""},
		{"event not an object", `{"events":[1]}`, KindMalformed, 0, ""},
		{"event with duplicate keys", `{"events":[{"a":1,"a":2}]}`, KindMalformed, 0, ""},
		{"odd field types", `{"events":[{"action":7,"resource":"x"}]}`, KindEvents, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseDeliveryBody([]byte(tt.body))
			if got.Kind != tt.kind || len(got.Events) != tt.events {
				t.Fatalf("ParseDeliveryBody = kind %s, %d events (problem %q); want %s, %d", got.Kind, len(got.Events), got.Problem, tt.kind, tt.events)
			}
			if (got.Kind == KindMalformed) != (got.Problem != "") {
				t.Errorf("kind %s with problem %q", got.Kind, got.Problem)
			}
			for _, e := range got.Events {
				if len(e.Key) != 64 {
					t.Errorf("event key %q", e.Key)
				}
				if e.Action != tt.wantAction {
					t.Errorf("Action = %q, want %q", e.Action, tt.wantAction)
				}
			}
			if tt.name == "events" {
				e := got.Events[0]
				if e.ResourceGID != "222" || e.ResourceType != "task" || string(e.Raw) != ev {
					t.Errorf("event = %+v", e)
				}
			}
		})
	}
}
