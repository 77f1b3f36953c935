package delivery

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator/clock"
)

// BenchmarkDeliveries measures signed deliveries (one event per POST) per
// second to a trivial loopback receiver that answers 200, with one webhook
// and with several delivering in parallel.
func BenchmarkDeliveries(b *testing.B) {
	for _, targets := range []int{1, 8} {
		b.Run(fmt.Sprintf("targets=%d", targets), func(b *testing.B) {
			var count atomic.Int64
			var want atomic.Int64
			done := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusOK)
				if n := count.Add(1); n == want.Load() {
					done <- struct{}{}
				}
			}))
			defer srv.Close()
			e := New(Config{MaxBatch: 1}, clock.Real{}, nil, nil)
			defer e.Close()
			want.Store(int64(targets)) // the initial heartbeats
			for i := range targets {
				e.Add(Target{GID: fmt.Sprint(i), URL: srv.URL, Secret: testSecret})
			}
			<-done
			ev := event(1)
			want.Store(int64(targets + b.N))
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				e.Enqueue(fmt.Sprint(i%targets), ev)
			}
			select {
			case <-done:
			case <-time.After(10 * time.Minute):
				b.Fatalf("only %d of %d deliveries arrived", count.Load()-int64(targets), b.N)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}
