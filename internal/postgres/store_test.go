package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/postgres/pgtest"
	"github.com/asana-webhooks/asana-webhooks/internal/storetest"
)

// newSchema gives a test a schema of its own (see pgtest.Schema).
func newSchema(t testing.TB) string {
	t.Helper()
	return pgtest.Schema(t)
}

// open opens a store on dsn, closed at the test's cleanup.
func open(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (inspector.Store, func(t *testing.T) inspector.Store) {
		dsn := newSchema(t)
		s := open(t, dsn)
		return s, func(t *testing.T) inspector.Store {
			t.Helper()
			return open(t, dsn)
		}
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	dsn := newSchema(t)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	count := func(s *Store) int {
		t.Helper()
		var n int
		if err := s.pool.QueryRow(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Replicas starting at once: each migration is applied exactly once.
	const replicas = 4
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(t.Context(), dsn, Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if got := count(stores[0]); got != len(ms) {
		t.Errorf("%d migrations recorded after concurrent opens, want %d", got, len(ms))
	}

	// Opening again applies nothing twice.
	for range 2 {
		s := open(t, dsn)
		if got := count(s); got != len(ms) {
			t.Errorf("after reopen: %d migrations recorded, want %d", got, len(ms))
		}
		s.Close()
	}

	// A schema from a newer program is refused, not damaged.
	if _, err := stores[0].pool.Exec(t.Context(), "INSERT INTO schema_migrations VALUES (9999, 'future', now())"); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), dsn, Options{}); err == nil {
		s.Close()
		t.Fatal("Open accepted a schema newer than the program")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: %v", err)
	}
}

// TestReplicas runs two stores (two pools, as two inspector processes) on one
// schema: each sees the other's hooks, secrets and deliveries, and a
// redelivery recorded by one after the other is counted as seen.
func TestReplicas(t *testing.T) {
	dsn := newSchema(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := t.Context()
	run := inspector.Run{ID: inspector.NewHookID(), StartedAt: time.Now(), PublicURL: "https://example.test"}
	if err := a.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	hook := inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1"}, Target: "https://example.test/hooks/x", RunID: run.ID}
	if err := a.CreateHook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveHandshake(ctx, hook.ID, asana.NewSecret("replica-secret")); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveHandshake(ctx, hook.ID, asana.NewSecret("other-secret")); !errors.Is(err, inspector.ErrSecretConflict) {
		t.Errorf("replica B's different handshake: %v, want ErrSecretConflict", err)
	} else if strings.Contains(err.Error(), "other-secret") {
		t.Error("the conflict error holds the secret")
	}
	if err := a.ActivateHook(ctx, hook.ID, "4242"); err != nil {
		t.Fatal(err)
	}

	got, err := b.GetHookByGID(ctx, "4242")
	if err != nil {
		t.Fatalf("replica B: GetHookByGID: %v", err)
	}
	if got.ID != hook.ID || got.State != inspector.HookActive || !got.HasSecret {
		t.Errorf("replica B sees hook %s state %s secret %v", got.ID, got.State, got.HasSecret)
	}
	if sec, err := b.Secret(ctx, hook.ID); err != nil || sec.Reveal() != "replica-secret" {
		t.Errorf("replica B: Secret: err %v, intact %v", err, sec.Reveal() == "replica-secret")
	}

	ev, err := inspector.NewIncomingEvent([]byte(`{"action":"changed","resource":{"gid":"7","resource_type":"task"}}`))
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.RecordDelivery(ctx, inspector.Delivery{HookID: hook.ID, Kind: inspector.KindEvents}, []inspector.IncomingEvent{ev})
	if err != nil {
		t.Fatalf("replica A: RecordDelivery: %v", err)
	}
	again, err := b.RecordDelivery(ctx, inspector.Delivery{HookID: hook.ID, Kind: inspector.KindEvents}, []inspector.IncomingEvent{ev})
	if err != nil {
		t.Fatalf("replica B: RecordDelivery: %v", err)
	}
	if !first.Events[0].New || again.Events[0].New || again.Events[0].Receipts != 2 ||
		again.Events[0].EventID != first.Events[0].EventID || again.Delivery.NewEventCount != 0 {
		t.Errorf("redelivery via replica B: first %+v, again %+v; want the same event, seen, 2 receipts", first.Events[0], again.Events[0])
	}
	detail, err := a.GetDelivery(ctx, again.Delivery.ID)
	if err != nil {
		t.Fatalf("replica A: GetDelivery of B's delivery: %v", err)
	}
	if len(detail.Events) != 1 || detail.Events[0].New || detail.Events[0].Event.Receipts != 2 {
		t.Errorf("replica A sees B's delivery as %+v", detail)
	}
	for name, s := range map[string]*Store{"A": a, "B": b} {
		st, err := s.Stats(ctx, hook.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Deliveries != 2 || st.Events != 1 || st.Receipts != 2 {
			t.Errorf("replica %s: %d deliveries, %d events, %d receipts; want 2, 1, 2", name, st.Deliveries, st.Events, st.Receipts)
		}
	}

	// A secret discarded on one replica is gone on the other at once: no
	// cache outlives it.
	if err := a.MarkHookFailed(ctx, hook.ID, "rejected"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Secret(ctx, hook.ID); err != nil {
		t.Fatalf("replica B: Secret before discard: %v", err)
	}
	if err := a.DiscardSecret(ctx, hook.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Secret(ctx, hook.ID); !errors.Is(err, inspector.ErrNoSecret) {
		t.Errorf("replica B: Secret after A discarded it: %v, want ErrNoSecret", err)
	}
}

// TestDurableSettings checks that every connection commits with
// synchronous_commit on, even when the URL asks for off.
func TestDurableSettings(t *testing.T) {
	dsn := newSchema(t)
	tests := []struct {
		name string
		dsn  string
	}{
		{"default", dsn},
		{"url turns it off", dsn + "&synchronous_commit=off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, tt.dsn)
			var v string
			if err := s.pool.QueryRow(t.Context(), "SHOW synchronous_commit").Scan(&v); err != nil {
				t.Fatal(err)
			}
			if v != "on" {
				t.Errorf("synchronous_commit = %s, want on", v)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, dsn, hidden string
	}{
		{"bad url", "postgres://u:hunter2@[::1", "hunter2"},
		{"unreachable", "postgres://u:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=5", "hunter2"},
		{"password parameter", "postgres://u@127.0.0.1:1/db?sslmode=disable&password=hunter2&connect_timeout=5", "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.dsn, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), tt.hidden) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestIsURL(t *testing.T) {
	tests := []struct {
		dsn  string
		want bool
	}{
		{"postgres://h/db", true},
		{"postgresql://h/db", true},
		{"POSTGRES://h/db", true},
		{"inspector.db", false},
		{"/var/lib/postgres/inspector.db", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			if got := IsURL(tt.dsn); got != tt.want {
				t.Errorf("IsURL(%q) = %v, want %v", tt.dsn, got, tt.want)
			}
		})
	}
}

// TestReplicasConcurrentDedup records the same event at once through two
// replicas: exactly one receipt is new, and every one is counted.
func TestReplicasConcurrentDedup(t *testing.T) {
	dsn := newSchema(t)
	replicas := []*Store{open(t, dsn), open(t, dsn)}
	ctx := t.Context()
	run := inspector.Run{ID: inspector.NewHookID(), StartedAt: time.Now(), PublicURL: "https://example.test"}
	if err := replicas[0].CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	hook := inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1"}, Target: "https://example.test/hooks/x", RunID: run.ID}
	if err := replicas[1].CreateHook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	shared, err := inspector.NewIncomingEvent([]byte(`{"action":"changed","resource":{"gid":"7","resource_type":"task"}}`))
	if err != nil {
		t.Fatal(err)
	}
	const deliveries = 32
	results := make([]inspector.RecordResult, deliveries)
	errs := make([]error, deliveries)
	var wg sync.WaitGroup
	for i := range deliveries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own, err := inspector.NewIncomingEvent([]byte(`{"action":"added","n":` + strconv.Itoa(i) + `}`))
			if err != nil {
				errs[i] = err
				return
			}
			// Half the deliveries list the shared event first, half last.
			events := []inspector.IncomingEvent{shared, own}
			if i%2 == 1 {
				events = []inspector.IncomingEvent{own, shared}
			}
			results[i], errs[i] = replicas[i%2].RecordDelivery(ctx, inspector.Delivery{HookID: hook.ID, Kind: inspector.KindEvents}, events)
		}()
	}
	wg.Wait()
	newShared := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		for _, r := range results[i].Events {
			if r.Key == shared.Key && r.New {
				newShared++
			}
		}
	}
	if newShared != 1 {
		t.Errorf("the shared event was new in %d deliveries, want 1", newShared)
	}
	st, err := replicas[0].Stats(ctx, hook.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Deliveries != deliveries || st.Events != deliveries+1 || st.Receipts != 2*deliveries {
		t.Errorf("%d deliveries, %d events, %d receipts; want %d, %d, %d",
			st.Deliveries, st.Events, st.Receipts, deliveries, deliveries+1, 2*deliveries)
	}
}
