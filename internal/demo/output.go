package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// terminal serializes the demo's narration and the inspector's printer on one
// stream, and counts the inspector's writes so that the narration can wait
// for a delivery to be shown before it moves on.
type terminal struct {
	mu      sync.Mutex
	w       io.Writer
	written int           // writes by the inspector
	changed chan struct{} // closed and replaced on every inspector write
}

func newTerminal(w io.Writer) *terminal {
	return &terminal{w: w, changed: make(chan struct{})}
}

// sayf writes one line of narration.
func (t *terminal) sayf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, format+"\n", args...)
}

// inspectorWrites returns how many writes the inspector has made.
func (t *terminal) inspectorWrites() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.written
}

// waitWrites waits until the inspector has made at least n writes, or until
// the timeout; ordering the terminal is a courtesy, never a reason to hang.
func (t *terminal) waitWrites(ctx context.Context, n int, timeout time.Duration) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		t.mu.Lock()
		done, ch := t.written >= n, t.changed
		t.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// inspectorOut is the inspector's side of the terminal.
type inspectorOut struct{ t *terminal }

func (o inspectorOut) Write(p []byte) (int, error) {
	o.t.mu.Lock()
	defer o.t.mu.Unlock()
	n, err := o.t.w.Write(p)
	o.t.written++
	close(o.t.changed)
	o.t.changed = make(chan struct{})
	return n, err
}

// rejections is a slog.Handler in front of the inspector's log: it counts
// the requests to a webhook target (/hooks/...) that the receiver refused as unauthenticated or unwanted (401, 403
// and 409: bad signatures and handshakes outside a create), which the demo
// narrates itself, and passes every other record on.
type rejections struct {
	next  slog.Handler
	attrs []slog.Attr
	count *counter
}

type counter struct {
	mu sync.Mutex
	n  map[int]int
}

func (c *counter) add(status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[status]++
}

func (c *counter) snapshot() map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

func newRejections(next slog.Handler) *rejections {
	return &rejections{next: next, count: &counter{n: map[int]int{}}}
}

// Enabled implements slog.Handler: every record is looked at, since the
// counted ones are warnings and the next handler may show only errors.
func (h *rejections) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (h *rejections) Handle(ctx context.Context, r slog.Record) error {
	status, path := 0, ""
	find := func(a slog.Attr) bool {
		switch a.Key {
		case "status":
			if v, ok := a.Value.Any().(int64); ok {
				status = int(v)
			}
		case "path":
			path = a.Value.String()
		}
		return true
	}
	for _, a := range h.attrs {
		find(a)
	}
	r.Attrs(find)
	if strings.HasPrefix(path, "/hooks/") {
		switch status {
		case 401, 403, 409:
			h.count.add(status)
			return nil
		}
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *rejections) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &rejections{next: h.next.WithAttrs(attrs), attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...), count: h.count}
}

// WithGroup implements slog.Handler.
func (h *rejections) WithGroup(name string) slog.Handler {
	return &rejections{next: h.next.WithGroup(name), attrs: h.attrs, count: h.count}
}
