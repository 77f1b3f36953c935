package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/app"
)

// BenchmarkReceiver measures verified-and-stored deliveries per second and
// p50/p99 latency of the receiver on a SQLite file (synchronous=FULL) over
// loopback, at concurrency 1, 16 and 64, next to a bare net/http handler in
// the same run. Each delivery carries one new event, signed with the hook's
// secret; the store is checked to hold every acknowledged one.
//
//	go test -run='^$' -bench=Receiver -benchtime=3s ./internal/bench/
func BenchmarkReceiver(b *testing.B) {
	// The garbage collector as "inspect" and the bench command set it.
	b.Logf("GOGC=%s", app.TuneGC(os.Getenv))
	bareRate := map[int]float64{}
	for i, c := range DefaultConcurrency() {
		b.Run(fmt.Sprintf("c=%d/bare", c), func(b *testing.B) {
			srv, err := StartBare()
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			bareRate[c] = benchDrive(b, srv, c)
		})
		b.Run(fmt.Sprintf("c=%d/receiver", c), func(b *testing.B) {
			srv, err := StartReceiver(b.Context(), filepath.Join(b.TempDir(), fmt.Sprintf("bench-%d.db", i)))
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			rate := benchDrive(b, srv, c)
			if bare := bareRate[c]; bare > 0 {
				b.ReportMetric(100*rate/bare, "%_of_bare")
			}
			if err := srv.CheckStored(b.Context()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// benchDrive sends b.N deliveries from c clients and reports the rate and
// latencies; it returns the rate.
func benchDrive(b *testing.B, srv *Server, c int) float64 {
	b.Helper()
	b.ResetTimer()
	r, err := Drive(b.Context(), srv, Load{Concurrency: c, Requests: int64(b.N)})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if r.Deliveries != int64(b.N) {
		b.Fatalf("%d deliveries acknowledged, want %d", r.Deliveries, b.N)
	}
	b.ReportMetric(r.Rate, "deliveries/s")
	b.ReportMetric(float64(r.P50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(r.P99.Microseconds())/1000, "p99_ms")
	b.ReportMetric(0, "ns/op") // the rate says it better
	return r.Rate
}

// TestRun runs a short measurement and checks its shape; it asserts nothing
// about speed (that belongs to the benchmark).
func TestRun(t *testing.T) {
	rep, err := Run(context.Background(), Config{Concurrency: []int{1, 16}, Duration: 200 * time.Millisecond, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 4 {
		t.Fatalf("got %d results, want 4: %+v", len(rep.Results), rep.Results)
	}
	for i, r := range rep.Results {
		wantHandler, wantC := HandlerBare, []int{1, 16}[i/2]
		if i%2 == 1 {
			wantHandler = HandlerReceiver
		}
		if r.Handler != wantHandler || r.Concurrency != wantC {
			t.Errorf("result %d is %s at %d, want %s at %d", i, r.Handler, r.Concurrency, wantHandler, wantC)
		}
		if r.Deliveries < 1 || r.Rate <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("result %d: implausible %+v", i, r)
		}
		if (r.RatioToBare > 0) != (r.Handler == HandlerReceiver) {
			t.Errorf("result %d: ratio %v for %s", i, r.RatioToBare, r.Handler)
		}
	}
	if rep.TargetMet == nil {
		t.Error("concurrency 16 was measured but the target was not judged")
	}
}

// TestRunRejects checks that bad settings are refused before any load.
func TestRunRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"zero concurrency", Config{Concurrency: []int{0}}},
		{"negative concurrency", Config{Concurrency: []int{16, -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tt.cfg); err == nil {
				t.Error("Run accepted it")
			}
		})
	}
}

// TestDriveCountsAndStores sends an exact number of deliveries and checks
// that the receiver stored each one, and that a wrong secret fails the run.
func TestDriveCountsAndStores(t *testing.T) {
	ctx := context.Background()
	srv, err := StartReceiver(ctx, filepath.Join(t.TempDir(), "drive.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r, err := Drive(ctx, srv, Load{Concurrency: 4, Requests: 50})
	if err != nil {
		t.Fatal(err)
	}
	if r.Deliveries != 50 {
		t.Errorf("Drive acknowledged %d deliveries, want 50", r.Deliveries)
	}
	if err := srv.CheckStored(ctx); err != nil {
		t.Error(err)
	}
	st, err := srv.Store.Stats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 50 || st.Receipts != 50 {
		t.Errorf("store holds %d events and %d receipts, want 50 new events", st.Events, st.Receipts)
	}

	bad := *srv
	bad.Secret = asana.NewSecret("not-the-hook-secret") // every delivery gets 401
	if _, err := Drive(ctx, &bad, Load{Concurrency: 2, Requests: 5}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Drive with a wrong secret: err = %v, want the 401", err)
	}
}
