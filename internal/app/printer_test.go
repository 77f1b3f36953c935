package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

func TestEventLine(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"changed with everything",
			`{"user":{"gid":"10","resource_type":"user"},"created_at":"2026-12-04T12:00:00.000Z","action":"changed","resource":{"gid":"20","resource_type":"task","resource_subtype":"milestone"},"parent":null,"change":{"field":"name","action":"changed"}}`,
			"changed  task/milestone 20  field=name (changed)  by=user 10"},
		{"added with parent",
			`{"action":"added","resource":{"gid":"30","resource_type":"story","resource_subtype":"comment_added"},"parent":{"gid":"20","resource_type":"task"},"user":{"gid":"10","resource_type":"user"}}`,
			"added  story/comment_added 30  parent=task 20  by=user 10"},
		{"no user", `{"action":"deleted","resource":{"gid":"20","resource_type":"task","resource_subtype":"default_task"}}`,
			"deleted  task 20"},
		{"names as the events command prints them", `{"action":"added","resource":{"gid":"20","resource_type":"task","name":"Buy milk"},"user":{"gid":"10","resource_type":"user","name":"Ann"}}`,
			`added  task 20 "Buy milk"  by=user 10 "Ann"`},
		{"control characters", "{\"action\":\"chan\\u001b[2Jged\",\"resource\":{\"gid\":\"1\",\"resource_type\":\"task\"}}",
			"chan?[2Jged  task 1"},
		{"odd types", `{"action":7,"resource":"x"}`, "7  (unusual event)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EventLine(json.RawMessage(tt.raw)); got != tt.want {
				t.Errorf("EventLine = %q, want %q", got, tt.want)
			}
		})
	}
}

// printed runs one delivery through a printer and returns stdout and stderr.
func printed(t *testing.T, jsonOut, verbose bool, kind inspector.Kind, body string, receipts []inspector.EventReceipt) (hookID, stdout, stderr string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dbPath(t), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run := inspector.NewHookID()
	hookID = inspector.NewHookID()
	if err := st.CreateRun(ctx, inspector.Run{ID: run, PublicURL: "https://x.example"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateHook(ctx, inspector.Hook{ID: hookID, RunID: run, Resource: asana.Compact{GID: "1200"}, Target: "https://x.example/hooks/" + hookID}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveHandshake(ctx, hookID, asana.NewSecret("printer-secret")); err != nil {
		t.Fatal(err)
	}
	if err := st.ActivateHook(ctx, hookID, "4242"); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	p := newPrinter(st, &out, &errOut, jsonOut, verbose, slog.New(slog.NewTextHandler(io.Discard, nil)))
	at = time.Date(2026, 12, 4, 12, 30, 45, 0, time.UTC)
	parsed := inspector.ParseDeliveryBody([]byte(body))
	newCount := 0
	for _, r := range receipts {
		if r.New {
			newCount++
		}
	}
	p.delivery(inspector.RecordResult{
		Delivery: inspector.Delivery{ID: 1, HookID: hookID, ReceivedAt: at, Body: []byte(body), Kind: kind, Problem: parsed.Problem,
			EventCount: len(parsed.Events), NewEventCount: newCount,
			Headers: http.Header{"X-Hook-Signature": {"abcdef"}, "Content-Type": {"application/json"}}},
		Events: receipts,
	})
	p.close()
	return hookID, out.String(), errOut.String(), at
}

const (
	ev1 = `{"action":"added","resource":{"gid":"20","resource_type":"task"},"parent":{"gid":"1200","resource_type":"project"},"user":{"gid":"10","resource_type":"user"}}`
	ev2 = `{"resource":{"resource_type":"task","gid":"20"},"action":"changed","change":{"field":"notes","action":"changed"},"user":{"gid":"10","resource_type":"user"}}`
)

func TestPrinterTerminal(t *testing.T) {
	receipts := []inspector.EventReceipt{{Position: 0, New: true}, {Position: 1, New: false}}
	hookID, out, _, at := printed(t, false, true, inspector.KindEvents, `{"events":[`+ev1+`,`+ev2+`]}`, receipts)
	want := strings.Join([]string{
		clock(at) + "  webhook 4242 (hook " + hookID[:8] + ")  2 events, 1 new",
		"    Content-Type: application/json",
		"    X-Hook-Signature: " + inspector.Redacted,
		"    added  task 20  parent=project 1200  by=user 10",
		"    changed  task 20  field=notes (changed)  by=user 10  (seen before)",
	}, "\n") + "\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("terminal output (-want +got):\n%s", diff)
	}

	hookID, out, _, at = printed(t, false, false, inspector.KindHeartbeat, `{"events":[]}`, nil)
	if want := clock(at) + "  webhook 4242 (hook " + hookID[:8] + ")  heartbeat\n"; out != want {
		t.Errorf("heartbeat line = %q, want %q", out, want)
	}
	_, out, _, _ = printed(t, false, false, inspector.KindMalformed, `{"data":1}`, nil)
	if !strings.Contains(out, `malformed body stored: body has no "events" key`) {
		t.Errorf("malformed line = %q", out)
	}
}

func TestPrinterJSON(t *testing.T) {
	receipts := []inspector.EventReceipt{{Position: 0, New: true}, {Position: 1, New: false}}
	hookID, out, errOut, at := printed(t, true, true, inspector.KindEvents, `{"events":[`+ev1+`,`+ev2+`]}`, receipts)
	if errOut != "" {
		t.Errorf("stderr = %q", errOut)
	}
	stamp, _ := json.Marshal(at)
	// -v: the headers, redacted, in each object.
	hdr := `,"headers":{"Content-Type":["application/json"],"X-Hook-Signature":["` + inspector.Redacted + `"]}`
	want := `{"event":` + ev1 + `,"webhook":"4242","hook_id":"` + hookID + `","received_at":` + string(stamp) + `,"new":true` + hdr + `}` + "\n" +
		`{"event":` + ev2 + `,"webhook":"4242","hook_id":"` + hookID + `","received_at":` + string(stamp) + `,"new":false` + hdr + `}` + "\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("--json output (-want +got):\n%s", diff)
	}
	hookID, out, _, _ = printed(t, true, false, inspector.KindHeartbeat, `{"events":[]}`, nil)
	want = `{"heartbeat":true,"webhook":"4242","hook_id":"` + hookID + `","received_at":` + string(stamp) + "}\n"
	if out != want {
		t.Errorf("heartbeat line = %q, want %q", out, want)
	}
}
