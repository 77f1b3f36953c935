package webui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// Notification says that a delivery was stored. It carries ids only: the
// feed reads the delivery from the store, so nothing but what the store
// keeps (and the UI shows) ever reaches a page.
type Notification struct {
	// DeliveryID is the stored delivery's id.
	DeliveryID int64
	// HookID is the webhook it was delivered to.
	HookID string
}

// subscriberBuffer is the channel size of each subscription.
const subscriberBuffer = 64

// Broadcaster fans notifications out to every subscriber without blocking
// the publisher: a subscriber whose buffer is full misses the notification
// and catches up from the store on the next one. It implements Feed. The zero
// value is ready to use and safe for concurrent use.
type Broadcaster struct {
	mu   sync.Mutex
	subs map[chan Notification]struct{}
}

// NewBroadcaster returns an empty Broadcaster.
func NewBroadcaster() *Broadcaster { return &Broadcaster{} }

// Publish tells every subscriber of n. It never blocks.
func (b *Broadcaster) Publish(n Notification) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- n:
		default:
		}
	}
}

// Observe publishes a stored delivery; it fits the receiver's OnDelivery.
func (b *Broadcaster) Observe(res inspector.RecordResult) {
	b.Publish(Notification{DeliveryID: res.Delivery.ID, HookID: res.Delivery.HookID})
}

// Subscribe implements Feed.
func (b *Broadcaster) Subscribe() (<-chan Notification, func()) {
	ch := make(chan Notification, subscriberBuffer)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = make(map[chan Notification]struct{})
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
		})
	}
}

// Subscribers returns the number of live subscriptions.
func (b *Broadcaster) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// maxCatchUp bounds how many deliveries one catch-up sends; older ones are
// on the Events page.
const maxCatchUp = 500

// feedMessage is the data of one "delivery" event of the stream. HTML is the
// row as the Events page renders it, so both paths show the same thing.
type feedMessage struct {
	ID     int64  `json:"id"`
	HookID string `json:"hook_id"`
	Kind   string `json:"kind"`
	// NewEvents counts the events the webhook had not received before,
	// for the page's count of distinct events.
	NewEvents int    `json:"new_events"`
	HTML      string `json:"html"`
}

// serveStream is GET /events/stream: server-sent events, one "delivery"
// event per delivery stored after the id in ?after= or Last-Event-ID, oldest
// first, then each new one as it is stored: at once when this process stored
// it, within PollInterval when another process sharing the store did.
func (u *UI) serveStream(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	after, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	if after == 0 {
		after, _ = strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	}
	if after < 0 {
		after = 0
	}
	select {
	case <-u.closing:
		http.Error(w, "503 the inspector is stopping", http.StatusServiceUnavailable)
		return
	default:
	}
	notes, cancel := u.cfg.Feed.Subscribe()
	defer cancel()

	rc := http.NewResponseController(w)
	// The stream outlives the server's read and write timeouts on purpose,
	// but each write gets StreamWriteTimeout: a client that reads nothing
	// (a frozen tab, a stalled proxy) must not hold this goroutine and its
	// connection for ever.
	_ = rc.SetReadDeadline(time.Time{})
	extend := func() { _ = rc.SetWriteDeadline(time.Now().Add(u.cfg.StreamWriteTimeout)) } // a real deadline, whatever cfg.Now
	extend()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// retry: how long the browser waits before reconnecting.
	if _, err := fmt.Fprint(w, "retry: 2000\n: stream open\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}

	hooks := u.hookNames(ctx)
	send := func() error {
		ds, err := u.deliveriesAfter(r, after)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if _, ok := hooks[d.Delivery.HookID]; !ok {
				hooks = u.hookNames(ctx)
			}
			row := u.deliveryRow(d, hooks)
			var buf bytes.Buffer
			if err := u.tmpl.ExecuteTemplate(&buf, "delivery-row", row); err != nil {
				return fmt.Errorf("render delivery %d: %w", d.Delivery.ID, err)
			}
			data, err := json.Marshal(feedMessage{ID: d.Delivery.ID, HookID: d.Delivery.HookID, Kind: string(d.Delivery.Kind),
				NewEvents: d.Delivery.NewEventCount, HTML: buf.String()})
			if err != nil {
				return fmt.Errorf("encode delivery %d: %w", d.Delivery.ID, err)
			}
			extend()
			if _, err := fmt.Fprintf(w, "id: %d\nevent: delivery\ndata: %s\n\n", d.Delivery.ID, data); err != nil {
				return err
			}
			after = d.Delivery.ID
		}
		return rc.Flush()
	}
	if err := send(); err != nil {
		u.log.Warn("event stream ended", "err", err)
		return
	}
	keep := time.NewTicker(u.cfg.KeepAlive)
	defer keep.Stop()
	poll := time.NewTicker(u.cfg.PollInterval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.closing:
			return
		case <-notes:
			if err := send(); err != nil {
				u.log.Warn("event stream ended", "err", err)
				return
			}
		case <-poll.C:
			if err := send(); err != nil {
				u.log.Warn("event stream ended", "err", err)
				return
			}
		case <-keep.C:
			extend()
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// deliveriesAfter returns the deliveries with an id above after, oldest
// first, with their events; at most maxCatchUp (the newest ones).
func (u *UI) deliveriesAfter(r *http.Request, after int64) ([]inspector.DeliveryDetail, error) {
	ctx := r.Context()
	var ids []int64
	var before int64
	for len(ids) < maxCatchUp {
		page, err := u.cfg.Reader.ListDeliveries(ctx, inspector.DeliveryFilter{BeforeID: before, Limit: 100})
		if err != nil {
			return nil, fmt.Errorf("list deliveries after %d: %w", after, err)
		}
		done := len(page) == 0
		for _, d := range page {
			if d.ID <= after {
				done = true
				break
			}
			ids = append(ids, d.ID)
			before = d.ID
		}
		if done || len(page) < 100 {
			break
		}
	}
	slices.Reverse(ids)
	out := make([]inspector.DeliveryDetail, 0, len(ids))
	for _, id := range ids {
		d, err := u.cfg.Reader.GetDelivery(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("get delivery %d: %w", id, err)
		}
		out = append(out, d)
	}
	return out, nil
}
