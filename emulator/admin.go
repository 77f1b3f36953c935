package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
)

// adminRoutes registers the admin API under /_emulator/.
func (e *Emulator) adminRoutes() {
	a := func(pattern string, h func(r *http.Request) (any, error)) {
		method, p, _ := strings.Cut(pattern, " ")
		e.admin.HandleFunc(method+" /_emulator"+p, func(w http.ResponseWriter, r *http.Request) {
			v, err := h(r)
			if err != nil {
				var ae *apiError
				if !errors.As(err, &ae) {
					ae = errorf(http.StatusInternalServerError, "%s", err.Error())
				}
				writeError(w, ae, true)
				return
			}
			b, err := encodeJSON(v)
			if err != nil {
				writeError(w, errorf(http.StatusInternalServerError, msgServerError), true)
				return
			}
			writeJSON(w, http.StatusOK, b, true)
		})
	}
	a("GET /clock", e.adminGetClock)
	a("POST /clock/advance", e.adminAdvance)
	a("POST /heartbeat", e.adminHeartbeat)
	a("GET /faults", e.adminGetFaults)
	a("PUT /faults", e.adminPutFaults)
	a("GET /settings", e.adminGetSettings)
	a("PUT /settings", e.adminPutSettings)
	a("POST /events/emit", e.adminEmit)
	a("POST /events/inject", e.adminInject)
	a("GET /deliveries", e.adminDeliveries)
	a("POST /reset", e.adminReset)
	a("GET /state", e.adminState)
}

// serveAdmin serves /_emulator/ with the same 404 envelope as the API.
func (e *Emulator) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if _, pattern := e.admin.Handler(r); pattern == "" {
		writeError(w, errorf(http.StatusNotFound, msgNoRoute), true)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, e.cfg.MaxBodyBytes)
	e.admin.ServeHTTP(w, r)
}

// decodeAdmin decodes a JSON admin body into v.
func decodeAdmin(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, msgBodyTooLarge)
		}
		return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	return nil
}

type clockJSON struct {
	Now  time.Time `json:"now"`
	Kind string    `json:"kind"`
}

func (e *Emulator) adminGetClock(*http.Request) (any, error) {
	kind := "real"
	if _, ok := e.clk.(advancer); ok {
		kind = "advanceable"
	}
	return clockJSON{Now: e.clk.Now().UTC(), Kind: kind}, nil
}

// advancer is a clock that can be moved forward: clock.Fake and
// clock.Shifted.
type advancer interface{ Advance(d time.Duration) }

// ErrClockFixed is returned by AdvanceClock when the emulator runs on a clock
// that cannot be advanced (the real one).
var ErrClockFixed = errors.New("the emulator's clock cannot be advanced; start it with a clock.Fake or clock.Shifted")

// AdvanceClock moves the emulator's clock forward by d: timers that fall due
// fire (heartbeats, retries, deletion) and sync tokens may expire.
func (e *Emulator) AdvanceClock(d time.Duration) error {
	a, ok := e.clk.(advancer)
	if !ok {
		return ErrClockFixed
	}
	if d < 0 {
		return fmt.Errorf("advance clock by %s: negative duration", d)
	}
	a.Advance(d)
	return nil
}

func (e *Emulator) adminAdvance(r *http.Request) (any, error) {
	var body struct {
		Duration string `json:"duration"`
	}
	if err := decodeAdmin(r, &body); err != nil {
		return nil, err
	}
	d, err := time.ParseDuration(body.Duration)
	if err != nil || d < 0 {
		return nil, errorf(http.StatusBadRequest, "duration: must be a non-negative Go duration such as \"8h\"")
	}
	if err := e.AdvanceClock(d); err != nil {
		return nil, errorf(http.StatusBadRequest, "%s", err.Error())
	}
	return e.adminGetClock(r)
}

func (e *Emulator) adminHeartbeat(r *http.Request) (any, error) {
	var body struct {
		Webhook string `json:"webhook"`
	}
	if err := decodeAdmin(r, &body); err != nil {
		return nil, err
	}
	return map[string]int{"triggered": e.engine.Heartbeat(body.Webhook)}, nil
}

type faultsJSON struct {
	DropRate             float64 `json:"drop_rate"`
	DuplicateRate        float64 `json:"duplicate_rate"`
	ReorderRate          float64 `json:"reorder_rate"`
	CorruptSignatureRate float64 `json:"corrupt_signature_rate"`
	Delay                string  `json:"delay"`
	DeliverAfterDelete   bool    `json:"deliver_after_delete"`
	Seed                 int64   `json:"seed"`
}

func (e *Emulator) adminGetFaults(*http.Request) (any, error) {
	f := e.engine.Faults()
	return faultsJSON{DropRate: f.DropRate, DuplicateRate: f.DuplicateRate, ReorderRate: f.ReorderRate,
		CorruptSignatureRate: f.CorruptSignatureRate, Delay: f.Delay.String(),
		DeliverAfterDelete: f.DeliverAfterDelete, Seed: f.Seed}, nil
}

func (e *Emulator) adminPutFaults(r *http.Request) (any, error) {
	cur, _ := e.adminGetFaults(r)
	body := cur.(faultsJSON)
	if err := decodeAdmin(r, &body); err != nil {
		return nil, err
	}
	for name, v := range map[string]float64{"drop_rate": body.DropRate, "duplicate_rate": body.DuplicateRate,
		"reorder_rate": body.ReorderRate, "corrupt_signature_rate": body.CorruptSignatureRate} {
		if v < 0 || v > 1 {
			return nil, errorf(http.StatusBadRequest, "%s: must be between 0 and 1", name)
		}
	}
	var delay time.Duration
	if body.Delay != "" {
		d, err := time.ParseDuration(body.Delay)
		if err != nil || d < 0 {
			return nil, errorf(http.StatusBadRequest, "delay: must be a non-negative Go duration such as \"2s\"")
		}
		delay = d
	}
	e.engine.SetFaults(delivery.Faults{DropRate: body.DropRate, DuplicateRate: body.DuplicateRate,
		ReorderRate: body.ReorderRate, CorruptSignatureRate: body.CorruptSignatureRate, Delay: delay,
		DeliverAfterDelete: body.DeliverAfterDelete, Seed: body.Seed})
	return e.adminGetFaults(r)
}

type settingsJSON struct {
	Strict    bool          `json:"strict"`
	RateLimit int           `json:"rate_limit"`
	MaxReads  int           `json:"max_reads"`
	MaxWrites int           `json:"max_writes"`
	Delivery  deliveryJSON  `json:"delivery"`
	EventsTTL string        `json:"events_ttl"`
	Limits    webhookLimits `json:"webhook_limits"`
}

type webhookLimits struct {
	PerResource int `json:"per_resource"`
	PerToken    int `json:"per_token"`
}

type deliveryJSON struct {
	Deadline         string `json:"deadline"`
	AcceptAny2xx     bool   `json:"accept_any_2xx"`
	BatchWindow      string `json:"batch_window"`
	MaxBatch         int    `json:"max_batch"`
	BackoffBase      string `json:"backoff_base"`
	BackoffMax       string `json:"backoff_max"`
	DeleteAfter      string `json:"delete_after"`
	HeartbeatEvery   string `json:"heartbeat_every"`
	HandshakeTimeout string `json:"handshake_timeout"`
}

func (e *Emulator) adminGetSettings(*http.Request) (any, error) {
	e.setMu.RLock()
	s := e.settings
	e.setMu.RUnlock()
	c := e.engine.Config()
	return settingsJSON{Strict: s.Strict, RateLimit: max(s.RateLimit, 0), MaxReads: max(s.MaxReads, 0),
		MaxWrites: max(s.MaxWrites, 0), EventsTTL: e.cfg.EventsTTL.String(),
		Limits: webhookLimits{PerResource: e.cfg.WebhooksPerResource, PerToken: e.cfg.WebhooksPerToken},
		Delivery: deliveryJSON{Deadline: c.Deadline.String(), AcceptAny2xx: c.AcceptAny2xx,
			BatchWindow: c.BatchWindow.String(), MaxBatch: c.MaxBatch, BackoffBase: c.BackoffBase.String(),
			BackoffMax: c.BackoffMax.String(), DeleteAfter: c.DeleteAfter.String(),
			HeartbeatEvery: c.HeartbeatEvery.String(), HandshakeTimeout: c.HandshakeTimeout.String()}}, nil
}

// adminPutSettings changes strict mode, limits and the delivery config; the
// body holds only the keys to change.
func (e *Emulator) adminPutSettings(r *http.Request) (any, error) {
	var body struct {
		Strict    *bool `json:"strict"`
		RateLimit *int  `json:"rate_limit"`
		MaxReads  *int  `json:"max_reads"`
		MaxWrites *int  `json:"max_writes"`
		Delivery  *struct {
			Deadline         *string `json:"deadline"`
			AcceptAny2xx     *bool   `json:"accept_any_2xx"`
			BatchWindow      *string `json:"batch_window"`
			MaxBatch         *int    `json:"max_batch"`
			BackoffBase      *string `json:"backoff_base"`
			BackoffMax       *string `json:"backoff_max"`
			DeleteAfter      *string `json:"delete_after"`
			HeartbeatEvery   *string `json:"heartbeat_every"`
			HandshakeTimeout *string `json:"handshake_timeout"`
		} `json:"delivery"`
	}
	if err := decodeAdmin(r, &body); err != nil {
		return nil, err
	}
	if body.Delivery != nil {
		c := e.engine.Config()
		d := body.Delivery
		for _, f := range []struct {
			name string
			v    *string
			dst  *time.Duration
		}{
			{"deadline", d.Deadline, &c.Deadline}, {"batch_window", d.BatchWindow, &c.BatchWindow},
			{"backoff_base", d.BackoffBase, &c.BackoffBase}, {"backoff_max", d.BackoffMax, &c.BackoffMax},
			{"delete_after", d.DeleteAfter, &c.DeleteAfter}, {"heartbeat_every", d.HeartbeatEvery, &c.HeartbeatEvery},
			{"handshake_timeout", d.HandshakeTimeout, &c.HandshakeTimeout},
		} {
			if f.v == nil {
				continue
			}
			dur, err := time.ParseDuration(*f.v)
			if err != nil || dur < 0 {
				return nil, errorf(http.StatusBadRequest, "delivery.%s: must be a non-negative Go duration", f.name)
			}
			*f.dst = dur
		}
		if d.AcceptAny2xx != nil {
			c.AcceptAny2xx = *d.AcceptAny2xx
		}
		if d.MaxBatch != nil {
			if *d.MaxBatch < 1 {
				return nil, errorf(http.StatusBadRequest, "delivery.max_batch: must be at least 1")
			}
			c.MaxBatch = *d.MaxBatch
		}
		e.engine.SetConfig(c)
	}
	e.setMu.Lock()
	if body.Strict != nil {
		e.settings.Strict = *body.Strict
	}
	if body.RateLimit != nil {
		e.settings.RateLimit = *body.RateLimit
	}
	if body.MaxReads != nil {
		e.settings.MaxReads = *body.MaxReads
	}
	if body.MaxWrites != nil {
		e.settings.MaxWrites = *body.MaxWrites
	}
	e.setMu.Unlock()
	return e.adminGetSettings(r)
}

func (e *Emulator) adminEmit(r *http.Request) (any, error) {
	var body struct {
		Resource string `json:"resource"`
		Count    int    `json:"count"`
	}
	if err := decodeAdmin(r, &body); err != nil {
		return nil, err
	}
	n, err := e.Emit(body.Resource, body.Count)
	if err != nil {
		return nil, err
	}
	return map[string]int{"emitted": n}, nil
}

func (e *Emulator) adminInject(r *http.Request) (any, error) {
	var body struct {
		Resource string            `json:"resource"`
		Events   []json.RawMessage `json:"events"`
	}
	if err := decodeAdmin(r, &body); err != nil {
		return nil, err
	}
	n, err := e.Inject(body.Resource, body.Events...)
	if err != nil {
		return nil, err
	}
	return map[string]int{"webhooks": n, "events": len(body.Events)}, nil
}

// deliveryJSONRecord is one delivery attempt as the admin API lists it.
type deliveryJSONRecord struct {
	ID             int64               `json:"id"`
	Webhook        string              `json:"webhook"`
	URL            string              `json:"url"`
	Kind           string              `json:"kind"`
	EventCount     int                 `json:"event_count"`
	Attempt        int                 `json:"attempt"`
	RequestHeader  map[string][]string `json:"request_headers"`
	Body           string              `json:"body"`
	BodyBase64     []byte              `json:"body_base64"`
	Status         int                 `json:"status"`
	ResponseHeader map[string][]string `json:"response_headers"`
	ResponseBody   string              `json:"response_body"`
	Error          string              `json:"error,omitempty"`
	Success        bool                `json:"success"`
	StartedAt      time.Time           `json:"started_at"`
	DurationMS     float64             `json:"duration_ms"`
}

func (e *Emulator) adminDeliveries(r *http.Request) (any, error) {
	recs := e.engine.Records(r.URL.Query().Get("webhook"))
	out := make([]deliveryJSONRecord, 0, len(recs))
	for _, rec := range recs {
		out = append(out, deliveryJSONRecord{ID: rec.ID, Webhook: rec.WebhookGID, URL: rec.URL, Kind: rec.Kind,
			EventCount: rec.EventCount, Attempt: rec.Attempt, RequestHeader: rec.RequestHeader,
			Body: string(rec.RequestBody), BodyBase64: rec.RequestBody, Status: rec.Status,
			ResponseHeader: rec.ResponseHeader, ResponseBody: rec.ResponseBody, Error: rec.Err,
			Success: rec.Success, StartedAt: rec.StartedAt.UTC(),
			DurationMS: float64(rec.Duration.Microseconds()) / 1000})
	}
	return map[string]any{"deliveries": out}, nil
}

func (e *Emulator) adminReset(*http.Request) (any, error) {
	if err := e.Reset(); err != nil {
		return nil, err
	}
	return e.State(), nil
}

func (e *Emulator) adminState(*http.Request) (any, error) { return e.State(), nil }
