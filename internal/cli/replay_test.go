package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/gateway/gatewaytest"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// TestDeliveriesReplay sends a stored delivery to an app again, signed with
// the secret on record for its URL; a URL with no handshake on record, an
// unknown delivery and an app that refuses are errors (exit 1), a bad id a
// usage error.
func TestDeliveriesReplay(t *testing.T) {
	ctx := t.Context()
	const secret = "replay-secret-6f1e"
	appSrv := gatewaytest.New(t)
	appSrv.SetSecret(secret) // as if inspect --forward-to had done the handshake
	url := appSrv.URL + "/asana/webhook"

	db := filepath.Join(t.TempDir(), "inspector.db")
	st, err := sqlite.Open(ctx, db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rn := inspector.Run{ID: inspector.NewHookID(), StartedAt: time.Now(), PublicURL: "https://example.test"}
	hook := inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1200000000000002"}, Target: "https://example.test/hooks/x", RunID: rn.ID}
	body := `{"events":[{"action":"added","resource":{"gid":"1200000000000077","resource_type":"task"}}]}`
	parsed := inspector.ParseDeliveryBody([]byte(body))
	if err := st.CreateRun(ctx, rn); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateHook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	res, err := st.RecordDelivery(ctx, inspector.Delivery{HookID: hook.ID, Kind: parsed.Kind, Body: []byte(body)}, parsed.Events)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveForwardTarget(ctx, inspector.ForwardTarget{URL: url, Secret: asana.NewSecret(secret), Cursor: res.Delivery.ID}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprint(res.Delivery.ID)

	r := run(t, invocation{args: []string{"deliveries", "replay", id, "--forward-to", url, "--db", db}})
	if r.code != ExitOK || !strings.Contains(r.stdout, "delivery "+id+" (events): 204 No Content") {
		t.Fatalf("replay: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := appSrv.Bodies(); len(got) != 1 || got[0] != body {
		t.Errorf("the app got %q, want the stored body once", got)
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Error("the secret was printed")
	}

	tests := []struct {
		name   string
		args   []string
		refuse bool
		code   int
		want   string
	}{
		{"no handshake on record", []string{id, "--forward-to", appSrv.URL + "/other"}, false, ExitError, "no handshake with " + appSrv.URL + "/other is on record"},
		{"unknown delivery", []string{"999999", "--forward-to", url}, false, ExitError, "1 of 1 deliveries were not accepted"},
		{"the app refuses", []string{id, "--forward-to", url}, true, ExitError, "1 of 1 deliveries were not accepted"},
		{"bad id", []string{"x", "--forward-to", url}, false, ExitUsage, `delivery id "x"`},
		{"no URL", []string{id}, false, ExitUsage, "--forward-to is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			appSrv.Refuse(tt.refuse)
			r := run(t, invocation{args: append([]string{"deliveries", "replay", "--db", db}, tt.args...)})
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
		})
	}
}
