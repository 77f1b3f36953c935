package receiver

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// BenchmarkReceiver measures verified-and-stored deliveries per second, and
// p50/p99 latency, through the real handler and a SQLite file with
// synchronous=FULL over loopback, at concurrency 1, 16 and 64, next to a bare
// net/http handler that reads the body and answers 200, in the same run. Each
// delivery carries one new event, signed with the hook's secret.
//
//	go test -run='^$' -bench=Receiver -benchtime=3s ./internal/receiver/
func BenchmarkReceiver(b *testing.B) {
	bareRate := map[int]float64{}
	for _, c := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("c=%d/bare", c), func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			bareRate[c] = runLoad(b, srv.URL+HookPath(inspector.NewHookID()), c)
		})
		b.Run(fmt.Sprintf("c=%d/receiver", c), func(b *testing.B) {
			url, st := benchReceiver(b)
			rate := runLoad(b, url, c)
			if bare := bareRate[c]; bare > 0 {
				b.ReportMetric(100*rate/bare, "%_of_bare")
			}
			stats, err := st.Stats(b.Context(), "")
			if err != nil {
				b.Fatal(err)
			}
			if stats.Deliveries != int64(b.N) || stats.Events != int64(b.N) {
				b.Fatalf("%d deliveries and %d events stored for %d requests", stats.Deliveries, stats.Events, b.N)
			}
		})
	}
}

// benchReceiver serves a receiver over a fresh SQLite file and returns the
// target URL of a hook with activeSecret.
func benchReceiver(b *testing.B) (string, inspector.Store) {
	b.Helper()
	ctx := b.Context()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	run := inspector.Run{ID: inspector.NewHookID(), PublicURL: "http://127.0.0.1"}
	hookID := inspector.NewHookID()
	if err := st.CreateRun(ctx, run); err != nil {
		b.Fatal(err)
	}
	if err := st.CreateHook(ctx, inspector.Hook{ID: hookID, Resource: asana.Compact{GID: "1"}, Target: "t", RunID: run.ID}); err != nil {
		b.Fatal(err)
	}
	if err := st.SaveHandshake(ctx, hookID, asana.NewSecret(activeSecret)); err != nil {
		b.Fatal(err)
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := New(Config{Store: st, Windows: &inspector.HandshakeWindows{}, Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config = NewServer("", h, ServerOptions{Logger: discard})
	srv.Start()
	b.Cleanup(srv.Close)
	return srv.URL + HookPath(hookID) + "?project=1", st
}

// runLoad sends b.N signed deliveries to url from c goroutines, checks every
// answer is 200, and reports deliveries/s and p50/p99 latency. It returns the
// rate.
func runLoad(b *testing.B, url string, c int) float64 {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: c, MaxIdleConnsPerHost: c, MaxConnsPerHost: c, DisableCompression: true,
	}}
	defer client.CloseIdleConnections()
	secret := asana.NewSecret(activeSecret)
	prefix := inspector.NewHookID()[:8]
	var next atomic.Int64
	lats := make([][]time.Duration, c)
	var failures atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				payload := body(eventJSON(fmt.Sprintf("%s%d", prefix, i), "completed"))
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
				if err != nil {
					failures.Add(1)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(asana.HeaderSignature, asana.Sign(secret, payload))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lats[w] = append(lats[w], time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "deliveries/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op") // the rate says it better
	return rate
}
