package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// Load says how hard and how long to load a Server.
type Load struct {
	// Concurrency is the number of clients, each sending one delivery at a
	// time over its own keep-alive connection. Required.
	Concurrency int
	// Requests, when positive, is the exact number of deliveries to send
	// (Go benchmarks send b.N); otherwise the clients send until Duration
	// has passed.
	Requests int64
	Duration time.Duration
}

// counter counts the deliveries a Server acknowledged, over every Drive.
type counter struct{ acked atomic.Int64 }

// Drive sends signed deliveries to srv as l says, each carrying one event
// never sent before, and measures them. Every delivery must be answered
// 200; the first other answer or transport error ends the run with an error.
func Drive(ctx context.Context, srv *Server, l Load) (Result, error) {
	s, err := drive(ctx, srv, l)
	if err != nil {
		return Result{}, err
	}
	return s.result(srv.Handler, l.Concurrency), nil
}

// sample is what one or more drives measured.
type sample struct {
	elapsed time.Duration
	lats    []time.Duration // one per acknowledged delivery
}

func (s *sample) add(o sample) {
	s.elapsed += o.elapsed
	s.lats = append(s.lats, o.lats...)
}

func (s sample) result(handler string, concurrency int) Result {
	slices.Sort(s.lats)
	r := Result{Handler: handler, Concurrency: concurrency, Deliveries: int64(len(s.lats)), Elapsed: s.elapsed,
		P50: percentile(s.lats, 0.50), P99: percentile(s.lats, 0.99)}
	if s.elapsed > 0 {
		r.Rate = float64(len(s.lats)) / s.elapsed.Seconds()
	}
	return r
}

func drive(ctx context.Context, srv *Server, l Load) (sample, error) {
	if l.Concurrency < 1 {
		return sample{}, fmt.Errorf("drive: concurrency %d: want 1 or more", l.Concurrency)
	}
	if l.Requests <= 0 && l.Duration <= 0 {
		return sample{}, errors.New("drive: want a number of requests or a duration")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tr := &http.Transport{
		MaxIdleConns:        l.Concurrency,
		MaxIdleConnsPerHost: l.Concurrency,
		MaxConnsPerHost:     l.Concurrency,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	defer tr.CloseIdleConnections()

	// Each delivery's event is new: its task gid is a random prefix unique
	// to this Drive and a sequence number, both of fixed width.
	prefix := fmt.Sprintf("%08d", rand.Uint64()%1e8)
	var seq atomic.Int64
	lats := make([][]time.Duration, l.Concurrency)
	var deadline time.Time
	start := time.Now()
	if l.Requests <= 0 {
		deadline = start.Add(l.Duration)
	}
	var wg sync.WaitGroup
	for w := range l.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for ctx.Err() == nil {
				i := seq.Add(1)
				if l.Requests > 0 && i > l.Requests {
					return
				}
				if l.Requests <= 0 && !time.Now().Before(deadline) {
					return
				}
				buf = appendDelivery(buf[:0], prefix, i, time.Now())
				d, err := send(ctx, client, srv.URL, srv.Secret, buf)
				if err != nil {
					cancel(err)
					return
				}
				srv.sent.acked.Add(1)
				lats[w] = append(lats[w], d)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return sample{}, err
	}
	return sample{elapsed: elapsed, lats: slices.Concat(lats...)}, nil
}

// send posts one signed delivery and returns its latency: from before the
// request is written to the end of the answer.
func send(ctx context.Context, client *http.Client, url string, secret asana.Secret, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(asana.HeaderSignature, asana.Sign(secret, body))
	t0 := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post delivery: %w", err)
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("read answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("delivery answered %s, want 200", res.Status)
	}
	return d, nil
}

// appendDelivery appends a delivery body with one task event, as Asana
// writes it, made unique by prefix and i, created at created (to the
// millisecond, as Asana's created_at).
func appendDelivery(b []byte, prefix string, i int64, created time.Time) []byte {
	b = append(b, `{"events":[{"user":{"gid":"1200000000000001","resource_type":"user"},"created_at":"`...)
	b = created.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `","action":"changed","resource":{"gid":"`...)
	b = append(b, prefix...)
	b = fmt.Appendf(b, "%08d", i)
	return append(b, `","resource_type":"task","resource_subtype":"default_task"},"parent":null,"change":{"field":"notes","action":"changed"}}]}`...)
}

// percentile returns the p-quantile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(len(sorted)-1, i))]
}
