// Package bench measures the inspector's receiver over loopback: verified and
// stored deliveries per second and p50/p99 latency of the real handler on a
// SQLite file (WAL, synchronous=FULL), beside a bare net/http handler that
// answers 200, at several concurrencies in the same run. The `bench` command
// and the Go benchmarks share it.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/receiver"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// Defaults of Config.
const (
	DefaultDuration = 3 * time.Second
	// DefaultWarmup is sent before each measurement and not counted; it is
	// capped at a tenth of the duration.
	DefaultWarmup = 500 * time.Millisecond
	DefaultRounds = 6
)

// DefaultConcurrency are the concurrencies measured by default.
func DefaultConcurrency() []int { return []int{1, 16, 64} }

// The handlers measured.
const (
	// HandlerBare is a net/http handler that reads the body and answers 200.
	HandlerBare = "bare"
	// HandlerReceiver is the inspector's receiver: verify, store with
	// synchronous=FULL, then answer 200.
	HandlerReceiver = "receiver"
)

// Target of the issue at concurrency 16: at least this share of the bare
// handler's rate, and a p99 under TargetP99.
const (
	TargetConcurrency = 16
	TargetRatio       = 0.25
	TargetP99         = 20 * time.Millisecond
)

// Config configures Run.
type Config struct {
	// Concurrency lists the numbers of concurrent clients to measure;
	// nil means DefaultConcurrency.
	Concurrency []int
	// Duration is how long each handler is measured at each concurrency;
	// zero means DefaultDuration.
	Duration time.Duration
	// Rounds splits each measurement into turns, bare handler then
	// receiver, so that a burst of background load hits both alike; zero
	// means DefaultRounds.
	Rounds int
	// Dir holds the SQLite files; empty means a temporary directory,
	// removed at the end.
	Dir string
}

// Result is one measurement.
type Result struct {
	Handler     string `json:"handler"`
	Concurrency int    `json:"concurrency"`
	// Deliveries answered 200 (and, for the receiver, stored) in Elapsed.
	Deliveries int64         `json:"deliveries"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	// Rate is Deliveries per second.
	Rate float64       `json:"rate"`
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	// RatioToBare is Rate over the bare handler's rate at the same
	// concurrency; zero for the bare handler itself.
	RatioToBare float64 `json:"ratio_to_bare,omitempty"`
}

// Report is the outcome of Run.
type Report struct {
	// Duration is the measuring time of each handler at each concurrency,
	// in Rounds turns.
	Duration time.Duration `json:"duration_ns"`
	Rounds   int           `json:"rounds"`
	// Results come by concurrency, the bare handler first.
	Results []Result `json:"results"`
	// GOGC is the garbage collector's target the run had, when the caller
	// says (the bench command does).
	GOGC string `json:"gogc,omitempty"`
	// TargetMet says whether the receiver reached TargetRatio and
	// TargetP99 at TargetConcurrency; nil when that was not measured.
	TargetMet *bool `json:"target_met,omitempty"`
}

// Run measures the bare handler and the receiver (on a fresh SQLite file) at
// each concurrency of cfg, in turns.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Concurrency == nil {
		cfg.Concurrency = DefaultConcurrency()
	}
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = DefaultRounds
	}
	for _, c := range cfg.Concurrency {
		if c < 1 {
			return Report{}, fmt.Errorf("concurrency %d: want 1 or more", c)
		}
	}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "asana-webhooks-bench-")
		if err != nil {
			return Report{}, fmt.Errorf("bench: temporary directory: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}
	rep := Report{Duration: cfg.Duration, Rounds: cfg.Rounds}
	for i, c := range cfg.Concurrency {
		b, r, err := compare(ctx, cfg, c, filepath.Join(cfg.Dir, "bench-"+strconv.Itoa(i)+".db"))
		if err != nil {
			return rep, fmt.Errorf("concurrency %d: %w", c, err)
		}
		if b.Rate > 0 {
			r.RatioToBare = r.Rate / b.Rate
		}
		rep.Results = append(rep.Results, b, r)
		if c == TargetConcurrency {
			met := r.RatioToBare >= TargetRatio && r.P99 < TargetP99
			rep.TargetMet = &met
		}
	}
	return rep, nil
}

// compare measures the bare handler and the receiver (on a fresh store at
// path) at concurrency c, taking turns round by round so that both see the
// same background load.
func compare(ctx context.Context, cfg Config, c int, path string) (bare, rcv Result, err error) {
	b, err := StartBare()
	if err != nil {
		return bare, rcv, err
	}
	defer b.Close()
	r, err := StartReceiver(ctx, path)
	if err != nil {
		return bare, rcv, err
	}
	defer func() {
		if cerr := r.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	warmup := min(DefaultWarmup, cfg.Duration/10)
	for _, srv := range []*Server{b, r} {
		if _, err := drive(ctx, srv, Load{Concurrency: c, Duration: warmup}); err != nil {
			return bare, rcv, fmt.Errorf("warm up the %s handler: %w", srv.Handler, err)
		}
	}
	var sb, sr sample
	round := cfg.Duration / time.Duration(cfg.Rounds)
	for range cfg.Rounds {
		s, err := drive(ctx, b, Load{Concurrency: c, Duration: round})
		if err != nil {
			return bare, rcv, fmt.Errorf("bare handler: %w", err)
		}
		sb.add(s)
		if s, err = drive(ctx, r, Load{Concurrency: c, Duration: round}); err != nil {
			return bare, rcv, fmt.Errorf("receiver: %w", err)
		}
		sr.add(s)
	}
	if err := r.CheckStored(ctx); err != nil {
		return bare, rcv, fmt.Errorf("receiver: %w", err)
	}
	return sb.result(HandlerBare, c), sr.result(HandlerReceiver, c), nil
}

// Server is a handler under test, served on a loopback port.
type Server struct {
	// Handler is HandlerBare or HandlerReceiver.
	Handler string
	// URL is where deliveries are posted (a hook's target for the
	// receiver).
	URL string
	// Secret signs the deliveries.
	Secret asana.Secret
	// Store is the receiver's store; nil for the bare handler.
	Store inspector.Store

	hookID string
	srv    *http.Server
	done   chan struct{}
	sent   *counter
}

// benchSecret is the secret of the benchmark's hook. It protects nothing: the
// hook lives in a throwaway file for the length of a run.
const benchSecret = "6265-6e63-686d-6172-6b2d-7365-6372-6574"

// StartBare serves a bare net/http handler that reads the body and answers
// 200.
func StartBare() (*Server, error) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	s := &Server{Handler: HandlerBare, Secret: asana.NewSecret(benchSecret), sent: &counter{}}
	if err := s.serve(&http.Server{Handler: h, ReadHeaderTimeout: receiver.DefaultReadHeaderTimeout}, receiver.HookPath(inspector.NewHookID())); err != nil {
		return nil, err
	}
	return s, nil
}

// StartReceiver opens a SQLite store at path (which must not exist yet),
// records a hook with a secret in it, and serves the real receiver behind
// its hardened server, as the inspector does.
func StartReceiver(ctx context.Context, path string) (*Server, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("bench store %s: the file exists; the benchmark needs a fresh one", path)
	}
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return nil, err
	}
	secret := asana.NewSecret(benchSecret)
	run := inspector.Run{ID: inspector.NewHookID(), StartedAt: time.Now(), PublicURL: "http://127.0.0.1"}
	hookID := inspector.NewHookID()
	err = errors.Join(
		st.CreateRun(ctx, run),
		st.CreateHook(ctx, inspector.Hook{ID: hookID, RunID: run.ID, Target: "http://127.0.0.1" + receiver.HookPath(hookID),
			Resource: asana.Compact{GID: "1200000000000004", ResourceType: "project"}}),
		st.SaveHandshake(ctx, hookID, secret),
		st.ActivateHook(ctx, hookID, "1200000000000099"),
	)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("bench store %s: set up the hook: %w", path, err)
	}
	discard := slog.New(slog.DiscardHandler)
	h, err := receiver.New(receiver.Config{Store: st, Windows: &inspector.HandshakeWindows{}, Logger: discard})
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{Handler: HandlerReceiver, Secret: secret, Store: st, hookID: hookID, sent: &counter{}}
	if err := s.serve(receiver.NewServer("", h, receiver.ServerOptions{Logger: discard}), receiver.HookPath(hookID)+"?project=1200000000000004"); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) serve(srv *http.Server, path string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bench: listen: %w", err)
	}
	s.URL = "http://" + ln.Addr().String() + path
	s.srv = srv
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = srv.Serve(ln)
	}()
	return nil
}

// CheckStored checks that the receiver's store holds one delivery and one
// event for every delivery acknowledged so far: the benchmark counts only
// work that was really done.
func (s *Server) CheckStored(ctx context.Context) error {
	if s.Store == nil {
		return nil
	}
	st, err := s.Store.Stats(ctx, s.hookID)
	if err != nil {
		return fmt.Errorf("read the store's counts: %w", err)
	}
	acked := s.sent.acked.Load()
	if st.Deliveries != acked || st.Events != acked {
		return fmt.Errorf("%d deliveries and %d events stored for %d acknowledged deliveries", st.Deliveries, st.Events, acked)
	}
	return nil
}

// Close stops serving and closes the store.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	if s.Store != nil {
		err = errors.Join(err, s.Store.Close())
	}
	if err != nil {
		return fmt.Errorf("bench: stop the %s server: %w", s.Handler, err)
	}
	return nil
}
