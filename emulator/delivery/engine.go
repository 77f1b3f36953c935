package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/clock"
)

// MaxRecords is how many attempt records the engine keeps; older ones are
// dropped first.
const MaxRecords = 10000

// MaxRecordBytes bounds the request and response bodies the records hold
// together; older records are dropped first, but the newest is always kept.
const MaxRecordBytes = 64 << 20

// excerptLimit caps the response body kept in records and failure texts.
const excerptLimit = 1024

// UserAgent is sent on every request the engine makes.
const UserAgent = "Asana"

// Handshake failures, wrapped by the errors Handshake returns so callers can
// tell them apart with errors.Is.
var (
	ErrHandshakeStatus  = errors.New("handshake target answered with a status other than 200 or 204")
	ErrHandshakeNoEcho  = errors.New("handshake response has no X-Hook-Secret header")
	ErrHandshakeEcho    = errors.New("handshake response X-Hook-Secret does not match the secret sent")
	ErrHandshakeTimeout = errors.New("handshake target did not answer in time")
	ErrHandshakeConnect = errors.New("handshake request failed")
)

// Engine delivers events to webhook targets: one goroutine per webhook with
// its queue, batching, retries with backoff, heartbeats and deletion after
// DeleteAfter without success, all timed by the injected clock. It is safe
// for concurrent use.
type Engine struct {
	clk      clock.Clock
	logger   *slog.Logger
	onDelete func(gid, reason string)
	client   *http.Client

	mu       sync.Mutex
	cfg      Config
	faults   Faults
	rng      *rand.Rand
	workers  map[string]*worker   // active webhooks by gid
	running  map[*worker]struct{} // goroutines still running (incl. removed ones finishing)
	records  []Record             // records[recStart:] are kept, oldest first
	recStart int                  // index of the oldest kept record
	recBytes int                  // body bytes of the kept records
	nextID   int64
	closed   bool
	wg       sync.WaitGroup
}

// worker is one webhook's delivery state; its fields are guarded by Engine.mu.
type worker struct {
	target Target
	cancel context.CancelFunc
	wake   chan struct{}

	queue         []json.RawMessage
	firstQueuedAt time.Time // when the queue last became non-empty

	forceHeartbeat   bool      // send a heartbeat now, ignoring backoff
	pendingHeartbeat bool      // a heartbeat is owed (scheduled, or retrying a failed one)
	nextHeartbeat    time.Time // next scheduled heartbeat

	lastSuccess, lastFailure, nextAttempt, deletionAt, lastHeartbeat time.Time
	lastFailureContent                                               string
	retryCount                                                       int
	streakStart                                                      time.Time
	lastBackoff                                                      time.Duration

	removed  bool   // Remove was called
	wakes    uint64 // bumped by every wake, so a worker never parks on a stale plan
	parked   bool   // waiting for a timer or a wake signal
	hasTimer bool   // parked with a clock timer
}

// New returns an Engine timed by clk (clock.Real if nil). Zero fields of cfg
// take their DefaultConfig values. onDelete, which may be nil, is called from
// the webhook's goroutine without engine locks held when a webhook is deleted
// for lack of success; it must not wait for Close.
func New(cfg Config, clk clock.Clock, logger *slog.Logger, onDelete func(gid string, reason string)) *Engine {
	if clk == nil {
		clk = clock.Real{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if onDelete == nil {
		onDelete = func(string, string) {}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.DisableCompression = true // send only the headers Asana sends (no Accept-Encoding)
	return &Engine{
		clk:      clk,
		logger:   logger,
		onDelete: onDelete,
		client: &http.Client{
			Transport: tr,
			// Asana does not follow redirects: a 3xx is a failed delivery.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		cfg:     cfg.withDefaults(),
		rng:     rand.New(rand.NewPCG(0, 0)),
		workers: map[string]*worker{},
		running: map[*worker]struct{}{},
	}
}

// Handshake performs Asana's handshake with a webhook target: it POSTs an
// empty body to url with the X-Hook-Secret header and succeeds only when the
// target answers 200 or 204 within HandshakeTimeout and echoes the exact
// value in an X-Hook-Secret response header (the header name in any case).
// The attempt is recorded; the error says why it failed and never contains
// the secret.
func (e *Engine) Handshake(ctx context.Context, gid, url string, secret asana.Secret) error {
	cfg := e.Config()
	ctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	hdr := http.Header{}
	hdr.Set(asana.HeaderSecret, secret.Reveal())
	res := e.do(ctx, url, hdr, nil)
	rec := res.record(gid, url, KindHandshake, 0, 1)
	var err error
	switch {
	case res.err != nil && res.timeout:
		err = fmt.Errorf("handshake with %s: %w (%s)", url, ErrHandshakeTimeout, cfg.HandshakeTimeout)
	case res.err != nil:
		err = fmt.Errorf("handshake with %s: %w: %v", url, ErrHandshakeConnect, res.err)
	case res.status != http.StatusOK && res.status != http.StatusNoContent:
		err = fmt.Errorf("handshake with %s: %w: got %s", url, ErrHandshakeStatus, res.statusText)
	default:
		echo, ok := res.header[http.CanonicalHeaderKey(asana.HeaderSecret)]
		switch {
		case !ok || len(echo) == 0:
			err = fmt.Errorf("handshake with %s: %w", url, ErrHandshakeNoEcho)
		case echo[0] != secret.Reveal():
			err = fmt.Errorf("handshake with %s: %w", url, ErrHandshakeEcho)
		}
	}
	rec.Success = err == nil
	if err != nil && rec.Err == "" {
		rec.Err = err.Error()
	}
	e.addRecord(rec)
	if err != nil {
		e.logger.Info("handshake failed", "webhook", gid, "url", url, "err", err)
	} else {
		e.logger.Debug("handshake ok", "webhook", gid, "url", url)
	}
	return err
}

// Add starts delivering to t: the initial signed {"events":[]} heartbeat goes
// out at once (asynchronously), then one every HeartbeatEvery. Adding a gid
// that is already active replaces its target and keeps its state.
func (e *Engine) Add(t Target) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if w, ok := e.workers[t.GID]; ok {
		w.target = t
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{
		target:         t,
		cancel:         cancel,
		wake:           make(chan struct{}, 1),
		forceHeartbeat: true,
		nextHeartbeat:  e.clk.Now().Add(e.cfg.HeartbeatEvery),
	}
	e.workers[t.GID] = w
	e.running[w] = struct{}{}
	e.wg.Add(1)
	go e.run(ctx, w)
}

// Remove stops delivering to the webhook gid. Queued events are discarded,
// unless the DeliverAfterDelete fault is on: then they get one last delivery.
func (e *Engine) Remove(gid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.workers[gid]
	if !ok {
		return
	}
	delete(e.workers, gid)
	w.removed = true
	w.cancel()
}

// Enqueue queues events, already encoded by EncodeEvent or Canonicalize, for
// the webhook gid. Unknown gids are ignored. With the drop fault some events
// are silently discarded here.
func (e *Engine) Enqueue(gid string, events ...json.RawMessage) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.workers[gid]
	if !ok || len(events) == 0 {
		return
	}
	added := 0
	for _, ev := range events {
		if e.faults.DropRate > 0 && e.rng.Float64() < e.faults.DropRate {
			e.logger.Debug("fault: event dropped", "webhook", gid)
			continue
		}
		if len(w.queue) == 0 {
			w.firstQueuedAt = e.clk.Now()
		}
		w.queue = append(w.queue, ev)
		added++
	}
	if added > 0 {
		e.wakeLocked(w)
	}
}

// Health returns the delivery state of the webhook gid.
func (e *Engine) Health(gid string) (Health, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.workers[gid]
	if !ok {
		return Health{}, false
	}
	return Health{
		LastSuccessAt:      timePtr(w.lastSuccess),
		LastFailureAt:      timePtr(w.lastFailure),
		NextAttemptAfter:   timePtr(w.nextAttempt),
		FailureDeletionAt:  timePtr(w.deletionAt),
		LastHeartbeatAt:    timePtr(w.lastHeartbeat),
		LastFailureContent: w.lastFailureContent,
		RetryCount:         w.retryCount,
	}, true
}

// Heartbeat sends a heartbeat now, ignoring any backoff, to the webhook gid,
// or to every webhook when gid is "". It returns how many were triggered.
func (e *Engine) Heartbeat(gid string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for id, w := range e.workers {
		if gid != "" && id != gid {
			continue
		}
		w.forceHeartbeat = true
		e.wakeLocked(w)
		n++
	}
	return n
}

// SetFaults sets the fault injection settings and reseeds the fault random
// source with f.Seed, so a run is reproducible from this call on.
func (e *Engine) SetFaults(f Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f.DropRate = clamp01(f.DropRate)
	f.DuplicateRate = clamp01(f.DuplicateRate)
	f.ReorderRate = clamp01(f.ReorderRate)
	f.CorruptSignatureRate = clamp01(f.CorruptSignatureRate)
	if f.Delay < 0 {
		f.Delay = 0
	}
	e.faults = f
	e.rng = rand.New(rand.NewPCG(uint64(f.Seed), uint64(f.Seed)>>1^0x9e3779b97f4a7c15))
}

// Faults returns the fault injection settings.
func (e *Engine) Faults() Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.faults
}

// SetConfig changes the settings; zero fields take their defaults. Waiting
// webhooks re-plan with the new values at once.
func (e *Engine) SetConfig(c Config) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg = c.withDefaults()
	for _, w := range e.workers {
		e.wakeLocked(w)
	}
}

// Config returns the settings.
func (e *Engine) Config() Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

// Records returns copies of the recorded attempts for the webhook gid, or
// all of them for "", oldest first.
func (e *Engine) Records(gid string) []Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Record
	for _, r := range e.records[e.recStart:] {
		if gid != "" && r.WebhookGID != gid {
			continue
		}
		r.RequestHeader = r.RequestHeader.Clone()
		r.ResponseHeader = r.ResponseHeader.Clone()
		r.RequestBody = bytes.Clone(r.RequestBody)
		out = append(out, r)
	}
	return out
}

// Pending returns how many events are queued for gid and not yet
// acknowledged.
func (e *Engine) Pending(gid string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if w, ok := e.workers[gid]; ok {
		return len(w.queue)
	}
	return 0
}

// Reset drops all webhooks (without the DeliverAfterDelete fault) and all
// records, and waits for the goroutines running when it was called to stop.
// Webhooks added while it waits are kept. Settings and faults stay.
func (e *Engine) Reset() {
	e.mu.Lock()
	for gid, w := range e.workers {
		delete(e.workers, gid)
		w.removed = true
		w.queue = nil
		w.cancel()
	}
	stopping := make([]*worker, 0, len(e.running))
	for w := range e.running {
		stopping = append(stopping, w)
	}
	e.mu.Unlock()
	e.waitStopped(stopping)
	e.mu.Lock()
	e.records, e.recStart, e.recBytes = nil, 0, 0
	e.mu.Unlock()
}

// Close stops every webhook's goroutine and waits for them. The engine
// delivers nothing afterwards.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	for gid, w := range e.workers {
		delete(e.workers, gid)
		w.removed = true
		w.queue = nil
		w.cancel()
	}
	e.mu.Unlock()
	e.wg.Wait()
	e.client.CloseIdleConnections()
}

// waitStopped waits until none of ws is running. Only these: a webhook added
// meanwhile runs until it is removed, so waiting for every goroutine could
// last forever.
func (e *Engine) waitStopped(ws []*worker) {
	for {
		e.mu.Lock()
		n := 0
		for _, w := range ws {
			if _, ok := e.running[w]; ok {
				n++
			}
		}
		e.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// wakeLocked makes w re-plan. The waker clears parked itself so that idle()
// never sees a worker that is about to run as waiting.
func (e *Engine) wakeLocked(w *worker) {
	w.parked = false
	w.wakes++
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Idle reports whether every webhook goroutine is waiting (for its clock
// timer or for new work) and how many wait on a clock timer. On a
// clock.Fake that only the engine uses, the engine has settled (nothing
// happens until the clock moves) when idle is true and timers equals the
// Fake's Waiters(); tests use that to run the clock deadline by deadline.
func (e *Engine) Idle() (idle bool, timers int) { return e.idle() }

func (e *Engine) idle() (idle bool, timers int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for w := range e.running {
		if !w.parked {
			return false, 0
		}
		if w.hasTimer {
			timers++
		}
	}
	return true, timers
}

// action is what a worker decided to do next.
type action int

const (
	actWait action = iota
	actHeartbeat
	actEvents
	actDelete
	actExit
)

// run is a webhook's goroutine.
func (e *Engine) run(ctx context.Context, w *worker) {
	defer e.wg.Done()
	defer func() {
		e.mu.Lock()
		delete(e.running, w)
		e.mu.Unlock()
	}()
	for {
		e.mu.Lock()
		act, batch, wait := e.planLocked(ctx, w)
		wakes := w.wakes
		cfg, faults, gid := e.cfg, e.faults, w.target.GID
		switch act {
		case actExit:
			var last []json.RawMessage
			if w.removed && faults.DeliverAfterDelete && len(w.queue) > 0 && !e.closed {
				last = w.queue[:min(len(w.queue), cfg.MaxBatch)]
			}
			w.queue = nil
			target := w.target
			e.mu.Unlock()
			if last != nil {
				// The webhook is gone, but the fault delivers what was queued
				// once more; its outcome changes nothing.
				e.logger.Debug("fault: delivering after delete", "webhook", gid, "events", len(last))
				e.attempt(context.Background(), target, KindEvents, last, 1, cfg, faults)
			}
			return
		case actDelete:
			delete(e.workers, gid)
			w.removed = true
			reason := fmt.Sprintf("no successful delivery since %s (%s)", w.streakStart.UTC().Format(time.RFC3339Nano), cfg.DeleteAfter)
			e.mu.Unlock()
			w.cancel()
			e.logger.Info("webhook deleted after failing deliveries", "webhook", gid, "reason", reason)
			e.onDelete(gid, reason)
			return
		case actWait:
			var t clock.Timer
			var tc <-chan time.Time
			e.mu.Unlock()
			if wait > 0 {
				t = e.clk.NewTimer(wait)
				tc = t.C()
			}
			e.mu.Lock()
			if w.wakes != wakes {
				// Woken while planning: plan again.
				e.mu.Unlock()
				if t != nil {
					t.Stop()
				}
				continue
			}
			// Every wake so far is reflected in the plan, so a token left in
			// the channel is stale.
			select {
			case <-w.wake:
			default:
			}
			w.parked, w.hasTimer = true, t != nil
			e.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-w.wake:
			case <-tc:
			}
			if t != nil {
				t.Stop()
			}
			e.mu.Lock()
			w.parked, w.hasTimer = false, false
			e.mu.Unlock()
			continue
		}
		target, attemptNo := w.target, w.retryCount+1
		if act == actHeartbeat {
			w.lastHeartbeat = e.clk.Now()
		}
		e.mu.Unlock()

		ok, content := e.attempt(ctx, target, kindOf(act), batch, attemptNo, cfg, faults)

		e.mu.Lock()
		now := e.clk.Now()
		if ok {
			w.lastSuccess = now
			w.retryCount = 0
			w.nextAttempt, w.deletionAt, w.streakStart = time.Time{}, time.Time{}, time.Time{}
			w.lastBackoff = 0
			w.pendingHeartbeat = false
			if act == actEvents {
				w.queue = w.queue[min(len(batch), len(w.queue)):]
				if len(w.queue) == 0 {
					w.queue, w.firstQueuedAt = nil, time.Time{}
				}
			}
		} else if ctx.Err() == nil {
			e.failLocked(w, now, content, cfg)
			if act == actHeartbeat {
				w.pendingHeartbeat = true // retried with backoff like any delivery
			}
		}
		e.mu.Unlock()
	}
}

func kindOf(a action) string {
	if a == actHeartbeat {
		return KindHeartbeat
	}
	return KindEvents
}

// planLocked decides a worker's next step at the clock's current time; for
// actWait it returns how long to wait (0: until woken).
func (e *Engine) planLocked(ctx context.Context, w *worker) (action, []json.RawMessage, time.Duration) {
	if ctx.Err() != nil || w.removed {
		return actExit, nil, 0
	}
	cfg := e.cfg
	now := e.clk.Now()
	if !w.deletionAt.IsZero() && !now.Before(w.deletionAt) {
		return actDelete, nil, 0
	}
	if w.forceHeartbeat {
		w.forceHeartbeat = false
		return actHeartbeat, nil, 0
	}
	if !now.Before(w.nextHeartbeat) {
		// Heartbeats missed by a jump of the clock collapse into one; the
		// schedule keeps its phase.
		w.pendingHeartbeat = true
		missed := now.Sub(w.nextHeartbeat)/cfg.HeartbeatEvery + 1
		w.nextHeartbeat = w.nextHeartbeat.Add(missed * cfg.HeartbeatEvery)
	}
	gate := w.nextAttempt // zero: open
	open := !now.Before(gate)
	var queueAt time.Time
	if len(w.queue) > 0 {
		queueAt = w.firstQueuedAt.Add(cfg.BatchWindow)
		if queueAt.Before(gate) {
			queueAt = gate
		}
		if !now.Before(queueAt) {
			n := min(len(w.queue), cfg.MaxBatch)
			return actEvents, w.queue[:n:n], 0
		}
	}
	if w.pendingHeartbeat && open {
		return actHeartbeat, nil, 0
	}
	// Wait for the earliest of: deletion, next heartbeat, retry/batch time.
	wake := w.nextHeartbeat
	if !w.deletionAt.IsZero() && w.deletionAt.Before(wake) {
		wake = w.deletionAt
	}
	if w.pendingHeartbeat && gate.Before(wake) {
		wake = gate
	}
	if !queueAt.IsZero() && queueAt.Before(wake) {
		wake = queueAt
	}
	d := wake.Sub(now)
	if d <= 0 {
		d = time.Nanosecond // should not happen; never spin
	}
	return actWait, nil, d
}

// failLocked updates w after a failed attempt at now.
func (e *Engine) failLocked(w *worker, now time.Time, content string, cfg Config) {
	if w.streakStart.IsZero() {
		w.streakStart = now
		w.deletionAt = now.Add(cfg.DeleteAfter)
		w.lastBackoff = 0
	}
	w.lastFailure = now
	w.lastFailureContent = content
	w.retryCount++
	b := backoff(cfg, w.retryCount, now.Sub(w.streakStart))
	if b < w.lastBackoff {
		b = w.lastBackoff
	}
	w.lastBackoff = b
	w.nextAttempt = now.Add(b)
}

// backoff is the wait after the n-th failure (n >= 1) of a streak that
// started elapsed ago: base doubling per failure, capped by the streak's
// length (at least base) and by BackoffMax.
func backoff(cfg Config, n int, elapsed time.Duration) time.Duration {
	b := cfg.BackoffBase
	for i := 1; i < n && b < cfg.BackoffMax; i++ {
		if b > math.MaxInt64/2 {
			b = cfg.BackoffMax
			break
		}
		b *= 2
	}
	limit := max(elapsed, cfg.BackoffBase)
	return min(b, limit, cfg.BackoffMax)
}

// attempt sends one body (a heartbeat when events is nil) and records it. It
// reports success and, on failure, the text for last_failure_content.
func (e *Engine) attempt(ctx context.Context, t Target, kind string, events []json.RawMessage, attemptNo int, cfg Config, f Faults) (bool, string) {
	if f.Delay > 0 {
		timer := time.NewTimer(f.Delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false, "cancelled"
		case <-timer.C:
		}
	}
	e.mu.Lock()
	reorder := len(events) > 1 && f.ReorderRate > 0 && e.rng.Float64() < f.ReorderRate
	corrupt := f.CorruptSignatureRate > 0 && e.rng.Float64() < f.CorruptSignatureRate
	duplicate := kind == KindEvents && f.DuplicateRate > 0 && e.rng.Float64() < f.DuplicateRate
	if reorder {
		events = append([]json.RawMessage(nil), events...)
		e.rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	}
	e.mu.Unlock()
	if events == nil {
		events = []json.RawMessage{}
	}
	body := EncodeBody(events)
	sig := asana.Sign(t.Secret, body)
	if corrupt {
		sig = flipSignature(sig)
	}
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set(asana.HeaderSignature, sig)

	actx, cancel := context.WithTimeout(ctx, cfg.Deadline)
	res := e.do(actx, t.URL, hdr, body)
	cancel()
	ok := res.err == nil && succeeded(res.status, cfg.AcceptAny2xx)
	rec := res.record(t.GID, t.URL, kind, len(events), attemptNo)
	rec.Success = ok
	content := ""
	if !ok {
		content = res.failureContent(cfg.Deadline)
		if rec.Err == "" {
			rec.Err = strings.SplitN(content, "\n", 2)[0]
		}
	}
	e.addRecord(rec)
	if ok && duplicate {
		e.logger.Debug("fault: duplicate delivery", "webhook", t.GID)
		actx, cancel := context.WithTimeout(ctx, cfg.Deadline)
		dup := e.do(actx, t.URL, hdr, body)
		cancel()
		drec := dup.record(t.GID, t.URL, kind, len(events), attemptNo)
		drec.Success = dup.err == nil && succeeded(dup.status, cfg.AcceptAny2xx)
		e.addRecord(drec)
	}
	e.logger.Debug("delivery attempt", "webhook", t.GID, "kind", kind, "events", len(events), "status", res.status, "ok", ok)
	return ok, content
}

func succeeded(status int, any2xx bool) bool {
	if any2xx {
		return status >= 200 && status < 300
	}
	return status == http.StatusOK || status == http.StatusNoContent
}

// flipSignature returns sig with its first hex digit changed, so it no
// longer verifies but still looks like a signature.
func flipSignature(sig string) string {
	if sig == "" {
		return strings.Repeat("0", 64)
	}
	c := sig[0]
	n := byte('0')
	if c == '0' {
		n = '1'
	}
	return string(n) + sig[1:]
}

// result is the outcome of one HTTP request.
type result struct {
	reqHeader  http.Header
	reqBody    []byte
	status     int
	statusText string
	header     http.Header
	excerpt    string
	err        error
	timeout    bool
	started    time.Time // clock
	duration   time.Duration
}

// do POSTs body to url with hdr and reads at most an excerpt of the answer.
func (e *Engine) do(ctx context.Context, url string, hdr http.Header, body []byte) result {
	hdr.Set("User-Agent", UserAgent)
	res := result{reqHeader: hdr, reqBody: body, started: e.clk.Now()}
	begin := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		res.err = fmt.Errorf("build request: %w", err)
		res.duration = time.Since(begin)
		return res
	}
	req.Header = hdr.Clone()
	resp, err := e.client.Do(req)
	if err != nil {
		res.err = err
		res.timeout = errors.Is(err, context.DeadlineExceeded) || isTimeout(err)
		res.duration = time.Since(begin)
		return res
	}
	defer resp.Body.Close()
	res.status = resp.StatusCode
	res.statusText = resp.Status
	if res.statusText == "" {
		res.statusText = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	res.header = resp.Header
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, excerptLimit))
	res.excerpt = string(b)
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if rerr != nil && ctx.Err() != nil {
		// The status came in time but the body did not: still a timeout.
		res.err = rerr
		res.timeout = true
	}
	res.duration = time.Since(begin)
	return res
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// failureContent is the last_failure_content text for a failed attempt.
func (r result) failureContent(deadline time.Duration) string {
	switch {
	case r.err != nil && r.timeout:
		return fmt.Sprintf("timeout: no response within %s", deadline)
	case r.err != nil:
		return fmt.Sprintf("connection error: %v", r.err)
	case r.status >= 300 && r.status < 400:
		return fmt.Sprintf("%s\n\nredirects are not followed (Location: %s)", r.statusText, r.header.Get("Location"))
	default:
		return r.statusText + "\n\n" + r.excerpt
	}
}

// record turns r into a Record, with the handshake secret redacted.
func (r result) record(gid, url, kind string, events, attemptNo int) Record {
	reqHeader := redact(r.reqHeader)
	if reqHeader != nil {
		// The transport adds Content-Length; show it as it went out.
		reqHeader.Set("Content-Length", fmt.Sprint(len(r.reqBody)))
	}
	rec := Record{
		WebhookGID:     gid,
		URL:            url,
		Kind:           kind,
		EventCount:     events,
		Attempt:        attemptNo,
		RequestHeader:  reqHeader,
		RequestBody:    r.reqBody,
		Status:         r.status,
		ResponseHeader: redact(r.header),
		ResponseBody:   r.excerpt,
		StartedAt:      r.started,
		Duration:       r.duration,
	}
	if r.err != nil {
		rec.Err = r.err.Error()
		if r.timeout {
			rec.Err = "timeout: " + rec.Err
		}
	}
	return rec
}

// redact copies h with the X-Hook-Secret value hidden: records are shown by
// the admin API and secrets never appear in output.
func redact(h http.Header) http.Header {
	if h == nil {
		return nil
	}
	c := h.Clone()
	k := http.CanonicalHeaderKey(asana.HeaderSecret)
	if vs, ok := c[k]; ok {
		for i := range vs {
			vs[i] = asana.Redacted
		}
	}
	return c
}

// addRecord appends rec to the records, dropping the oldest beyond
// MaxRecords records or MaxRecordBytes body bytes.
func (e *Engine) addRecord(rec Record) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextID++
	rec.ID = e.nextID
	e.records = append(e.records, rec)
	e.recBytes += recordBytes(rec)
	for len(e.records)-e.recStart > 1 &&
		(len(e.records)-e.recStart > MaxRecords || e.recBytes > MaxRecordBytes) {
		e.recBytes -= recordBytes(e.records[e.recStart])
		e.records[e.recStart] = Record{} // let the bodies be collected
		e.recStart++
	}
	if e.recStart > len(e.records)/2 {
		e.records = append([]Record(nil), e.records[e.recStart:]...)
		e.recStart = 0
	}
}

func recordBytes(r Record) int { return len(r.RequestBody) + len(r.ResponseBody) }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func clamp01(f float64) float64 {
	switch {
	case f != f || f < 0: // NaN or negative
		return 0
	case f > 1:
		return 1
	}
	return f
}
