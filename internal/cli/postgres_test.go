package cli

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/postgres"
	"github.com/asana-webhooks/asana-webhooks/internal/postgres/pgtest"
)

// TestDeliveriesPostgres reads deliveries stored in PostgreSQL through
// `deliveries list` and `deliveries show` with --db set to its URL.
func TestDeliveriesPostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := t.Context()
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rn := inspector.Run{ID: inspector.NewHookID(), StartedAt: time.Now(), PublicURL: "https://example.test"}
	hook := inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1200000000000002"}, Target: "https://example.test/hooks/x", RunID: rn.ID}
	ev, err := inspector.NewIncomingEvent([]byte(`{"action":"changed","resource":{"gid":"1200000000000077","resource_type":"task"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRun(ctx, rn); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateHook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	res, err := st.RecordDelivery(ctx, inspector.Delivery{HookID: hook.ID, Kind: inspector.KindEvents, Body: []byte(`{"events":[]}`)},
		[]inspector.IncomingEvent{ev})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"list", []string{"deliveries", "list", "--db", dsn, "--json"}, fmt.Sprintf(`"id":%d`, res.Delivery.ID)},
		{"show", []string{"deliveries", "show", "--db", dsn, fmt.Sprint(res.Delivery.ID)}, "1200000000000077"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, invocation{args: tt.args})
			if r.code != ExitOK || !strings.Contains(r.stdout, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %q in stdout", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}

	// A wrong password is an error that does not show it.
	u, _ := url.Parse(dsn)
	u.User = url.UserPassword("nobody", "pw-hunter2")
	u.Host = "127.0.0.1:1"
	r := run(t, invocation{args: []string{"deliveries", "list", "--db", u.String()}})
	if r.code != ExitError || strings.Contains(r.stderr+r.stdout, "pw-hunter2") {
		t.Errorf("unreachable database: exit %d, stderr %q", r.code, r.stderr)
	}
}
