package delivery

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/clock"
)

// Engine delivers events to webhook targets. It is safe for concurrent use.
type Engine struct {
	mu       sync.Mutex
	cfg      Config
	faults   Faults
	clk      clock.Clock
	logger   *slog.Logger
	onDelete func(gid, reason string)
}

// New returns an Engine timed by clk. onDelete is called (from the engine's
// goroutine, without locks held) when a webhook is deleted for lack of success.
func New(cfg Config, clk clock.Clock, logger *slog.Logger, onDelete func(gid string, reason string)) *Engine {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: cfg.withDefaults(), clk: clk, logger: logger, onDelete: onDelete}
}

// Handshake POSTs an empty body with X-Hook-Secret to url and succeeds only
// for 200 or 204 with the exact value echoed.
func (e *Engine) Handshake(ctx context.Context, gid, url string, secret asana.Secret) error { return nil }

// Add starts delivering to t.
func (e *Engine) Add(t Target) {}

// Remove stops delivering to the webhook gid.
func (e *Engine) Remove(gid string) {}

// Enqueue queues events (already encoded by EncodeEvent) for the webhook gid.
func (e *Engine) Enqueue(gid string, events ...json.RawMessage) {}

// Health returns the delivery state of the webhook gid.
func (e *Engine) Health(gid string) (Health, bool) { return Health{}, false }

// Heartbeat sends a heartbeat now to gid, or to every webhook for "".
func (e *Engine) Heartbeat(gid string) int { return 0 }

// SetFaults sets the fault injection settings.
func (e *Engine) SetFaults(f Faults) { e.mu.Lock(); e.faults = f; e.mu.Unlock() }

// Faults returns the fault injection settings.
func (e *Engine) Faults() Faults { e.mu.Lock(); defer e.mu.Unlock(); return e.faults }

// SetConfig changes the settings.
func (e *Engine) SetConfig(c Config) { e.mu.Lock(); e.cfg = c.withDefaults(); e.mu.Unlock() }

// Config returns the settings.
func (e *Engine) Config() Config { e.mu.Lock(); defer e.mu.Unlock(); return e.cfg }

// Records returns the recorded attempts for gid ("" = all), oldest first.
func (e *Engine) Records(gid string) []Record { return nil }

// Pending returns how many events are queued for gid.
func (e *Engine) Pending(gid string) int { return 0 }

// Reset drops all targets and records.
func (e *Engine) Reset() {}

// Close stops all goroutines and waits for them.
func (e *Engine) Close() {}
