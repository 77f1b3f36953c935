package emulator_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

// BenchmarkEmitToDelivery measures events per second from a mutation to a
// trivial receiver's 200, end to end over loopback.
func BenchmarkEmitToDelivery(b *testing.B) {
	var got atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := r.Header.Get(asana.HeaderSecret); s != "" {
			w.Header().Set(asana.HeaderSecret, s)
			return
		}
		body, _ := io.ReadAll(r.Body)
		// Count events by their opening braces after the first: cheap and
		// good enough for synthetic events without nested braces in values.
		n := int64(0)
		for _, c := range body {
			if c == '{' {
				n++
			}
		}
		// Each synthetic event has user, resource, change and itself.
		got.Add(n / 4)
	}))
	b.Cleanup(rc.Close)
	srv := emulatortest.New(b, emulatortest.WithRateLimit(-1))
	data := `{"data":{"resource":"` + srv.ProjectGID() + `","target":"` + rc.URL + `"}}`
	req, _ := http.NewRequest("POST", srv.BaseURL()+"/webhooks", strings.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		b.Fatalf("create webhook: %v %v", err, resp)
	}
	resp.Body.Close()
	b.ResetTimer()
	if _, err := srv.Emit(srv.ProjectGID(), max(b.N, 1)); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for got.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	if got.Load() < int64(b.N) {
		b.Fatalf("delivered %d of %d events", got.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
