package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/gateway"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// printerBuffer is how many deliveries may wait for the terminal before new
// ones are dropped from the display (never from the store).
const printerBuffer = 1024

// printer writes the terminal log. The receiver hands it deliveries on the
// request goroutine; it queues them and prints from its own goroutine, so a
// slow terminal never delays an acknowledgement.
type printer struct {
	store   inspector.Store
	out     io.Writer // events and heartbeats
	msg     io.Writer // notices and startup lines
	json    bool
	verbose bool
	log     *slog.Logger

	mu      sync.Mutex // serializes writes to out and msg
	queue   chan printItem
	done    chan struct{}
	qmu     sync.Mutex // guards closed and dropped; never held while writing
	closed  bool
	dropped int

	gids map[string]string // hook id -> webhook gid, once known (printer goroutine only)
}

func newPrinter(store inspector.Store, stdout, stderr io.Writer, jsonOut, verbose bool, log *slog.Logger) *printer {
	p := &printer{store: store, out: stdout, msg: stdout, json: jsonOut, verbose: verbose, log: log,
		queue: make(chan printItem, printerBuffer), done: make(chan struct{}), gids: map[string]string{}}
	if jsonOut {
		p.msg = stderr
	}
	go p.loop()
	return p
}

// printItem is one entry of the printer's queue: a stored delivery, or what
// the gateway did with one (so that it prints after the delivery itself).
type printItem struct {
	delivery  *inspector.RecordResult
	forwarded *gateway.Event
}

// delivery queues a stored delivery; it never blocks.
func (p *printer) delivery(r inspector.RecordResult) { p.enqueue(printItem{delivery: &r}) }

// forwarded queues what the gateway did with a delivery; it never blocks.
func (p *printer) forwarded(ev gateway.Event) { p.enqueue(printItem{forwarded: &ev}) }

func (p *printer) enqueue(it printItem) {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	if p.closed {
		return
	}
	select {
	case p.queue <- it:
	default:
		p.dropped++
	}
}

// handshake tells the user a handshake was accepted.
func (p *printer) handshake(hookID string) {
	p.line(p.msg, "%s  handshake accepted for hook %s", clock(time.Now()), short(hookID))
}

// printForwarded prints what the gateway did: a delivery forwarded,
// refused or given up, or a handshake with the app.
func (p *printer) printForwarded(ev gateway.Event) {
	now := clock(time.Now())
	answer := "no answer: " + clean(fmt.Sprint(ev.Err))
	if ev.Err == nil {
		answer = fmt.Sprintf("%d %s", ev.Status, http.StatusText(ev.Status))
	}
	switch {
	case ev.Handshake && ev.Err == nil:
		p.line(p.msg, "%s  -> handshake with the app done: it has a new secret", now)
	case ev.Handshake:
		p.line(p.msg, "%s  warning: the app did not complete the handshake: %s; trying again in %s", now, clean(ev.Err.Error()), ev.Retry)
	case ev.OK():
		p.line(p.msg, "%s  -> forwarded delivery %d (%s) to the app: %s (%s)", now, ev.DeliveryID, ev.Kind, answer,
			ev.Duration.Round(time.Millisecond))
	case ev.Renew:
		p.line(p.msg, "%s  warning: the app refused delivery %d: %s; it may have lost its secret (a restart?): a new handshake, then again",
			now, ev.DeliveryID, answer)
	case ev.GaveUp:
		p.line(p.msg, "%s  warning: delivery %d not forwarded: the app kept refusing it (last: %s); given up, as Asana would",
			now, ev.DeliveryID, answer)
	case ev.FreshSecret:
		p.line(p.msg, "%s  warning: the app refused delivery %d (%s) although it was signed with the secret the app had just echoed: "+
			"its verification is wrong (it must compare X-Hook-Signature with the hex HMAC-SHA256 of the raw body); trying again in %s",
			now, ev.DeliveryID, answer, ev.Retry)
	default:
		p.line(p.msg, "%s  warning: forwarding delivery %d failed: %s; trying again in %s", now, ev.DeliveryID, answer, ev.Retry)
	}
}

// notice prints a manager's notice.
func (p *printer) notice(n inspector.Notice) {
	mark := ""
	if n.Level == inspector.NoticeWarn {
		mark = "warning: "
	}
	p.line(p.msg, "%s  %s%s", clock(time.Now()), mark, clean(n.Text))
}

// info prints a startup or shutdown line.
func (p *printer) info(format string, args ...any) {
	p.line(p.msg, format, args...)
}

func (p *printer) line(w io.Writer, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(w, format+"\n", args...)
}

// close prints what is queued and stops.
func (p *printer) close() {
	p.qmu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	dropped := p.dropped
	p.qmu.Unlock()
	<-p.done
	if dropped > 0 {
		p.line(p.msg, "%d deliveries were not shown (the terminal was too slow); they are stored: see `asana-webhooks deliveries list`", dropped)
	}
}

func (p *printer) loop() {
	defer close(p.done)
	for it := range p.queue {
		switch {
		case it.delivery != nil:
			p.print(*it.delivery)
		case it.forwarded != nil:
			p.printForwarded(*it.forwarded)
		}
	}
}

// webhookGID looks up (and caches) the Asana gid of a hook. The initial
// heartbeat may arrive before the 201, while the hook is still pending.
func (p *printer) webhookGID(hookID string) string {
	if g, ok := p.gids[hookID]; ok {
		return g
	}
	ctx, cancel := context.WithTimeout(context.Background(), pendingWait)
	defer cancel()
	for {
		h, err := p.store.GetHook(ctx, hookID)
		if err != nil {
			return ""
		}
		if h.WebhookGID != "" {
			p.gids[hookID] = h.WebhookGID
			return h.WebhookGID
		}
		if h.State != inspector.HookPending {
			return ""
		}
		// Asana's 201 is on its way: wait a little for the gid, on this
		// goroutine only (acknowledgements never wait for the terminal).
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// pendingWait is how long the printer waits for the gid of a webhook whose
// first heartbeat arrived before the 201.
const pendingWait = 3 * time.Second

func (p *printer) print(r inspector.RecordResult) {
	d := r.Delivery
	gid := p.webhookGID(d.HookID)
	var events []inspector.IncomingEvent
	if d.Kind == inspector.KindEvents {
		events = inspector.ParseDeliveryBody(d.Body).Events
	}
	if p.json {
		p.printJSON(d, gid, events, r.Events)
		return
	}
	var b strings.Builder
	if gid == "" {
		gid = "(being created)" // the heartbeat that follows the handshake can beat the 201
	}
	who := "webhook " + gid + " (hook " + short(d.HookID) + ")"
	switch d.Kind {
	case inspector.KindHeartbeat:
		fmt.Fprintf(&b, "%s  %s  heartbeat\n", clock(d.ReceivedAt), who)
	case inspector.KindMalformed:
		fmt.Fprintf(&b, "%s  %s  malformed body stored: %s\n", clock(d.ReceivedAt), who, clean(d.Problem))
	default:
		fmt.Fprintf(&b, "%s  %s  %d %s, %d new\n", clock(d.ReceivedAt), who, d.EventCount, plural(d.EventCount, "event", "events"), d.NewEventCount)
	}
	if p.verbose {
		hdr := inspector.RedactHeaders(d.Headers)
		names := make([]string, 0, len(hdr))
		for k := range hdr {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			for _, v := range hdr[k] {
				fmt.Fprintf(&b, "    %s: %s\n", clean(k), clean(v))
			}
		}
	}
	for _, rc := range r.Events {
		if rc.Position < 0 || rc.Position >= len(events) {
			continue
		}
		seen := ""
		if !rc.New {
			seen = "  (seen before)"
		}
		fmt.Fprintf(&b, "    %s%s\n", EventLine(events[rc.Position].Raw), seen)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = io.WriteString(p.out, b.String())
}

// jsonEvent is one line of --json output for an event.
type jsonEvent struct {
	Event      json.RawMessage `json:"event"`
	Webhook    string          `json:"webhook"`
	HookID     string          `json:"hook_id"`
	ReceivedAt time.Time       `json:"received_at"`
	New        bool            `json:"new"`
	// Headers are the delivery's headers, redacted; only with -v.
	Headers http.Header `json:"headers,omitempty"`
}

// jsonHeartbeat is one line of --json output for a heartbeat.
type jsonHeartbeat struct {
	Heartbeat  bool      `json:"heartbeat"`
	Webhook    string    `json:"webhook"`
	HookID     string    `json:"hook_id"`
	ReceivedAt time.Time `json:"received_at"`
	// Headers are the delivery's headers, redacted; only with -v.
	Headers http.Header `json:"headers,omitempty"`
}

// jsonMalformed is one line of --json output for a body that is not
// {"events":[...]}.
type jsonMalformed struct {
	Malformed  bool      `json:"malformed"`
	Problem    string    `json:"problem"`
	Webhook    string    `json:"webhook"`
	HookID     string    `json:"hook_id"`
	ReceivedAt time.Time `json:"received_at"`
	// Headers are the delivery's headers, redacted; only with -v.
	Headers http.Header `json:"headers,omitempty"`
}

// printJSON writes a delivery's lines; with -v each carries the delivery's
// headers, redacted, under "headers".
func (p *printer) printJSON(d inspector.Delivery, gid string, events []inspector.IncomingEvent, receipts []inspector.EventReceipt) {
	var hdr http.Header
	if p.verbose {
		hdr = inspector.RedactHeaders(d.Headers)
	}
	var lines []any
	switch d.Kind {
	case inspector.KindHeartbeat:
		lines = append(lines, jsonHeartbeat{Heartbeat: true, Webhook: gid, HookID: d.HookID, ReceivedAt: d.ReceivedAt, Headers: hdr})
	case inspector.KindMalformed:
		lines = append(lines, jsonMalformed{Malformed: true, Problem: d.Problem, Webhook: gid, HookID: d.HookID, ReceivedAt: d.ReceivedAt, Headers: hdr})
	default:
		for _, rc := range receipts {
			if rc.Position < 0 || rc.Position >= len(events) {
				continue
			}
			lines = append(lines, jsonEvent{Event: events[rc.Position].Raw, Webhook: gid, HookID: d.HookID, ReceivedAt: d.ReceivedAt, New: rc.New, Headers: hdr})
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	enc := json.NewEncoder(p.out)
	enc.SetEscapeHTML(false)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			p.log.Error("write json line", "err", err)
			return
		}
	}
}

// EventLine describes an event on one line: action, resource type and gid,
// the changed field, the parent and the user, in the words of the events
// command: "changed  task 20  field=name (changed)  by=user 10".
func EventLine(raw json.RawMessage) string {
	var e asana.Event
	if err := json.Unmarshal(raw, &e); err != nil {
		// Not an Asana-shaped event (odd field types): show the action only.
		var loose struct {
			Action any `json:"action"`
		}
		_ = json.Unmarshal(raw, &loose)
		return fmt.Sprintf("%v  (unusual event)", clean(fmt.Sprint(loose.Action)))
	}
	var b strings.Builder
	b.WriteString(clean(orDash(e.Action)))
	b.WriteString("  " + compact(e.Resource))
	if e.Change != nil && e.Change.Field != "" {
		b.WriteString("  field=" + clean(e.Change.Field))
		if e.Change.Action != "" {
			b.WriteString(" (" + clean(e.Change.Action) + ")")
		}
	}
	if e.Parent != nil {
		b.WriteString("  parent=" + compact(*e.Parent))
	}
	if e.User != nil {
		b.WriteString("  by=" + compact(*e.User))
	}
	return b.String()
}

// compact prints "type gid", then the quoted name when the event has one,
// as the events command does.
func compact(c asana.Compact) string {
	var parts []string
	if c.ResourceType != "" {
		t := c.ResourceType
		if c.ResourceSubtype != "" && c.ResourceSubtype != "default_task" {
			t += "/" + c.ResourceSubtype
		}
		parts = append(parts, clean(t))
	}
	parts = append(parts, clean(orDash(c.GID)))
	if c.Name != "" {
		parts = append(parts, fmt.Sprintf("%q", c.Name))
	}
	return strings.Join(parts, " ")
}

// clean replaces control characters, so that text from the API (which other
// Asana users write) cannot drive the terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, s)
}

// clock is the local time of day, to the second.
func clock(t time.Time) string { return t.Local().Format(time.TimeOnly) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
