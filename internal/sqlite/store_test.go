package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/storetest"
)

// openTemp opens a store in a fresh temporary file.
func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "inspector.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (inspector.Store, func(t *testing.T) inspector.Store) {
		s, path := openTemp(t)
		return s, func(t *testing.T) inspector.Store {
			t.Helper()
			s, err := Open(t.Context(), path, Options{})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}

func TestFileModes(t *testing.T) {
	tests := []struct {
		name  string
		umask bool // create the file beforehand with a wide mode
	}{
		{"new file", false},
		{"existing world-readable file", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "inspector.db")
			if tt.umask {
				if err := os.WriteFile(path, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(t.Context(), path, Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			// Write something so the WAL exists.
			if err := s.CreateRun(t.Context(), inspector.Run{ID: "r", StartedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatalf("stat: %v", err)
				}
				if mode := fi.Mode().Perm(); mode != 0o600 {
					t.Errorf("%s has mode %o, want 600", filepath.Base(p), mode)
				}
			}
		})
	}
}

func TestDurabilitySettings(t *testing.T) {
	s, _ := openTemp(t)
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"},
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			var got string
			if err := s.wdb.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
			}
		})
	}
	var readOnly int
	if err := s.rdb.QueryRowContext(t.Context(), "PRAGMA query_only").Scan(&readOnly); err != nil {
		t.Fatal(err)
	}
	if readOnly != 1 {
		t.Error("read pool is not query_only")
	}
}

func TestMigrations(t *testing.T) {
	s, path := openTemp(t)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	count := func(db *sql.DB) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := count(s.rdb); got != len(ms) {
		t.Errorf("%d migrations recorded, want %d", got, len(ms))
	}
	s.Close()

	// Reopening applies nothing twice.
	s2, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if got := count(s2.rdb); got != len(ms) {
		t.Errorf("after reopen: %d migrations recorded, want %d", got, len(ms))
	}
	// A database from a newer program is refused, not damaged.
	if _, err := s2.wdb.ExecContext(t.Context(), "INSERT INTO schema_migrations VALUES (9999, 'future', 0)"); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if s3, err := Open(t.Context(), path, Options{}); err == nil {
		s3.Close()
		t.Fatal("Open accepted a schema newer than the program")
	}
}

func TestOpenRejectsURIs(t *testing.T) {
	for _, p := range []string{"", "file:x.db", "x.db?mode=memory", "a#b"} {
		if s, err := Open(t.Context(), p, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// TestGroupCommit holds the writer inside a transaction, queues deliveries
// behind it, and checks that they then commit together in one transaction,
// and that one failing request is rolled back alone.
// blockWriter queues a write that holds the writer until release is closed,
// and returns once the writer runs it. The write may run again (a batch that
// fails is retried job by job).
func blockWriter(t *testing.T, s *Store) chan struct{} {
	t.Helper()
	release := make(chan struct{})
	blocked := make(chan struct{})
	var once sync.Once
	go func() {
		_, _ = s.write(t.Context(), func(*sql.Tx) (any, error) {
			once.Do(func() { close(blocked) })
			<-release
			return nil, nil
		})
	}()
	<-blocked
	return release
}

func TestGroupCommit(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	run := inspector.Run{ID: "run", StartedAt: time.Now()}
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	hook := inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1"}, Target: "t", RunID: run.ID}
	if err := s.CreateHook(ctx, hook); err != nil {
		t.Fatal(err)
	}

	release := blockWriter(t, s)
	commitsBefore := s.commits.Load()

	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hookID := hook.ID
			if i == 7 {
				hookID = inspector.NewHookID() // unknown: fails alone
			}
			ev, err := inspector.NewIncomingEvent([]byte(fmt.Sprintf(`{"action":"added","n":%d}`, i)))
			if err != nil {
				errs[i] = err
				return
			}
			_, errs[i] = s.RecordDelivery(ctx, inspector.Delivery{HookID: hookID, Kind: inspector.KindEvents}, []inspector.IncomingEvent{ev})
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(s.jobs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d writes queued", len(s.jobs), n)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()

	for i, err := range errs {
		if i == 7 {
			if !errors.Is(err, inspector.ErrNotFound) {
				t.Errorf("delivery to an unknown hook: %v, want ErrNotFound", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("delivery %d: %v", i, err)
		}
	}
	// The 20 queued join the blocking job's batch: one commit.
	if got := s.commits.Load() - commitsBefore; got != 1 {
		t.Errorf("%d commits after the writer was released, want 1 (the queued writes join the running batch)", got)
	}
	st, err := s.Stats(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Deliveries != n-1 || st.Events != n-1 {
		t.Errorf("%d deliveries and %d events stored, want %d each", st.Deliveries, st.Events, n-1)
	}
}

// TestGroupDedup queues deliveries behind a blocked writer, so that they are
// stored by one group of multi-row statements, with one event repeated
// across deliveries and within one: exactly one receipt of it is new (the one
// of the delivery stored as its first), and its receipt counts run 1..n with
// no gap or repeat.
func TestGroupDedup(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	run := inspector.Run{ID: "run", StartedAt: time.Now()}
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	hook := inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1"}, Target: "t", RunID: run.ID}
	if err := s.CreateHook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	incoming := func(raw string) inspector.IncomingEvent {
		t.Helper()
		ev, err := inspector.NewIncomingEvent([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	shared := incoming(`{"action":"changed","resource":{"gid":"7","resource_type":"task"}}`)

	release := blockWriter(t, s)
	commitsBefore := s.commits.Load()

	const n = 10
	results := make([]inspector.RecordResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			events := []inspector.IncomingEvent{incoming(fmt.Sprintf(`{"action":"added","n":%d}`, i)), shared}
			if i == 3 {
				events = append(events, shared) // twice in one delivery
			}
			kind := inspector.KindEvents
			if i == 5 {
				kind, events = inspector.KindHeartbeat, nil
			}
			results[i], errs[i] = s.RecordDelivery(ctx, inspector.Delivery{HookID: hook.ID, Kind: kind}, events)
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(s.jobs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d writes queued", len(s.jobs), n)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if got := s.commits.Load() - commitsBefore; got != 1 {
		t.Errorf("%d commits, want 1 (the queued writes join the running batch)", got)
	}

	seen := map[int]bool{}
	newShared, ids := 0, map[int64]bool{}
	var newIn int64 // the delivery in which the shared event was new
	for i, err := range errs {
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		res := results[i]
		ids[res.Delivery.ID] = true
		if i == 5 {
			if len(res.Events) != 0 || res.Delivery.Kind != inspector.KindHeartbeat {
				t.Errorf("heartbeat recorded as %+v", res)
			}
			continue
		}
		if !res.Events[0].New || res.Events[0].Receipts != 1 {
			t.Errorf("delivery %d: own event %+v, want new with one receipt", i, res.Events[0])
		}
		wantNew := 1
		for _, r := range res.Events[1:] {
			if seen[r.Receipts] {
				t.Errorf("two receipts of the shared event both counted %d", r.Receipts)
			}
			seen[r.Receipts] = true
			if r.New != (r.Receipts == 1) {
				t.Errorf("delivery %d: receipt %+v: New and Receipts disagree", i, r)
			}
			if r.New {
				newShared++
				wantNew++
				newIn = res.Delivery.ID
			}
		}
		if res.Delivery.NewEventCount != wantNew {
			t.Errorf("delivery %d: NewEventCount %d, want %d", i, res.Delivery.NewEventCount, wantNew)
		}
		detail, err := s.GetDelivery(ctx, res.Delivery.ID)
		if err != nil {
			t.Fatalf("GetDelivery %d: %v", res.Delivery.ID, err)
		}
		if len(detail.Events) != len(res.Events) || detail.Delivery.NewEventCount != res.Delivery.NewEventCount {
			t.Errorf("delivery %d stored as %d events, %d new; returned %d, %d", i, len(detail.Events),
				detail.Delivery.NewEventCount, len(res.Events), res.Delivery.NewEventCount)
		}
		for p, re := range detail.Events {
			if re.Event.ID != res.Events[p].EventID || re.New != res.Events[p].New {
				t.Errorf("delivery %d event %d: stored %d new=%v, returned %+v", i, p, re.Event.ID, re.New, res.Events[p])
			}
		}
	}
	if len(ids) != n {
		t.Errorf("%d distinct delivery ids for %d deliveries", len(ids), n)
	}
	if newShared != 1 {
		t.Errorf("the shared event was new %d times, want 1", newShared)
	}
	events, err := s.ListEvents(ctx, inspector.EventFilter{HookID: hook.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.Key == shared.Key && (ev.FirstDeliveryID != newIn || ev.Receipts != n) {
			t.Errorf("shared event stored with first delivery %d and %d receipts; it was new in %d, want %d receipts",
				ev.FirstDeliveryID, ev.Receipts, newIn, n)
		}
	}
	// n-1 deliveries carry it, one of them twice.
	for r := 1; r <= n; r++ {
		if !seen[r] {
			t.Errorf("no receipt of the shared event counted %d", r)
		}
	}
	st, err := s.Stats(ctx, hook.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Deliveries != n || st.Heartbeats != 1 || st.Events != n || st.Receipts != 2*n-1 {
		t.Errorf("Stats %+v: want %d deliveries, 1 heartbeat, %d events, %d receipts", st, n, n, 2*n-1)
	}
	h, err := s.GetHook(ctx, hook.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.LastHeartbeatAt.IsZero() {
		t.Error("the heartbeat of the group did not set the hook's last heartbeat")
	}
}

// TestStaleIDsFallBack takes the next delivery and event ids behind the
// writer's back (a row written by other means), so the ids the writer assigns
// itself are taken: the delivery must still be stored, whole and right,
// through the job-by-job path, and the writer must carry on.
func TestStaleIDsFallBack(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	if err := s.CreateRun(ctx, inspector.Run{ID: "run", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	hook := inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1"}, Target: "t", RunID: "run"}
	if err := s.CreateHook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	record := func(raw string) inspector.RecordResult {
		t.Helper()
		ev, err := inspector.NewIncomingEvent([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.RecordDelivery(ctx, inspector.Delivery{HookID: hook.ID, Kind: inspector.KindEvents}, []inspector.IncomingEvent{ev})
		if err != nil {
			t.Fatalf("record %s: %v", raw, err)
		}
		return res
	}
	first := record(`{"action":"added","n":1}`)
	// An event with the next id, then a delivery with the next id, each
	// written in a transaction of the writer's that knows nothing of it.
	behind := func(q string, args ...any) {
		t.Helper()
		if _, err := s.write(ctx, func(tx *sql.Tx) (any, error) { _, err := tx.Exec(q, args...); return nil, err }); err != nil {
			t.Fatal(err)
		}
	}
	takenEvent := first.Events[0].EventID + 1
	behind(`INSERT INTO events (id, hook_id, event_key, raw, first_seen_at, last_seen_at, receipts, first_delivery_id)
		VALUES (?, ?, ?, '{}', 0, 0, 1, ?)`, takenEvent, hook.ID, strings.Repeat("0", 64), first.Delivery.ID)
	second := record(`{"action":"added","n":2}`)
	takenDelivery := second.Delivery.ID + 1
	behind(`INSERT INTO deliveries (id, hook_id, received_at, headers, body, kind, event_count)
		VALUES (?, ?, 0, '{}', x'', 'heartbeat', 0)`, takenDelivery, hook.ID)
	for i, raw := range []string{`{"action":"added","n":2}`, `{"action":"added","n":3}`, `{"action":"added","n":1}`} {
		res := second
		if i > 0 {
			res = record(raw)
		}
		if res.Delivery.ID == takenDelivery || res.Events[0].EventID == takenEvent {
			t.Errorf("delivery %d: stored as %d with event %d, over the rows written behind the writer's back", i, res.Delivery.ID, res.Events[0].EventID)
		}
		d, err := s.GetDelivery(ctx, res.Delivery.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Events) != 1 || string(d.Events[0].Event.Raw) != raw || d.Events[0].Event.ID != res.Events[0].EventID {
			t.Errorf("delivery %d read back as %+v, want its event %s", i, d, raw)
		}
		if wantNew := i < 2; res.Events[0].New != wantNew {
			t.Errorf("delivery %d: new = %v, want %v", i, res.Events[0].New, wantNew)
		}
	}
}

// walCheckpointSeq reads the checkpoint sequence number in the header of the
// WAL at path: SQLite increments it each time the WAL starts again from its
// beginning.
func walCheckpointSeq(t *testing.T, path string) uint32 {
	t.Helper()
	f, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hdr [16]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		t.Fatalf("read the WAL header: %v", err)
	}
	return binary.BigEndian.Uint32(hdr[12:16])
}

// TestWALRewindsUnderSteadyWrites writes without a pause from several
// goroutines: the WAL must still start again from its beginning, again and
// again, instead of growing for as long as the writes go on.
func TestWALRewindsUnderSteadyWrites(t *testing.T) {
	s, path := openTemp(t)
	ctx := t.Context()
	if err := s.CreateRun(ctx, inspector.Run{ID: "run", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	hook := inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1"}, Target: "t", RunID: "run"}
	if err := s.CreateHook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	seq0 := walCheckpointSeq(t, path)
	const want = 2
	var (
		wg   sync.WaitGroup
		stop = make(chan struct{})
		n    atomic.Int64
		errc = make(chan error, 1)
	)
	pad := strings.Repeat("x", 1500)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := n.Add(1)
				ev, err := inspector.NewIncomingEvent(fmt.Appendf(nil, `{"action":"added","n":%d,"pad":%q}`, i, pad))
				if err == nil {
					_, err = s.RecordDelivery(ctx, inspector.Delivery{HookID: hook.ID, Kind: inspector.KindEvents}, []inspector.IncomingEvent{ev})
				}
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	var seq uint32
	for seq = walCheckpointSeq(t, path); seq < seq0+want && time.Now().Before(deadline) && len(errc) == 0; seq = walCheckpointSeq(t, path) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	if seq < seq0+want {
		t.Fatalf("the WAL started again %d times in 60 s of steady writes (%d deliveries), want %d", seq-seq0, n.Load(), want)
	}
	t.Logf("the WAL started again %d times during %d deliveries; the writer finished %d checkpoints", seq-seq0, n.Load(), s.walRewinds.Load())
}
