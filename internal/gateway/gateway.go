// Package gateway forwards the inspector's verified deliveries to the user's
// own app (inspect --forward-to), so that the app, in development, receives
// Asana's webhooks as production would send them: the same bodies, byte for
// byte, signed the same way with a secret the app learned the same way.
//
// At each start the gateway performs Asana's handshake with the app: an
// empty POST with a fresh X-Hook-Secret, which the app must echo (200 or
// 204). The secret is stored with the URL and a cursor, the id of the last
// delivery forwarded, in the inspector's database. Every delivery stored
// after the cursor, heartbeats and redeliveries included, is then POSTed
// with X-Hook-Signature, the hex HMAC-SHA256 of the body under that secret,
// oldest first; the cursor moves only once the app answered 2xx, so a
// delivery survives a crash of the inspector or of the app, and may reach
// the app twice but is never skipped. A delivery the app keeps refusing is
// retried with a doubling wait (1 s up to 1 min) and given up after MaxAge,
// as Asana gives up a webhook after 24 hours of failures.
//
// Unlike Asana, the gateway is forgiving with an app in development: a
// handshake the app does not complete (it is not running yet) is tried again
// until it does, the deliveries waiting meanwhile; and a delivery refused with
// 401 or 403 (the app restarted and forgot its secret) brings a new handshake
// and is sent again. A refusal of a delivery signed with the secret the app
// has just echoed is reported as what it is: a broken signature check.
package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds each request to the app.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxAge is how long a delivery the app keeps refusing is
	// retried before it is given up.
	DefaultMaxAge = 24 * time.Hour
	// DefaultPoll is how often the store is read for new deliveries when
	// no Wake came (deliveries another process stored, say).
	DefaultPoll = 2 * time.Second
	// firstRetry and maxRetry bound the wait between two attempts of a
	// delivery.
	firstRetry = time.Second
	maxRetry   = time.Minute
	// batch is how many deliveries one read of the store takes.
	batch = 100
)

// ErrHandshake wraps a handshake the app did not complete.
var ErrHandshake = errors.New("the app did not complete the handshake")

// errStale stops forwarding until a handshake gives the app a secret again.
var errStale = errors.New("the app needs a new handshake")

// HeaderDeliveryID carries, in every forwarded request, the id of the
// delivery in the inspector's database (for the user's logs; Asana's
// deliveries carry no id).
const HeaderDeliveryID = "X-Asana-Webhooks-Delivery"

// Store is what the gateway needs of the inspector's store.
type Store interface {
	inspector.ForwardStore
	ListDeliveries(ctx context.Context, f inspector.DeliveryFilter) ([]inspector.Delivery, error)
}

// Event is what the gateway reports: one forward, failed attempt or
// delivery given up.
type Event struct {
	DeliveryID int64
	Kind       inspector.Kind
	// Status is the app's answer, 0 when none came (Err says why).
	Status   int
	Err      error
	Duration time.Duration
	// Retry is the wait before the next attempt, when it failed.
	Retry time.Duration
	// GaveUp is set when the delivery is given up after MaxAge.
	GaveUp bool
	// Handshake marks the event of a handshake with the app rather than a
	// delivery (DeliveryID is then 0): at start, retried until the app
	// completes one, or renewed when the app refused a delivery's signature.
	Handshake bool
	// Renew is set on a delivery the app refused (401 or 403) that the
	// gateway sends again after a new handshake.
	Renew bool
	// FreshSecret is set on a delivery the app refused although it was
	// signed with the secret the app had echoed moments before: the app's
	// verification is wrong, not its secret.
	FreshSecret bool
}

// OK reports whether the app accepted the delivery.
func (e Event) OK() bool { return e.Err == nil && e.Status >= 200 && e.Status <= 299 }

// Config configures a Gateway.
type Config struct {
	// Store keeps the target and holds the deliveries. Required.
	Store Store
	// URL is the app's endpoint. Required.
	URL string
	// HTTPClient sends the requests; nil is a client without redirects.
	HTTPClient *http.Client
	// UserAgent is sent with every request; empty is "asana-webhooks".
	UserAgent string
	// Timeout, MaxAge and Poll default to the constants above.
	Timeout time.Duration
	MaxAge  time.Duration
	Poll    time.Duration
	// OnEvent, if set, is called after every attempt, on Run's goroutine.
	OnEvent func(Event)
	// Logger receives the gateway's failures; nil discards.
	Logger *slog.Logger
	// Now and Sleep are the clock; nil are the real ones.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Gateway forwards deliveries to one app. Build it with New, call Prepare,
// then Run.
type Gateway struct {
	cfg  Config
	wake chan struct{}

	mu     sync.Mutex
	secret asana.Secret
	cursor int64
	// stale is set when the app has no valid secret of ours: Run then
	// performs a handshake before it forwards anything.
	stale bool
}

// New returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.Store == nil || cfg.URL == "" {
		return nil, errors.New("new gateway: a store and a URL are required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "asana-webhooks"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	return &Gateway{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// Prepare reads the target's cursor and performs the handshake with the
// app, as Asana does with each new webhook, storing the target with its new
// secret. A target on record keeps its cursor, so what was not forwarded yet
// still is (signed with the new secret); a new one starts at the newest
// delivery (the gateway forwards what arrives from now on). It reports
// whether a cursor was resumed.
//
// The handshake takes place at every start, not only the first: an app in
// development often keeps its secret in memory and loses it when it
// restarts, and each inspector run creates new webhooks, whose handshakes
// give new secrets, too. An error wrapping ErrHandshake leaves the gateway
// usable: Run tries the handshake again until the app completes it.
func (g *Gateway) Prepare(ctx context.Context) (resumed bool, err error) {
	var cursor int64
	t, err := g.cfg.Store.ForwardTarget(ctx, g.cfg.URL)
	switch {
	case err == nil:
		cursor, resumed = t.Cursor, true
	case errors.Is(err, inspector.ErrNotFound):
		newest, err := g.cfg.Store.ListDeliveries(ctx, inspector.DeliveryFilter{Limit: 1})
		if err != nil {
			return false, fmt.Errorf("forward to %s: %w", g.cfg.URL, err)
		}
		if len(newest) > 0 {
			cursor = newest[0].ID
		}
	default:
		return false, fmt.Errorf("forward to %s: %w", g.cfg.URL, err)
	}
	g.mu.Lock()
	g.cursor, g.stale = cursor, true
	g.mu.Unlock()
	return resumed, g.renew(ctx)
}

// renew performs a handshake with a new secret and stores the target with
// it and the current cursor.
func (g *Gateway) renew(ctx context.Context) error {
	secret, err := newSecret()
	if err != nil {
		return fmt.Errorf("forward to %s: %w", g.cfg.URL, err)
	}
	if err := g.handshake(ctx, secret); err != nil {
		return err
	}
	g.mu.Lock()
	cursor := g.cursor
	g.mu.Unlock()
	if err := g.cfg.Store.SaveForwardTarget(ctx, inspector.ForwardTarget{URL: g.cfg.URL, Secret: secret, Cursor: cursor}); err != nil {
		return fmt.Errorf("forward to %s: %w", g.cfg.URL, err)
	}
	g.mu.Lock()
	g.secret, g.stale = secret, false
	g.mu.Unlock()
	return nil
}

func (g *Gateway) set(secret asana.Secret, cursor int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.secret, g.cursor = secret, cursor
}

// handshake does what Asana does with a new webhook's target: an empty POST
// with X-Hook-Secret, to be answered 200 or 204 with the same value echoed.
// Errors never hold the secret.
func (g *Gateway) handshake(ctx context.Context, secret asana.Secret) error {
	hdr := http.Header{}
	hdr.Set(asana.HeaderSecret, secret.Reveal())
	status, echo, err := g.post(ctx, hdr, nil)
	switch {
	case err != nil:
		return fmt.Errorf("handshake with %s: %w: %w", g.cfg.URL, ErrHandshake, err)
	case status != http.StatusOK && status != http.StatusNoContent:
		return fmt.Errorf("handshake with %s: %w: the app answered %d %s; it must answer 200 or 204, echoing X-Hook-Secret, as Asana requires",
			g.cfg.URL, ErrHandshake, status, http.StatusText(status))
	case len(echo) == 0:
		return fmt.Errorf("handshake with %s: %w: the app answered %d but did not echo the X-Hook-Secret header, as Asana requires",
			g.cfg.URL, ErrHandshake, status)
	case echo[0] != secret.Reveal():
		return fmt.Errorf("handshake with %s: %w: the app echoed a different X-Hook-Secret", g.cfg.URL, ErrHandshake)
	}
	return nil
}

// Wake tells Run that a delivery was stored. It never blocks.
func (g *Gateway) Wake() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// Run forwards the deliveries after the cursor, oldest first, until ctx
// ends; it returns nil then. Call Prepare first.
func (g *Gateway) Run(ctx context.Context) error {
	g.mu.Lock()
	prepared := g.stale || !g.secret.IsZero()
	g.mu.Unlock()
	if !prepared {
		return errors.New("gateway: Run before Prepare")
	}
	poll := time.NewTicker(g.cfg.Poll)
	defer poll.Stop()
	for {
		if err := g.handshakeUntilDone(ctx); err != nil {
			return nil // ctx ended
		}
		err := g.drain(ctx)
		if errors.Is(err, errStale) {
			continue
		}
		if err != nil && ctx.Err() == nil {
			g.cfg.Logger.Warn("gateway: read the deliveries to forward", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-g.wake:
		case <-poll.C:
		}
	}
}

// handshakeUntilDone performs the handshake, when the app has no valid
// secret, until the app completes one (waiting 1 s, 2 s, ... up to 1 min
// between tries) or ctx ends; each try is an Event.
func (g *Gateway) handshakeUntilDone(ctx context.Context) error {
	wait := firstRetry
	for {
		g.mu.Lock()
		stale := g.stale
		g.mu.Unlock()
		if !stale {
			return nil
		}
		err := g.renew(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ev := Event{Handshake: true, Err: err}
		if err != nil {
			ev.Retry = wait
		}
		if g.cfg.OnEvent != nil {
			g.cfg.OnEvent(ev)
		}
		if err == nil {
			return nil
		}
		if err := g.cfg.Sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, maxRetry)
	}
}

// drain forwards every delivery after the cursor.
func (g *Gateway) drain(ctx context.Context) error {
	for ctx.Err() == nil {
		g.mu.Lock()
		cursor := g.cursor
		g.mu.Unlock()
		ds, err := g.cfg.Store.DeliveriesAfter(ctx, cursor, batch)
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			return nil
		}
		for _, d := range ds {
			if err := g.forward(ctx, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// forward sends d until the app accepts it, ctx ends or MaxAge passes, then
// moves the cursor past it.
func (g *Gateway) forward(ctx context.Context, d inspector.Delivery) error {
	var first time.Time
	wait := firstRetry
	renewed := false // a handshake was renewed for this delivery
	for {
		ev := g.Send(ctx, d)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if refusedSignature(ev) && !renewed {
			// The app may have lost its secret (it restarted): hand it a
			// new one, then send again at once.
			renewed = true
			ev.Renew = true
			if g.cfg.OnEvent != nil {
				g.cfg.OnEvent(ev)
			}
			err := g.renew(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				// Run tries the handshake until the app completes one,
				// then this delivery comes again.
				g.mu.Lock()
				g.stale = true
				g.mu.Unlock()
				return errStale
			}
			if g.cfg.OnEvent != nil {
				g.cfg.OnEvent(Event{Handshake: true})
			}
			continue
		}
		// Refused again, with the secret the app echoed moments ago.
		ev.FreshSecret = refusedSignature(ev)
		now := g.cfg.Now()
		if first.IsZero() {
			first = now
		}
		if !ev.OK() {
			if now.Sub(first) >= g.cfg.MaxAge {
				ev.GaveUp = true
			} else {
				ev.Retry = wait
			}
		}
		if g.cfg.OnEvent != nil {
			g.cfg.OnEvent(ev)
		}
		if ev.OK() || ev.GaveUp {
			break
		}
		if err := g.cfg.Sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, maxRetry)
	}
	// The cursor is moved on even if ctx ended meanwhile: the app has the
	// delivery.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Timeout)
	defer cancel()
	if err := g.cfg.Store.AdvanceForwardCursor(sctx, g.cfg.URL, d.ID); err != nil {
		return err
	}
	g.mu.Lock()
	g.cursor = max(g.cursor, d.ID)
	g.mu.Unlock()
	return nil
}

// refusedSignature reports whether the app refused a delivery as one whose
// signature it could not verify (401 or 403).
func refusedSignature(ev Event) bool {
	return ev.Err == nil && (ev.Status == http.StatusUnauthorized || ev.Status == http.StatusForbidden)
}

// Send posts one delivery to the app, signed, once, and says how it went.
// It does not move the cursor: Replay is built on it.
func (g *Gateway) Send(ctx context.Context, d inspector.Delivery) Event {
	g.mu.Lock()
	secret := g.secret
	g.mu.Unlock()
	ev := Event{DeliveryID: d.ID, Kind: d.Kind}
	if secret.IsZero() {
		ev.Err = errors.New("gateway: Send before Prepare")
		return ev
	}
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set(asana.HeaderSignature, asana.Sign(secret, d.Body))
	hdr.Set(HeaderDeliveryID, strconv.FormatInt(d.ID, 10))
	start := time.Now()
	ev.Status, _, ev.Err = g.post(ctx, hdr, d.Body)
	ev.Duration = time.Since(start)
	return ev
}

// post sends one request to the app and returns its status and any
// X-Hook-Secret it echoed.
func (g *Gateway) post(ctx context.Context, hdr http.Header, body []byte) (int, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", g.cfg.UserAgent)
	res, err := g.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	return res.StatusCode, res.Header.Values(asana.HeaderSecret), nil
}

// Use loads a stored target, for Send alone (replay): ErrNotFound when no
// handshake with the URL is on record.
func (g *Gateway) Use(ctx context.Context) error {
	t, err := g.cfg.Store.ForwardTarget(ctx, g.cfg.URL)
	if err != nil {
		return fmt.Errorf("forward to %s: %w", g.cfg.URL, err)
	}
	g.set(t.Secret, t.Cursor)
	return nil
}

// newSecret returns 32 random bytes in hex, as Asana's secrets look.
func newSecret() (asana.Secret, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return asana.Secret{}, fmt.Errorf("make a secret: %w", err)
	}
	return asana.NewSecret(hex.EncodeToString(b[:])), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
