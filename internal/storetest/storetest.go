// Package storetest is the contract every inspector.Store implementation
// passes: one suite, run against SQLite and PostgreSQL alike, so the backends
// cannot drift apart.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// Opener opens a new, empty store for one test and returns it with a
// function that opens the same storage again (the same file, the same schema)
// after the suite has closed the first store. The opener should register a
// t.Cleanup that closes what it opened; Close must be safe to call twice.
type Opener func(t *testing.T) (store inspector.Store, reopen func(t *testing.T) inspector.Store)

// Run runs the contract suite against the stores open makes.
func Run(t *testing.T, open Opener) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Runs", testRuns},
		{"CreateHook", testCreateHook},
		{"HookTransitions", testHookTransitions},
		{"ListHooks", testListHooks},
		{"SecretRoundTrip", testSecretRoundTrip},
		{"Handshake", testHandshake},
		{"DiscardSecret", testDiscardSecret},
		{"RecordDelivery", testRecordDelivery},
		{"RecordDeliveryRejects", testRecordDeliveryRejects},
		{"Dedup", testDedup},
		{"ConcurrentDurable", testConcurrentDurable},
		{"Reopen", testReopen},
		{"DeliveryFilters", testDeliveryFilters},
		{"EventFilters", testEventFilters},
		{"CancelledContext", testCancelledContext},
		{"Closed", testClosed},
		{"Forward", testForward},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// base is the time the suite's records start at; deliveries go forward from
// it by the second.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535_897_000, time.UTC)

// fixture is a store with one run and helpers to make hooks in it.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	store  inspector.Store
	reopen func(t *testing.T) inspector.Store
	run    inspector.Run
}

func newFixture(t *testing.T, open Opener) *fixture {
	t.Helper()
	s, reopen := open(t)
	f := &fixture{t: t, ctx: t.Context(), store: s, reopen: reopen,
		run: inspector.Run{ID: inspector.NewHookID(), StartedAt: base, PublicURL: "https://abc.ngrok-free.app"}}
	if err := s.CreateRun(f.ctx, f.run); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	return f
}

// hook creates a pending hook on a resource.
func (f *fixture) hook(resourceGID string) inspector.Hook {
	f.t.Helper()
	id := inspector.NewHookID()
	h := inspector.Hook{
		ID:           id,
		Resource:     asana.Compact{GID: resourceGID, ResourceType: "project", Name: "Project " + resourceGID},
		WorkspaceGID: "1000",
		Target:       f.run.PublicURL + "/hooks/" + id + "?project=" + resourceGID,
		Filters:      []asana.Filter{{ResourceType: "task", Action: "changed", Fields: []string{"completed"}}},
		RunID:        f.run.ID,
		CreatedAt:    base,
	}
	if err := f.store.CreateHook(f.ctx, h); err != nil {
		f.t.Fatalf("CreateHook: %v", err)
	}
	got, err := f.store.GetHook(f.ctx, id)
	if err != nil {
		f.t.Fatalf("GetHook after CreateHook: %v", err)
	}
	return got
}

// activeHook creates a hook with a secret and a gid.
func (f *fixture) activeHook(resourceGID, secret string) inspector.Hook {
	f.t.Helper()
	h := f.hook(resourceGID)
	if err := f.store.SaveHandshake(f.ctx, h.ID, asana.NewSecret(secret)); err != nil {
		f.t.Fatalf("SaveHandshake: %v", err)
	}
	if err := f.store.ActivateHook(f.ctx, h.ID, "9"+h.ID[:12]); err != nil {
		f.t.Fatalf("ActivateHook: %v", err)
	}
	got, err := f.store.GetHook(f.ctx, h.ID)
	if err != nil {
		f.t.Fatalf("GetHook: %v", err)
	}
	return got
}

// event returns a webhook event about a task.
func event(taskGID, field string, at time.Time) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"user":{"gid":"111","resource_type":"user"},"created_at":%q,"action":"changed",`+
		`"resource":{"gid":%q,"resource_type":"task","resource_subtype":"default_task"},"parent":null,`+
		`"change":{"field":%q,"action":"changed"}}`, at.Format("2006-01-02T15:04:05.000Z"), taskGID, field))
}

// incoming prepares raw events for RecordDelivery.
func incoming(t *testing.T, raws ...json.RawMessage) []inspector.IncomingEvent {
	t.Helper()
	out := make([]inspector.IncomingEvent, len(raws))
	for i, raw := range raws {
		ev, err := inspector.NewIncomingEvent(raw)
		if err != nil {
			t.Fatalf("NewIncomingEvent(%s): %v", raw, err)
		}
		out[i] = ev
	}
	return out
}

// delivery builds a delivery of events (a heartbeat when there are none).
func delivery(hookID string, at time.Time, raws ...json.RawMessage) inspector.Delivery {
	body, _ := json.Marshal(map[string][]json.RawMessage{"events": append([]json.RawMessage{}, raws...)})
	kind := inspector.KindEvents
	if len(raws) == 0 {
		kind = inspector.KindHeartbeat
	}
	return inspector.Delivery{
		HookID:     hookID,
		ReceivedAt: at,
		RequestID:  "req-" + at.Format("150405.000000"),
		RemoteAddr: "127.0.0.1:5555",
		Query:      "project=123",
		Headers:    http.Header{"Content-Type": {"application/json"}, "X-Hook-Signature": {inspector.Redacted}},
		Body:       body,
		Kind:       kind,
	}
}

func (f *fixture) record(d inspector.Delivery, raws ...json.RawMessage) inspector.RecordResult {
	f.t.Helper()
	res, err := f.store.RecordDelivery(f.ctx, d, incoming(f.t, raws...))
	if err != nil {
		f.t.Fatalf("RecordDelivery: %v", err)
	}
	return res
}

func (f *fixture) stats(hookID string) inspector.Stats {
	f.t.Helper()
	st, err := f.store.Stats(f.ctx, hookID)
	if err != nil {
		f.t.Fatalf("Stats: %v", err)
	}
	return st
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

// hookOpts compares hooks, ignoring the times the store sets itself.
var hookOpts = cmp.Options{cmpopts.IgnoreFields(inspector.Hook{}, "UpdatedAt"), cmpopts.EquateEmpty()}

func testRuns(t *testing.T, open Opener) {
	f := newFixture(t, open)
	got, err := f.store.GetRun(f.ctx, f.run.ID)
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	if diff := cmp.Diff(f.run, got); diff != "" {
		t.Errorf("GetRun (-want +got):\n%s", diff)
	}
	second := inspector.Run{ID: inspector.NewHookID(), StartedAt: base.Add(time.Hour), PublicURL: "http://127.0.0.1:9"}
	if err := f.store.CreateRun(f.ctx, second); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	end := base.Add(2 * time.Hour)
	if err := f.store.EndRun(f.ctx, second.ID, end); err != nil {
		t.Fatalf("EndRun: %v", err)
	}
	second.EndedAt = end
	runs, err := f.store.ListRuns(f.ctx)
	if err != nil {
		t.Fatalf("ListRuns: %v", err)
	}
	if diff := cmp.Diff([]inspector.Run{second, f.run}, runs); diff != "" {
		t.Errorf("ListRuns, newest first (-want +got):\n%s", diff)
	}
	_, err = f.store.GetRun(f.ctx, "nope")
	wantErr(t, "GetRun of an unknown run", err, inspector.ErrNotFound)
	wantErr(t, "EndRun of an unknown run", f.store.EndRun(f.ctx, "nope", end), inspector.ErrNotFound)
	wantErr(t, "CreateRun without id", f.store.CreateRun(f.ctx, inspector.Run{}), inspector.ErrInvalid)
}

func testCreateHook(t *testing.T, open Opener) {
	f := newFixture(t, open)
	h := f.hook("123")
	want := inspector.Hook{
		ID:           h.ID,
		Resource:     asana.Compact{GID: "123", ResourceType: "project", Name: "Project 123"},
		WorkspaceGID: "1000",
		Target:       f.run.PublicURL + "/hooks/" + h.ID + "?project=123",
		Filters:      []asana.Filter{{ResourceType: "task", Action: "changed", Fields: []string{"completed"}}},
		State:        inspector.HookPending,
		RunID:        f.run.ID,
		LastRunID:    f.run.ID,
		CreatedAt:    base,
	}
	if diff := cmp.Diff(want, h, hookOpts); diff != "" {
		t.Errorf("created hook (-want +got):\n%s", diff)
	}
	if h.UpdatedAt.IsZero() {
		t.Error("UpdatedAt not set")
	}

	valid := func() inspector.Hook {
		return inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1"}, Target: "https://x/hooks/y", RunID: f.run.ID}
	}
	tests := []struct {
		name   string
		mutate func(h *inspector.Hook)
		want   error
	}{
		{"bad id", func(h *inspector.Hook) { h.ID = "../etc" }, inspector.ErrInvalid},
		{"uppercase id", func(h *inspector.Hook) { h.ID = strings.ToUpper(h.ID) + "A" }, inspector.ErrInvalid},
		{"no target", func(h *inspector.Hook) { h.Target = "" }, inspector.ErrInvalid},
		{"no resource", func(h *inspector.Hook) { h.Resource.GID = "" }, inspector.ErrInvalid},
		{"no run", func(h *inspector.Hook) { h.RunID = "" }, inspector.ErrInvalid},
		{"unknown run", func(h *inspector.Hook) { h.RunID = "unknown" }, inspector.ErrNotFound},
		{"id taken", func(h *inspector.Hook) { h.ID = want.ID }, inspector.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := valid()
			tt.mutate(&bad)
			wantErr(t, "CreateHook", f.store.CreateHook(f.ctx, bad), tt.want)
		})
	}
	// The failed creates changed nothing.
	hooks, err := f.store.ListHooks(f.ctx, inspector.HookFilter{})
	if err != nil {
		t.Fatalf("ListHooks: %v", err)
	}
	if diff := cmp.Diff([]inspector.Hook{h}, hooks, hookOpts); diff != "" {
		t.Errorf("hooks after rejected creates (-want +got):\n%s", diff)
	}
	_, err = f.store.GetHook(f.ctx, inspector.NewHookID())
	wantErr(t, "GetHook of an unknown hook", err, inspector.ErrNotFound)
	_, err = f.store.GetHookByGID(f.ctx, "404")
	wantErr(t, "GetHookByGID of an unknown gid", err, inspector.ErrNotFound)
}

func testHookTransitions(t *testing.T, open Opener) {
	f := newFixture(t, open)
	h := f.hook("123")
	wantErr(t, "ActivateHook without gid", f.store.ActivateHook(f.ctx, h.ID, ""), inspector.ErrInvalid)
	if err := f.store.ActivateHook(f.ctx, h.ID, "555"); err != nil {
		t.Fatalf("ActivateHook: %v", err)
	}
	got, err := f.store.GetHookByGID(f.ctx, "555")
	if err != nil {
		t.Fatalf("GetHookByGID: %v", err)
	}
	if got.ID != h.ID || got.State != inspector.HookActive || got.WebhookGID != "555" {
		t.Errorf("after ActivateHook: id %s state %s gid %s; want %s active 555", got.ID, got.State, got.WebhookGID, h.ID)
	}

	next := inspector.Run{ID: inspector.NewHookID(), StartedAt: base.Add(time.Hour), PublicURL: f.run.PublicURL}
	if err := f.store.CreateRun(f.ctx, next); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	if err := f.store.ReuseHook(f.ctx, h.ID, next.ID, true); err != nil {
		t.Fatalf("ReuseHook: %v", err)
	}
	got, _ = f.store.GetHook(f.ctx, h.ID)
	if got.RunID != f.run.ID || got.LastRunID != next.ID || !got.Keep {
		t.Errorf("after ReuseHook: run %s last run %s keep %v; want %s %s true", got.RunID, got.LastRunID, got.Keep, f.run.ID, next.ID)
	}
	wantErr(t, "ReuseHook by an unknown run", f.store.ReuseHook(f.ctx, h.ID, "unknown", false), inspector.ErrNotFound)

	pending := f.hook("124")
	wantErr(t, "ReuseHook of a pending hook", f.store.ReuseHook(f.ctx, pending.ID, next.ID, false), inspector.ErrInvalidState)
	if err := f.store.MarkHookFailed(f.ctx, pending.ID, "create timed out"); err != nil {
		t.Fatalf("MarkHookFailed: %v", err)
	}
	got, _ = f.store.GetHook(f.ctx, pending.ID)
	if got.State != inspector.HookFailed || got.Note != "create timed out" {
		t.Errorf("after MarkHookFailed: state %s note %q", got.State, got.Note)
	}

	if err := f.store.MarkHookDeleted(f.ctx, h.ID, "deleted on exit"); err != nil {
		t.Fatalf("MarkHookDeleted: %v", err)
	}
	got, _ = f.store.GetHook(f.ctx, h.ID)
	if got.State != inspector.HookDeleted || got.Note != "deleted on exit" {
		t.Errorf("after MarkHookDeleted: state %s note %q", got.State, got.Note)
	}
	wantErr(t, "ActivateHook of a deleted hook", f.store.ActivateHook(f.ctx, h.ID, "556"), inspector.ErrInvalidState)
	wantErr(t, "MarkHookFailed of a deleted hook", f.store.MarkHookFailed(f.ctx, h.ID, "x"), inspector.ErrInvalidState)

	unknown := inspector.NewHookID()
	for name, err := range map[string]error{
		"ActivateHook":    f.store.ActivateHook(f.ctx, unknown, "1"),
		"ReuseHook":       f.store.ReuseHook(f.ctx, unknown, next.ID, false),
		"MarkHookDeleted": f.store.MarkHookDeleted(f.ctx, unknown, ""),
		"MarkHookFailed":  f.store.MarkHookFailed(f.ctx, unknown, ""),
		"DiscardSecret":   f.store.DiscardSecret(f.ctx, unknown),
	} {
		wantErr(t, name+" of an unknown hook", err, inspector.ErrNotFound)
	}
}

func testListHooks(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.activeHook("1", "sa")
	b := f.hook("2")
	c := f.hook("1")
	if err := f.store.MarkHookDeleted(f.ctx, c.ID, ""); err != nil {
		t.Fatal(err)
	}
	other := inspector.Run{ID: inspector.NewHookID(), StartedAt: base, PublicURL: "x"}
	if err := f.store.CreateRun(f.ctx, other); err != nil {
		t.Fatal(err)
	}
	d := inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "3"}, Target: "t", RunID: other.ID, CreatedAt: base.Add(time.Second)}
	if err := f.store.CreateHook(f.ctx, d); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		filter inspector.HookFilter
		want   []string
	}{
		{"all", inspector.HookFilter{}, []string{a.ID, b.ID, c.ID, d.ID}},
		{"pending", inspector.HookFilter{States: []inspector.HookState{inspector.HookPending}}, []string{b.ID, d.ID}},
		{"active or deleted", inspector.HookFilter{States: []inspector.HookState{inspector.HookActive, inspector.HookDeleted}}, []string{a.ID, c.ID}},
		{"resource", inspector.HookFilter{ResourceGID: "1"}, []string{a.ID, c.ID}},
		{"run", inspector.HookFilter{RunID: other.ID}, []string{d.ID}},
		{"run and state", inspector.HookFilter{RunID: f.run.ID, States: []inspector.HookState{inspector.HookPending}}, []string{b.ID}},
		{"nothing", inspector.HookFilter{ResourceGID: "404"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hooks, err := f.store.ListHooks(f.ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListHooks: %v", err)
			}
			var ids []string
			for _, h := range hooks {
				ids = append(ids, h.ID)
			}
			// Hooks made within the same second may list in any order.
			if diff := cmp.Diff(tt.want, ids, cmpopts.SortSlices(func(x, y string) bool { return x < y }), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ListHooks (-want +got):\n%s", diff)
			}
		})
	}
	if !a.HasSecret || b.HasSecret {
		t.Errorf("HasSecret: active %v pending %v, want true false", a.HasSecret, b.HasSecret)
	}
}

func testSecretRoundTrip(t *testing.T, open Opener) {
	f := newFixture(t, open)
	tests := []struct{ name, secret string }{
		{"64 hex", "8a1b6c0d3e2f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091"},
		{"32 hex", "0123456789abcdef0123456789abcdef"},
		{"spaces and symbols", " a b\t'\"\\%_;--"},
		{"unicode", "sécret-秘密-🔑"},
		{"not utf-8", "\xff\xfe\x80\x00raw"},
		{"long", strings.Repeat("s3cr3t", 1000)},
	}
	var hooks []inspector.Hook
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := f.hook("1")
			hooks = append(hooks, h)
			if err := f.store.SaveHandshake(f.ctx, h.ID, asana.NewSecret(tt.secret)); err != nil {
				t.Fatalf("SaveHandshake: %v", err)
			}
			got, err := f.store.Secret(f.ctx, h.ID)
			if err != nil {
				t.Fatalf("Secret: %v", err)
			}
			if got.Reveal() != tt.secret {
				t.Errorf("secret changed in the store: got %d bytes %x, want %d bytes %x",
					len(got.Reveal()), got.Reveal(), len(tt.secret), tt.secret)
			}
			body := []byte(`{"events":[]}`)
			if !asana.Verify(got, body, asana.Sign(asana.NewSecret(tt.secret), body)) {
				t.Error("a signature made with the original secret does not verify with the stored one")
			}
		})
	}
	// And after a reopen.
	s := reopenStore(t, f)
	for i, tt := range tests {
		if i >= len(hooks) {
			break
		}
		got, err := s.Secret(f.ctx, hooks[i].ID)
		if err != nil {
			t.Fatalf("Secret after reopen: %v", err)
		}
		if got.Reveal() != tt.secret {
			t.Errorf("%s: secret changed across reopen", tt.name)
		}
	}
}

// reopenStore closes the fixture's store and opens the same storage again.
func reopenStore(t *testing.T, f *fixture) inspector.Store {
	t.Helper()
	if err := f.store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	f.store = f.reopen(t)
	return f.store
}

func testHandshake(t *testing.T, open Opener) {
	f := newFixture(t, open)
	h := f.hook("1")
	deleted := f.hook("2")
	if err := f.store.MarkHookDeleted(f.ctx, deleted.ID, ""); err != nil {
		t.Fatal(err)
	}
	// A failed hook (its create was rejected or abandoned) takes no secret:
	// a handshake that passed the window check just before the window closed
	// must not give it one after the manager settled it.
	failed := f.hook("3")
	if err := f.store.MarkHookFailed(f.ctx, failed.ID, ""); err != nil {
		t.Fatal(err)
	}
	const first = "first-secret-0123456789abcdef"
	steps := []struct {
		name   string
		hookID string
		secret string
		want   error
	}{
		{"first secret", h.ID, first, nil},
		{"same secret again", h.ID, first, nil},
		{"different secret", h.ID, "attacker-secret", inspector.ErrSecretConflict},
		{"prefix of the secret", h.ID, first[:10], inspector.ErrSecretConflict},
		{"empty secret", h.ID, "", inspector.ErrInvalid},
		{"unknown hook", inspector.NewHookID(), first, inspector.ErrNotFound},
		{"deleted hook", deleted.ID, first, inspector.ErrInvalidState},
		{"failed hook", failed.ID, first, inspector.ErrInvalidState},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			err := f.store.SaveHandshake(f.ctx, st.hookID, asana.NewSecret(st.secret))
			if st.want == nil && err != nil {
				t.Fatalf("SaveHandshake: %v", err)
			}
			if st.want != nil {
				wantErr(t, "SaveHandshake", err, st.want)
				if err != nil && strings.Contains(err.Error(), st.secret) && st.secret != "" {
					t.Errorf("error %q contains the secret", err)
				}
			}
			got, err := f.store.Secret(f.ctx, h.ID)
			if err != nil {
				t.Fatalf("Secret: %v", err)
			}
			if got.Reveal() != first {
				t.Errorf("stored secret changed after %s", st.name)
			}
		})
	}
	_, err := f.store.Secret(f.ctx, deleted.ID)
	wantErr(t, "Secret of a deleted hook that never shook hands", err, inspector.ErrNoSecret)
	_, err = f.store.Secret(f.ctx, inspector.NewHookID())
	wantErr(t, "Secret of an unknown hook", err, inspector.ErrNotFound)

	// Concurrent different secrets: exactly one wins, all others conflict.
	race := f.hook("3")
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.store.SaveHandshake(f.ctx, race.ID, asana.NewSecret(fmt.Sprintf("secret-%d", i)))
		}()
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			got, _ := f.store.Secret(f.ctx, race.ID)
			if got.Reveal() != fmt.Sprintf("secret-%d", i) {
				t.Errorf("winner %d's secret is not the stored one", i)
			}
		case !errors.Is(err, inspector.ErrSecretConflict):
			t.Errorf("racing SaveHandshake: %v", err)
		}
	}
	if winners != 1 {
		t.Errorf("%d racing handshakes won, want exactly 1", winners)
	}
}

func testDiscardSecret(t *testing.T, open Opener) {
	f := newFixture(t, open)
	h := f.hook("1")
	if err := f.store.SaveHandshake(f.ctx, h.ID, asana.NewSecret("pending-secret")); err != nil {
		t.Fatal(err)
	}
	if err := f.store.DiscardSecret(f.ctx, h.ID); err != nil {
		t.Fatalf("DiscardSecret: %v", err)
	}
	_, err := f.store.Secret(f.ctx, h.ID)
	wantErr(t, "Secret after DiscardSecret", err, inspector.ErrNoSecret)
	got, _ := f.store.GetHook(f.ctx, h.ID)
	if got.HasSecret {
		t.Error("HasSecret still true after DiscardSecret")
	}
	// A new handshake may then store another secret.
	if err := f.store.SaveHandshake(f.ctx, h.ID, asana.NewSecret("another")); err != nil {
		t.Fatalf("SaveHandshake after DiscardSecret: %v", err)
	}
	active := f.activeHook("2", "active-secret")
	wantErr(t, "DiscardSecret of an active hook", f.store.DiscardSecret(f.ctx, active.ID), inspector.ErrInvalidState)
	if s, err := f.store.Secret(f.ctx, active.ID); err != nil || s.Reveal() != "active-secret" {
		t.Errorf("active hook's secret after a refused discard: %v", err)
	}
}

func testRecordDelivery(t *testing.T, open Opener) {
	f := newFixture(t, open)
	h := f.activeHook("123", "s")
	e1, e2 := event("1", "completed", base), event("1", "completed_at", base)
	d := delivery(h.ID, base.Add(time.Second), e1, e2)
	res := f.record(d, e1, e2)
	if res.Delivery.ID <= 0 {
		t.Fatalf("delivery id %d", res.Delivery.ID)
	}
	if res.Delivery.EventCount != 2 || res.Delivery.NewEventCount != 2 {
		t.Errorf("counts %d/%d, want 2/2", res.Delivery.EventCount, res.Delivery.NewEventCount)
	}
	if len(res.Events) != 2 || !res.Events[0].New || !res.Events[1].New || res.Events[0].Receipts != 1 ||
		res.Events[0].Position != 0 || res.Events[1].Position != 1 || res.Events[0].EventID == res.Events[1].EventID {
		t.Errorf("receipts %+v", res.Events)
	}

	detail, err := f.store.GetDelivery(f.ctx, res.Delivery.ID)
	if err != nil {
		t.Fatalf("GetDelivery: %v", err)
	}
	want := d
	want.ID, want.EventCount, want.NewEventCount = res.Delivery.ID, 2, 2
	if diff := cmp.Diff(want, detail.Delivery); diff != "" {
		t.Errorf("stored delivery (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(res.Delivery, detail.Delivery); diff != "" {
		t.Errorf("RecordDelivery's delivery differs from the stored one (-returned +stored):\n%s", diff)
	}
	if len(detail.Events) != 2 {
		t.Fatalf("%d events in the delivery, want 2", len(detail.Events))
	}
	for i, raw := range []json.RawMessage{e1, e2} {
		re := detail.Events[i]
		if string(re.Event.Raw) != string(raw) || !re.New || re.Position != i || re.Event.Receipts != 1 ||
			re.Event.HookID != h.ID || re.Event.Action != "changed" || re.Event.ResourceGID != "1" ||
			re.Event.ResourceType != "task" || re.Event.FirstDeliveryID != res.Delivery.ID ||
			!re.Event.FirstSeenAt.Equal(d.ReceivedAt) || re.Event.Key != res.Events[i].Key {
			t.Errorf("event %d stored as %+v", i, re)
		}
	}

	// A heartbeat updates the hook's heartbeat time.
	hb := delivery(h.ID, base.Add(2*time.Second))
	res = f.record(hb)
	if res.Delivery.Kind != inspector.KindHeartbeat || res.Delivery.EventCount != 0 || len(res.Events) != 0 {
		t.Errorf("heartbeat recorded as %+v", res)
	}
	got, _ := f.store.GetHook(f.ctx, h.ID)
	if !got.LastHeartbeatAt.Equal(hb.ReceivedAt) || !got.LastDeliveryAt.Equal(hb.ReceivedAt) {
		t.Errorf("after heartbeat: last heartbeat %v, last delivery %v; want %v", got.LastHeartbeatAt, got.LastDeliveryAt, hb.ReceivedAt)
	}

	// A malformed body is stored as received, with its problem and no events.
	bad := inspector.Delivery{HookID: h.ID, ReceivedAt: base.Add(3 * time.Second), Body: []byte("not json \x00\xff"),
		Kind: inspector.KindMalformed, Problem: "body is not a JSON object", Headers: http.Header{}}
	res = f.record(bad)
	detail, err = f.store.GetDelivery(f.ctx, res.Delivery.ID)
	if err != nil {
		t.Fatalf("GetDelivery: %v", err)
	}
	if string(detail.Delivery.Body) != string(bad.Body) || detail.Delivery.Kind != inspector.KindMalformed ||
		detail.Delivery.Problem != bad.Problem || len(detail.Events) != 0 {
		t.Errorf("malformed delivery stored as %+v", detail)
	}
	got, _ = f.store.GetHook(f.ctx, h.ID)
	if !got.LastHeartbeatAt.Equal(hb.ReceivedAt) || !got.LastDeliveryAt.Equal(bad.ReceivedAt) {
		t.Errorf("after a malformed delivery: last heartbeat %v, last delivery %v", got.LastHeartbeatAt, got.LastDeliveryAt)
	}

	want2 := inspector.Stats{Hooks: map[inspector.HookState]int{inspector.HookActive: 1}, Deliveries: 3, Heartbeats: 1,
		Malformed: 1, Events: 2, Receipts: 2, LastDeliveryAt: bad.ReceivedAt}
	if diff := cmp.Diff(want2, f.stats(h.ID)); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	_, err = f.store.GetDelivery(f.ctx, 1<<40)
	wantErr(t, "GetDelivery of an unknown id", err, inspector.ErrNotFound)
}

func testRecordDeliveryRejects(t *testing.T, open Opener) {
	f := newFixture(t, open)
	h := f.activeHook("1", "s")
	e := event("1", "name", base)
	tests := []struct {
		name   string
		d      inspector.Delivery
		events []inspector.IncomingEvent
		want   error
	}{
		{"unknown hook", delivery(inspector.NewHookID(), base, e), incoming(t, e), inspector.ErrNotFound},
		{"bad kind", func() inspector.Delivery { d := delivery(h.ID, base, e); d.Kind = "weird"; return d }(), incoming(t, e), inspector.ErrInvalid},
		{"heartbeat with events", delivery(h.ID, base), incoming(t, e), inspector.ErrInvalid},
		{"event without key", delivery(h.ID, base, e), []inspector.IncomingEvent{{Raw: e}}, inspector.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.store.RecordDelivery(f.ctx, tt.d, tt.events)
			wantErr(t, "RecordDelivery", err, tt.want)
		})
	}
	if diff := cmp.Diff(inspector.Stats{Hooks: map[inspector.HookState]int{inspector.HookActive: 1}}, f.stats("")); diff != "" {
		t.Errorf("rejected deliveries left traces (-want +got):\n%s", diff)
	}
}

func testDedup(t *testing.T, open Opener) {
	f := newFixture(t, open)
	h := f.activeHook("1", "s")
	other := f.activeHook("1", "t")
	e1, e2, e3 := event("1", "completed", base), event("1", "completed_at", base), event("2", "name", base)
	// The same event with its keys in another order and other spacing.
	e1b := json.RawMessage(`{ "action" : "changed", "change":{"action":"changed","field":"completed"},` +
		`"created_at":"` + base.Format("2006-01-02T15:04:05.000Z") + `","parent":null,` +
		`"resource":{"resource_subtype":"default_task","resource_type":"task","gid":"1"},"user":{"resource_type":"user","gid":"111"}}`)

	first := f.record(delivery(h.ID, base.Add(1*time.Second), e1, e2), e1, e2)
	second := f.record(delivery(h.ID, base.Add(2*time.Second), e1, e2), e1, e2)  // Asana retried
	third := f.record(delivery(h.ID, base.Add(3*time.Second), e1b, e3), e1b, e3) // e1 again, reordered, with a new one
	elsewhere := f.record(delivery(other.ID, base.Add(4*time.Second), e1), e1)   // another hook: its own copy
	tests := []struct {
		name     string
		res      inspector.RecordResult
		newCount int
		news     []bool
		receipts []int
	}{
		{"first delivery", first, 2, []bool{true, true}, []int{1, 1}},
		{"redelivery", second, 0, []bool{false, false}, []int{2, 2}},
		{"reordered keys plus a new event", third, 1, []bool{false, true}, []int{3, 1}},
		{"same event on another hook", elsewhere, 1, []bool{true}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.res.Delivery.NewEventCount != tt.newCount {
				t.Errorf("NewEventCount %d, want %d", tt.res.Delivery.NewEventCount, tt.newCount)
			}
			for i, r := range tt.res.Events {
				if r.New != tt.news[i] || r.Receipts != tt.receipts[i] {
					t.Errorf("event %d: new %v receipts %d, want %v %d", i, r.New, r.Receipts, tt.news[i], tt.receipts[i])
				}
			}
			detail, err := f.store.GetDelivery(f.ctx, tt.res.Delivery.ID)
			if err != nil {
				t.Fatalf("GetDelivery: %v", err)
			}
			if len(detail.Events) != len(tt.news) {
				t.Fatalf("%d events linked to the delivery, want %d", len(detail.Events), len(tt.news))
			}
			for i, re := range detail.Events {
				if re.New != tt.news[i] {
					t.Errorf("stored receipt %d: new %v, want %v", i, re.New, tt.news[i])
				}
			}
		})
	}
	if third.Events[0].EventID != first.Events[0].EventID {
		t.Error("the reordered event got a new row")
	}
	if elsewhere.Events[0].EventID == first.Events[0].EventID {
		t.Error("two hooks share one event row")
	}
	events, err := f.store.ListEvents(f.ctx, inspector.EventFilter{HookID: h.ID})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if len(events) != 3 {
		t.Fatalf("%d distinct events stored for the hook, want 3", len(events))
	}
	for _, ev := range events {
		if ev.ID == first.Events[0].EventID {
			if string(ev.Raw) != string(e1) || ev.Receipts != 3 || !ev.LastSeenAt.Equal(base.Add(3*time.Second)) ||
				!ev.FirstSeenAt.Equal(base.Add(time.Second)) || ev.FirstDeliveryID != first.Delivery.ID {
				t.Errorf("deduplicated event stored as %+v", ev)
			}
		}
	}
	st := f.stats(h.ID)
	if st.Deliveries != 3 || st.Events != 3 || st.Receipts != 6 {
		t.Errorf("Stats: %d deliveries, %d events, %d receipts; want 3, 3, 6", st.Deliveries, st.Events, st.Receipts)
	}
}

func testConcurrentDurable(t *testing.T, open Opener) {
	f := newFixture(t, open)
	h := f.activeHook("1", "s")
	shared := event("shared", "completed", base)
	const workers = 32
	var wg sync.WaitGroup
	results := make([]inspector.RecordResult, workers)
	errs := make([]error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := event(fmt.Sprintf("task-%d", i), "name", base)
			d := delivery(h.ID, base.Add(time.Duration(i)*time.Millisecond), own, shared)
			results[i], errs[i] = f.store.RecordDelivery(f.ctx, d, incoming(t, own, shared))
		}()
	}
	wg.Wait()
	newShared := 0
	ids := map[int64]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("RecordDelivery %d: %v", i, err)
		}
		ids[results[i].Delivery.ID] = true
		if results[i].Events[1].New {
			newShared++
		}
	}
	if len(ids) != workers {
		t.Errorf("%d distinct delivery ids for %d deliveries", len(ids), workers)
	}
	if newShared != 1 {
		t.Errorf("the shared event was new in %d deliveries, want exactly 1", newShared)
	}
	s := reopenStore(t, f)
	st, err := s.Stats(f.ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Deliveries != workers || st.Events != workers+1 || st.Receipts != 2*workers {
		t.Errorf("after reopen: %d deliveries, %d events, %d receipts; want %d, %d, %d",
			st.Deliveries, st.Events, st.Receipts, workers, workers+1, 2*workers)
	}
	for id := range ids {
		if _, err := s.GetDelivery(f.ctx, id); err != nil {
			t.Errorf("delivery %d lost: %v", id, err)
		}
	}
}

func testReopen(t *testing.T, open Opener) {
	f := newFixture(t, open)
	h := f.activeHook("1", "kept-secret")
	pending := f.hook("2")
	if err := f.store.SaveHandshake(f.ctx, pending.ID, asana.NewSecret("pending-secret")); err != nil {
		t.Fatal(err)
	}
	e := event("1", "completed", base)
	res := f.record(delivery(h.ID, base.Add(time.Second), e), e)
	f.record(delivery(h.ID, base.Add(2*time.Second)))
	h, _ = f.store.GetHook(f.ctx, h.ID)
	pending, _ = f.store.GetHook(f.ctx, pending.ID)
	before := f.stats("")
	wantDetail, err := f.store.GetDelivery(f.ctx, res.Delivery.ID)
	if err != nil {
		t.Fatal(err)
	}

	s := reopenStore(t, f)
	for _, want := range []inspector.Hook{h, pending} {
		got, err := s.GetHook(f.ctx, want.ID)
		if err != nil {
			t.Fatalf("GetHook after reopen: %v", err)
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("hook after reopen (-before +after):\n%s", diff)
		}
	}
	for id, want := range map[string]string{h.ID: "kept-secret", pending.ID: "pending-secret"} {
		got, err := s.Secret(f.ctx, id)
		if err != nil || got.Reveal() != want {
			t.Errorf("secret of %s after reopen: err %v, intact %v", id, err, got.Reveal() == want)
		}
	}
	if _, err := s.GetRun(f.ctx, f.run.ID); err != nil {
		t.Errorf("run after reopen: %v", err)
	}
	gotDetail, err := s.GetDelivery(f.ctx, res.Delivery.ID)
	if err != nil {
		t.Fatalf("GetDelivery after reopen: %v", err)
	}
	if diff := cmp.Diff(wantDetail, gotDetail); diff != "" {
		t.Errorf("delivery after reopen (-before +after):\n%s", diff)
	}
	after, err := s.Stats(f.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("stats after reopen (-before +after):\n%s", diff)
	}
	// Redelivery after the reopen is still recognized.
	again, err := s.RecordDelivery(f.ctx, delivery(h.ID, base.Add(3*time.Second), e), incoming(t, e))
	if err != nil {
		t.Fatal(err)
	}
	if again.Events[0].New || again.Events[0].Receipts != 2 {
		t.Errorf("redelivery after reopen: new %v receipts %d, want false 2", again.Events[0].New, again.Events[0].Receipts)
	}
}

func testDeliveryFilters(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.activeHook("100", "a")
	b := f.activeHook("200", "b")
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	var ids []int64 // ids[i] is the delivery received at second i
	for i, spec := range []struct {
		hook string
		task string // "" for a heartbeat
	}{
		{a.ID, "t1"}, {b.ID, "t2"}, {a.ID, ""}, {b.ID, "t1"}, {a.ID, "t3"}, {b.ID, ""},
	} {
		var raws []json.RawMessage
		if spec.task != "" {
			raws = append(raws, event(spec.task, "name", at(i)))
		}
		ids = append(ids, f.record(delivery(spec.hook, at(i), raws...), raws...).Delivery.ID)
	}
	rev := func(is ...int) []int64 { // expected ids, newest first
		out := make([]int64, len(is))
		for j, i := range is {
			out[len(is)-1-j] = ids[i]
		}
		return out
	}
	tests := []struct {
		name   string
		filter inspector.DeliveryFilter
		want   []int64
	}{
		{"all", inspector.DeliveryFilter{}, rev(0, 1, 2, 3, 4, 5)},
		{"hook", inspector.DeliveryFilter{HookID: a.ID}, rev(0, 2, 4)},
		{"watched resource", inspector.DeliveryFilter{ResourceGID: "200"}, rev(1, 3, 5)},
		{"event resource", inspector.DeliveryFilter{ResourceGID: "t1"}, rev(0, 3)},
		{"kind", inspector.DeliveryFilter{Kind: inspector.KindHeartbeat}, rev(2, 5)},
		{"since", inspector.DeliveryFilter{Since: at(4)}, rev(4, 5)},
		{"until", inspector.DeliveryFilter{Until: at(2)}, rev(0, 1)},
		{"range", inspector.DeliveryFilter{Since: at(1), Until: at(4)}, rev(1, 2, 3)},
		{"range and hook", inspector.DeliveryFilter{Since: at(1), Until: at(5), HookID: b.ID}, rev(1, 3)},
		{"limit", inspector.DeliveryFilter{Limit: 2}, rev(4, 5)},
		{"before id", inspector.DeliveryFilter{BeforeID: ids[3], Limit: 2}, rev(1, 2)},
		{"nothing", inspector.DeliveryFilter{HookID: inspector.NewHookID()}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.store.ListDeliveries(f.ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListDeliveries: %v", err)
			}
			var gotIDs []int64
			for _, d := range got {
				gotIDs = append(gotIDs, d.ID)
			}
			if diff := cmp.Diff(tt.want, gotIDs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ListDeliveries (-want +got):\n%s", diff)
			}
		})
	}
}

func testEventFilters(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.activeHook("100", "a")
	b := f.activeHook("200", "b")
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	ea, eb, ec := event("t1", "name", base), event("t2", "name", base), event("t1", "notes", base)
	f.record(delivery(a.ID, at(0), ea), ea)
	f.record(delivery(b.ID, at(1), eb), eb)
	f.record(delivery(a.ID, at(2), ec, ea), ec, ea)
	tests := []struct {
		name   string
		filter inspector.EventFilter
		want   []string // "hook/task/field", newest first
	}{
		{"all", inspector.EventFilter{}, []string{"a/t1/notes", "b/t2/name", "a/t1/name"}},
		{"hook", inspector.EventFilter{HookID: a.ID}, []string{"a/t1/notes", "a/t1/name"}},
		{"resource", inspector.EventFilter{ResourceGID: "t2"}, []string{"b/t2/name"}},
		{"since", inspector.EventFilter{Since: at(1)}, []string{"a/t1/notes", "b/t2/name"}},
		{"until", inspector.EventFilter{Until: at(1)}, []string{"a/t1/name"}},
		{"limit", inspector.EventFilter{Limit: 1}, []string{"a/t1/notes"}},
	}
	name := func(ev inspector.Event) string {
		var parsed struct {
			Change struct{ Field string } `json:"change"`
		}
		_ = json.Unmarshal(ev.Raw, &parsed)
		hook := "a"
		if ev.HookID == b.ID {
			hook = "b"
		}
		return hook + "/" + ev.ResourceGID + "/" + parsed.Change.Field
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.store.ListEvents(f.ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			var names []string
			for _, ev := range got {
				names = append(names, name(ev))
			}
			if diff := cmp.Diff(tt.want, names, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ListEvents (-want +got):\n%s", diff)
			}
		})
	}
}

func testCancelledContext(t *testing.T, open Opener) {
	f := newFixture(t, open)
	h := f.activeHook("1", "s")
	before := f.stats("")
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	e := event("1", "name", base)
	tests := []struct {
		name string
		call func() error
	}{
		{"RecordDelivery", func() error {
			_, err := f.store.RecordDelivery(ctx, delivery(h.ID, base, e), incoming(t, e))
			return err
		}},
		{"SaveHandshake", func() error { return f.store.SaveHandshake(ctx, f.hook("9").ID, asana.NewSecret("x")) }},
		{"CreateHook", func() error {
			return f.store.CreateHook(ctx, inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1"}, Target: "t", RunID: f.run.ID})
		}},
		{"MarkHookDeleted", func() error { return f.store.MarkHookDeleted(ctx, h.ID, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil {
				t.Errorf("%s with a cancelled context succeeded", tt.name)
			}
		})
	}
	after := f.stats("")
	// Only the hook made by the SaveHandshake case (with a live context) is new.
	before.Hooks[inspector.HookPending]++
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("cancelled calls changed the store (-want +got):\n%s", diff)
	}
	got, _ := f.store.GetHook(f.ctx, h.ID)
	if got.State != inspector.HookActive {
		t.Errorf("hook state %s after a cancelled MarkHookDeleted", got.State)
	}

	// Contexts ending while deliveries queue: each call either fails or is
	// stored whole, never half.
	var wg sync.WaitGroup
	type outcome struct {
		res inspector.RecordResult
		err error
	}
	outcomes := make([]outcome, 64)
	for i := range outcomes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(f.ctx, time.Duration(i%8)*100*time.Microsecond)
			defer cancel()
			e1, e2 := event(fmt.Sprintf("c%d", i), "a", base), event(fmt.Sprintf("c%d", i), "b", base)
			res, err := f.store.RecordDelivery(ctx, delivery(h.ID, base.Add(time.Duration(i)*time.Second), e1, e2), incoming(t, e1, e2))
			outcomes[i] = outcome{res, err}
		}()
	}
	wg.Wait()
	deliveries, err := f.store.ListDeliveries(f.ctx, inspector.DeliveryFilter{HookID: h.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deliveries {
		detail, err := f.store.GetDelivery(f.ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(detail.Events) != 2 || d.EventCount != 2 {
			t.Errorf("delivery %d half-written: %d of 2 events linked", d.ID, len(detail.Events))
		}
	}
	for i, o := range outcomes {
		if o.err == nil {
			if _, err := f.store.GetDelivery(f.ctx, o.res.Delivery.ID); err != nil {
				t.Errorf("delivery %d acknowledged but not stored: %v", i, err)
			}
		}
	}
	st := f.stats(h.ID)
	if st.Receipts != 2*st.Deliveries || st.Events != st.Receipts {
		t.Errorf("after cancellations: %d deliveries, %d events, %d receipts", st.Deliveries, st.Events, st.Receipts)
	}
}

func testClosed(t *testing.T, open Opener) {
	f := newFixture(t, open)
	h := f.activeHook("1", "s")
	if err := f.store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.store.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	e := event("1", "name", base)
	_, err := f.store.RecordDelivery(f.ctx, delivery(h.ID, base, e), incoming(t, e))
	wantErr(t, "RecordDelivery after Close", err, inspector.ErrClosed)
	wantErr(t, "SaveHandshake after Close", f.store.SaveHandshake(f.ctx, h.ID, asana.NewSecret("s")), inspector.ErrClosed)
}

// testForward: the gateway's state (inspector.ForwardStore): a target's
// secret survives the round trip and a reopen byte for byte, its cursor only
// moves forward, a new handshake replaces the target, and DeliveriesAfter
// reads deliveries oldest first after an id.
func testForward(t *testing.T, open Opener) {
	f := newFixture(t, open)
	fs, ok := f.store.(inspector.ForwardStore)
	if !ok {
		t.Fatalf("%T does not implement inspector.ForwardStore", f.store)
	}
	const url = "http://127.0.0.1:3000/asana?x=1"
	secret := "gw-secret-\x00\xff-" + strings.Repeat("s", 40)
	if _, err := fs.ForwardTarget(f.ctx, url); !errors.Is(err, inspector.ErrNotFound) {
		t.Errorf("ForwardTarget of an unknown URL: %v, want ErrNotFound", err)
	}
	for _, bad := range []inspector.ForwardTarget{{Secret: asana.NewSecret("s")}, {URL: url}, {URL: url, Secret: asana.NewSecret("s"), Cursor: -1}} {
		wantErr(t, "SaveForwardTarget of an incomplete target", fs.SaveForwardTarget(f.ctx, bad), inspector.ErrInvalid)
	}
	if err := fs.SaveForwardTarget(f.ctx, inspector.ForwardTarget{URL: url, Secret: asana.NewSecret(secret), Cursor: 7}); err != nil {
		t.Fatalf("SaveForwardTarget: %v", err)
	}
	check := func(fs inspector.ForwardStore, cursor int64, secret string) {
		t.Helper()
		got, err := fs.ForwardTarget(f.ctx, url)
		if err != nil {
			t.Fatalf("ForwardTarget: %v", err)
		}
		if got.URL != url || got.Cursor != cursor || got.Secret.Reveal() != secret || got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
			t.Errorf("target = {%s cursor %d secret intact %v %v %v}, want cursor %d", got.URL, got.Cursor,
				got.Secret.Reveal() == secret, got.CreatedAt, got.UpdatedAt, cursor)
		}
	}
	check(fs, 7, secret)
	for _, step := range []struct{ to, want int64 }{{9, 9}, {8, 9}, {9, 9}, {12, 12}} {
		if err := fs.AdvanceForwardCursor(f.ctx, url, step.to); err != nil {
			t.Fatalf("AdvanceForwardCursor(%d): %v", step.to, err)
		}
		check(fs, step.want, secret)
	}
	wantErr(t, "AdvanceForwardCursor of an unknown URL", fs.AdvanceForwardCursor(f.ctx, "http://nowhere", 3), inspector.ErrNotFound)
	if err := fs.SaveForwardTarget(f.ctx, inspector.ForwardTarget{URL: url, Secret: asana.NewSecret("another"), Cursor: 2}); err != nil {
		t.Fatalf("SaveForwardTarget again: %v", err)
	}
	check(fs, 2, "another")

	h := f.activeHook("1200000000000002", "s")
	var ids []int64
	for i := range 5 {
		res := f.record(delivery(h.ID, base.Add(time.Duration(i)*time.Second), event(fmt.Sprint(9100+i), "name", base)), event(fmt.Sprint(9100+i), "name", base))
		ids = append(ids, res.Delivery.ID)
	}
	got, err := fs.DeliveriesAfter(f.ctx, ids[1], 2)
	if err != nil {
		t.Fatalf("DeliveriesAfter: %v", err)
	}
	if len(got) != 2 || got[0].ID != ids[2] || got[1].ID != ids[3] || len(got[0].Body) == 0 || got[0].HookID != h.ID {
		t.Errorf("DeliveriesAfter(%d, 2) = %d deliveries %v, want %v with their bodies", ids[1], len(got), deliveryIDs(got), ids[2:4])
	}
	if got, err := fs.DeliveriesAfter(f.ctx, ids[4], 0); err != nil || len(got) != 0 {
		t.Errorf("DeliveriesAfter the last = %v, %v; want none", deliveryIDs(got), err)
	}

	again, ok := reopenStore(t, f).(inspector.ForwardStore)
	if !ok {
		t.Fatal("the reopened store is no ForwardStore")
	}
	check(again, 2, "another")
}

func deliveryIDs(ds []inspector.Delivery) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}
