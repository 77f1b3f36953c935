package inspector

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Kind classifies a verified delivery.
type Kind string

// The kinds of delivery.
const (
	// KindEvents is a delivery of one or more events.
	KindEvents Kind = "events"
	// KindHeartbeat is an empty delivery, {"events":[]}.
	KindHeartbeat Kind = "heartbeat"
	// KindMalformed is a verified body that is not {"events":[...]} of
	// events we can key. It is stored and acknowledged anyway: a 4xx would
	// make Asana retry it for 24 hours and then delete the webhook.
	KindMalformed Kind = "malformed"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindEvents, KindHeartbeat, KindMalformed:
		return true
	}
	return false
}

// Delivery is one verified POST to a webhook's target, as received.
type Delivery struct {
	// ID is assigned by the store when the delivery is recorded.
	ID int64 `json:"id"`
	// HookID is the path id of the webhook it was sent to.
	HookID string `json:"hook_id"`
	// ReceivedAt is when the request arrived.
	ReceivedAt time.Time `json:"received_at"`
	// RequestID is the receiver's id of the request, as logged.
	RequestID string `json:"request_id,omitempty"`
	// RemoteAddr is the peer address of the request.
	RemoteAddr string `json:"remote_addr,omitempty"`
	// Query is the raw query string of the target (e.g. project=123),
	// kept as context.
	Query string `json:"query,omitempty"`
	// Headers are the request headers, passed through RedactHeaders.
	Headers http.Header `json:"headers"`
	// Body is the raw request body, byte for byte.
	Body []byte `json:"body"`
	// Kind says whether the body held events, was a heartbeat or malformed.
	Kind Kind `json:"kind"`
	// Problem says what is wrong with a malformed body; empty otherwise.
	Problem string `json:"problem,omitempty"`
	// EventCount is the number of events in the body, and NewEventCount how
	// many of them the store had not seen before for this webhook. The store
	// sets both when recording.
	EventCount    int `json:"event_count"`
	NewEventCount int `json:"new_event_count"`
}

// Event is an event as stored: once per webhook, keyed by the SHA-256 of its
// RFC 8785 canonical form, with the raw bytes of its first receipt and a count
// of every receipt.
type Event struct {
	// ID is assigned by the store.
	ID int64 `json:"id"`
	// HookID is the webhook the event was delivered to.
	HookID string `json:"hook_id"`
	// Key is EventKey of the event.
	Key string `json:"key"`
	// Raw is the event exactly as first received.
	Raw json.RawMessage `json:"event"`
	// Action, ResourceGID and ResourceType are copied from the event, for
	// filters and display; empty if absent.
	Action       string `json:"action,omitempty"`
	ResourceGID  string `json:"resource_gid,omitempty"`
	ResourceType string `json:"resource_type,omitempty"`
	// FirstSeenAt and LastSeenAt are the ReceivedAt of its first and last
	// deliveries.
	FirstSeenAt time.Time `json:"first_seen_at"`
	LastSeenAt  time.Time `json:"last_seen_at"`
	// Receipts counts how many times the event was delivered.
	Receipts int `json:"receipts"`
	// FirstDeliveryID is the delivery that brought it first.
	FirstDeliveryID int64 `json:"first_delivery_id"`
}

// IncomingEvent is one event of a delivery, ready to be stored: its raw bytes,
// its key and the fields the store indexes. Build it with NewIncomingEvent or
// ParseDeliveryBody.
type IncomingEvent struct {
	Raw          json.RawMessage
	Key          string
	Action       string
	ResourceGID  string
	ResourceType string
	// CreatedAt is the event's own created_at member, decoded, when it is a
	// string of at most MaxEventCreatedAt bytes; otherwise empty. Like Key,
	// it depends only on the event's canonical form, so a store may lead
	// its unique key with it: new events come in created_at order, and are
	// then appended to that index instead of scattered across it.
	CreatedAt string
}

// MaxEventCreatedAt bounds IncomingEvent.CreatedAt; Asana's are 24 bytes.
const MaxEventCreatedAt = 64

// eventCreatedAt is s as IncomingEvent.CreatedAt keeps it.
func eventCreatedAt(s string) string {
	if len(s) > MaxEventCreatedAt {
		return ""
	}
	return s
}

// NewIncomingEvent keys raw (see EventKey) and copies the indexed fields. It
// fails when raw is not a JSON object that RFC 8785 can canonicalize.
func NewIncomingEvent(raw json.RawMessage) (IncomingEvent, error) {
	p := canonParser{data: raw}
	p.skipSpace()
	if p.pos < len(raw) && raw[p.pos] == '{' {
		if ev, ok := p.event(); ok {
			if p.skipSpace(); p.pos == len(raw) {
				ev.Raw = raw
				return ev, nil
			}
		}
	}
	return newIncomingEventSlow(raw)
}

// newIncomingEventSlow is NewIncomingEvent in three passes (key, then the
// two fields); it gives the errors, and the reading of the rare events
// event() leaves to it.
func newIncomingEventSlow(raw json.RawMessage) (IncomingEvent, error) {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return IncomingEvent{}, fmt.Errorf("event is not a JSON object")
	}
	key, err := EventKey(raw)
	if err != nil {
		return IncomingEvent{}, err
	}
	var fields struct {
		Action   any `json:"action"`
		Resource any `json:"resource"`
	}
	// The event is valid JSON (EventKey parsed it); only the shapes of the
	// two fields may be unexpected, so read them loosely.
	_ = json.Unmarshal(raw, &fields)
	ev := IncomingEvent{Raw: raw, Key: key}
	// created_at is matched by its exact name, as the fast path does.
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) == nil {
		var createdAt string
		if json.Unmarshal(members["created_at"], &createdAt) == nil {
			ev.CreatedAt = eventCreatedAt(createdAt)
		}
	}
	ev.Action, _ = fields.Action.(string)
	if res, ok := fields.Resource.(map[string]any); ok {
		ev.ResourceGID, _ = res["gid"].(string)
		ev.ResourceType, _ = res["resource_type"].(string)
	}
	return ev, nil
}

// ParsedBody is the reading of a verified delivery body.
type ParsedBody struct {
	// Kind is KindEvents, KindHeartbeat or KindMalformed.
	Kind Kind
	// Problem says why the body is malformed.
	Problem string
	// Events are the body's events, in order; none unless Kind is
	// KindEvents.
	Events []IncomingEvent
}

// ParseDeliveryBody reads a verified delivery body. A JSON object with an
// "events" array of objects is KindEvents (KindHeartbeat when the array is
// empty); anything else, including an event RFC 8785 cannot canonicalize, is
// KindMalformed with a Problem, and no events.
func ParseDeliveryBody(body []byte) ParsedBody {
	if parsed, ok := parseDeliveryBodyFast(body); ok {
		return parsed
	}
	return parseDeliveryBodySlow(body)
}

// parseDeliveryBodySlow is ParseDeliveryBody in several passes; it explains
// every malformed body, and reads the rare bodies the single pass leaves to
// it.
func parseDeliveryBodySlow(body []byte) ParsedBody {
	malformed := func(format string, args ...any) ParsedBody {
		return ParsedBody{Kind: KindMalformed, Problem: fmt.Sprintf(format, args...)}
	}
	// A map, not a struct: encoding/json matches struct fields without
	// regard to case, and {"EVENTS":[]} is not Asana's format.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return malformed("body is not a JSON object")
	}
	rawEvents, ok := top["events"]
	if !ok {
		return malformed(`body has no "events" key`)
	}
	var list []json.RawMessage
	if t := bytes.TrimLeft(rawEvents, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		return malformed(`"events" is not an array`)
	}
	if err := json.Unmarshal(rawEvents, &list); err != nil {
		return malformed(`"events" is not an array`)
	}
	if len(list) == 0 {
		return ParsedBody{Kind: KindHeartbeat}
	}
	events := make([]IncomingEvent, 0, len(list))
	for i, raw := range list {
		ev, err := NewIncomingEvent(raw)
		if err != nil {
			return malformed("event %d: %v", i, err)
		}
		events = append(events, ev)
	}
	return ParsedBody{Kind: KindEvents, Events: events}
}

// parseDeliveryBodyFast reads a body of events in one pass: it canonicalizes
// and keys each event while it walks the body, and picks its action and
// resource on the way. It gives up (ok false) on anything unusual, which
// parseDeliveryBodySlow then reads: a body that is not {"events":[objects]},
// "events" twice, or an event event() gives up on.
func parseDeliveryBodyFast(body []byte) (parsed ParsedBody, ok bool) {
	p := canonParser{data: body}
	p.skipSpace()
	if p.pos >= len(body) || body[p.pos] != '{' {
		return ParsedBody{}, false
	}
	p.pos++
	var events []IncomingEvent
	found := false
	for first := true; ; first = false {
		p.skipSpace()
		if first && p.pos < len(body) && body[p.pos] == '}' {
			return ParsedBody{}, false // no "events"
		}
		if p.pos >= len(body) || body[p.pos] != '"' {
			return ParsedBody{}, false
		}
		name, err := p.str()
		if err != nil {
			return ParsedBody{}, false
		}
		p.skipSpace()
		if p.pos >= len(body) || body[p.pos] != ':' {
			return ParsedBody{}, false
		}
		p.pos++
		if name == "events" {
			if found {
				return ParsedBody{}, false
			}
			found = true
			if events, ok = p.eventList(); !ok {
				return ParsedBody{}, false
			}
		} else if _, err := p.value(nil, 1); err != nil {
			return ParsedBody{}, false
		}
		p.skipSpace()
		if p.pos >= len(body) {
			return ParsedBody{}, false
		}
		if body[p.pos] == ',' {
			p.pos++
			continue
		}
		if body[p.pos] != '}' {
			return ParsedBody{}, false
		}
		p.pos++
		break
	}
	if p.skipSpace(); p.pos != len(body) || !found {
		return ParsedBody{}, false
	}
	if len(events) == 0 {
		return ParsedBody{Kind: KindHeartbeat}, true
	}
	return ParsedBody{Kind: KindEvents, Events: events}, true
}

// eventList reads an array of events at p.pos.
func (p *canonParser) eventList() ([]IncomingEvent, bool) {
	p.skipSpace()
	if p.pos >= len(p.data) || p.data[p.pos] != '[' {
		return nil, false
	}
	p.pos++
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return nil, true
	}
	var events []IncomingEvent
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '{' {
			return nil, false
		}
		start := p.pos
		ev, ok := p.event()
		if !ok {
			return nil, false
		}
		ev.Raw = json.RawMessage(p.data[start:p.pos])
		events = append(events, ev)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, false
		}
		if p.data[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.data[p.pos] != ']' {
			return nil, false
		}
		p.pos++
		return events, true
	}
}

// event reads the event object at p.pos: its key (as EventKey computes it:
// the object is canonicalized at the same depth), action and resource. Raw
// is left to the caller. It gives up (ok false) where the slow path must
// decide: invalid JSON, and a member named like "action" or "resource" but
// for case, which encoding/json would have matched.
func (p *canonParser) event() (ev IncomingEvent, ok bool) {
	clash := false
	stringMember := func(dst *string) ([]byte, bool, error) {
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == '"' {
			s, err := p.str()
			if err != nil {
				return nil, true, err
			}
			*dst = s
			return appendJSString(nil, s), true, nil
		}
		return nil, false, nil
	}
	resource := func(name string, _ int) ([]byte, bool, error) {
		switch name {
		case "gid":
			return stringMember(&ev.ResourceGID)
		case "resource_type":
			return stringMember(&ev.ResourceType)
		}
		return nil, false, nil
	}
	top := func(name string, depth int) ([]byte, bool, error) {
		switch {
		case name == "action":
			return stringMember(&ev.Action)
		case name == "created_at":
			return stringMember(&ev.CreatedAt)
		case name == "resource":
			p.skipSpace()
			if p.pos < len(p.data) && p.data[p.pos] == '{' && depth < maxJSONDepth {
				val, err := p.objectFunc(nil, depth+1, resource)
				return val, true, err
			}
		case strings.EqualFold(name, "action"), strings.EqualFold(name, "resource"):
			clash = true
		}
		return nil, false, nil
	}
	canon, err := p.objectFunc(make([]byte, 0, 512), 1, top)
	if err != nil || clash {
		return IncomingEvent{}, false
	}
	sum := sha256.Sum256(canon)
	ev.Key = hex.EncodeToString(sum[:])
	ev.CreatedAt = eventCreatedAt(ev.CreatedAt)
	return ev, true
}

// EventReceipt is what the store did with one event of a delivery.
type EventReceipt struct {
	// Position is the event's index in the delivery body.
	Position int `json:"position"`
	// EventID and Key identify the stored event.
	EventID int64  `json:"event_id"`
	Key     string `json:"key"`
	// New is true when the webhook had not received this event before.
	New bool `json:"new"`
	// Receipts is the event's receipt count, this one included.
	Receipts int `json:"receipts"`
}

// RecordResult is the outcome of Store.RecordDelivery: the delivery with its
// ID and counts set, and one receipt per event, in body order.
type RecordResult struct {
	Delivery Delivery       `json:"delivery"`
	Events   []EventReceipt `json:"events"`
}

// ReceivedEvent is an event as one delivery carried it.
type ReceivedEvent struct {
	// Position is the event's index in the delivery body.
	Position int `json:"position"`
	// New is true when this delivery was the event's first receipt.
	New bool `json:"new"`
	// Event is the stored event.
	Event Event `json:"event"`
}

// DeliveryDetail is a delivery with the events it carried.
type DeliveryDetail struct {
	Delivery Delivery        `json:"delivery"`
	Events   []ReceivedEvent `json:"events"`
}

// Redacted replaces the values of sensitive headers.
const Redacted = "[REDACTED]"

// sensitiveHeaders are the headers RedactHeaders hides, in canonical form.
var sensitiveHeaders = []string{"X-Hook-Secret", "X-Hook-Signature", "Authorization", "Cookie", "Set-Cookie", "Proxy-Authorization"}

// RedactHeaders returns a copy of h in which the values of X-Hook-Secret,
// X-Hook-Signature, Authorization, Proxy-Authorization, Cookie and Set-Cookie
// are replaced by Redacted. Keys are matched without regard to case, so a
// header map built by hand cannot slip a value through.
func RedactHeaders(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		redact := false
		for _, s := range sensitiveHeaders {
			if strings.EqualFold(k, s) {
				redact = true
				break
			}
		}
		cp := make([]string, len(vs))
		for i, v := range vs {
			if redact {
				cp[i] = Redacted
			} else {
				cp[i] = v
			}
		}
		out[k] = cp
	}
	return out
}
