package postgres

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// BenchmarkRecordDelivery records deliveries of two new events from 1, 16
// and 64 concurrent writers, into SQLite (explicit
// group commit) and PostgreSQL (a transaction per delivery), both durable.
// Time per delivery falling with concurrency means commits share flushes.
//
//	go test -run '^$' -bench RecordDelivery -benchtime 2000x ./internal/postgres/
func BenchmarkRecordDelivery(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) inspector.Store
	}{
		{"sqlite", func(b *testing.B) inspector.Store {
			s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"postgres", func(b *testing.B) inspector.Store {
			s, err := Open(b.Context(), newSchema(b), Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	}
	for _, be := range backends {
		for _, workers := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/c=%d", be.name, workers), func(b *testing.B) {
				st := be.open(b)
				ctx := b.Context()
				run := inspector.Run{ID: inspector.NewHookID(), StartedAt: time.Now(), PublicURL: "http://127.0.0.1"}
				if err := st.CreateRun(ctx, run); err != nil {
					b.Fatal(err)
				}
				hook := inspector.Hook{ID: inspector.NewHookID(), Resource: asana.Compact{GID: "1"}, Target: "t", RunID: run.ID}
				if err := st.CreateHook(ctx, hook); err != nil {
					b.Fatal(err)
				}
				body := []byte(`{"events":[{},{}]}`)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							own := mustEvent(b, fmt.Sprintf(`{"action":"added","resource":{"gid":"%d","resource_type":"task"}}`, i))
							d := inspector.Delivery{HookID: hook.ID, Kind: inspector.KindEvents, Body: body}
							other := mustEvent(b, fmt.Sprintf(`{"action":"changed","resource":{"gid":"%d","resource_type":"task"}}`, i))
							if _, err := st.RecordDelivery(ctx, d, []inspector.IncomingEvent{own, other}); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			})
		}
	}
}

func mustEvent(b *testing.B, raw string) inspector.IncomingEvent {
	ev, err := inspector.NewIncomingEvent([]byte(raw))
	if err != nil {
		b.Fatal(err)
	}
	return ev
}
