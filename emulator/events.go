package emulator

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
)

// ref is a resource as events name it. The webhook form drops the name.
type ref struct {
	gid, typ, subtype, name string
}

// change is the change of a "changed" event.
type change struct {
	field, action                      string
	newValue, addedValue, removedValue *ref
}

// event is one emitted event, kept for /events and fanned out to webhooks.
type event struct {
	seq      int64
	at       time.Time
	user     *ref
	action   string
	resource ref
	parent   *ref
	change   *change
	scope    []string // gids that see it: the object and its ancestors
	raw      json.RawMessage
}

// wireRef is a compact resource in a webhook event: no name.
type wireRef struct {
	GID             string `json:"gid"`
	ResourceType    string `json:"resource_type"`
	ResourceSubtype string `json:"resource_subtype,omitempty"`
}

type wireChange struct {
	Field        string   `json:"field"`
	Action       string   `json:"action"`
	NewValue     *wireRef `json:"new_value,omitempty"`
	AddedValue   *wireRef `json:"added_value,omitempty"`
	RemovedValue *wireRef `json:"removed_value,omitempty"`
}

// wireEvent is the webhook form of an event, in the key order Asana writes.
type wireEvent struct {
	User      *wireRef    `json:"user"`
	CreatedAt asana.Time  `json:"created_at"`
	Action    string      `json:"action"`
	Resource  wireRef     `json:"resource"`
	Parent    *wireRef    `json:"parent"`
	Change    *wireChange `json:"change,omitempty"`
}

// namedRef is a compact record with its name, as /events writes it.
type namedRef struct {
	GID             string `json:"gid"`
	ResourceType    string `json:"resource_type"`
	Name            string `json:"name"`
	ResourceSubtype string `json:"resource_subtype,omitempty"`
}

type namedChange struct {
	Field        string    `json:"field"`
	Action       string    `json:"action"`
	NewValue     *namedRef `json:"new_value,omitempty"`
	AddedValue   *namedRef `json:"added_value,omitempty"`
	RemovedValue *namedRef `json:"removed_value,omitempty"`
}

// namedEvent is the /events form of an event.
type namedEvent struct {
	User      *namedRef    `json:"user"`
	CreatedAt asana.Time   `json:"created_at"`
	Action    string       `json:"action"`
	Resource  namedRef     `json:"resource"`
	Parent    *namedRef    `json:"parent"`
	Change    *namedChange `json:"change,omitempty"`
	Type      string       `json:"type"`
}

func (r *ref) wire() *wireRef {
	if r == nil {
		return nil
	}
	return &wireRef{GID: r.gid, ResourceType: r.typ, ResourceSubtype: r.subtype}
}

func (r *ref) named() *namedRef {
	if r == nil {
		return nil
	}
	return &namedRef{GID: r.gid, ResourceType: r.typ, Name: r.name, ResourceSubtype: r.subtype}
}

func (ev *event) webhookForm() wireEvent {
	w := wireEvent{User: ev.user.wire(), CreatedAt: asana.NewTime(ev.at), Action: ev.action,
		Resource: *ev.resource.wire(), Parent: ev.parent.wire()}
	if ev.change != nil {
		w.Change = &wireChange{Field: ev.change.field, Action: ev.change.action,
			NewValue: ev.change.newValue.wire(), AddedValue: ev.change.addedValue.wire(),
			RemovedValue: ev.change.removedValue.wire()}
	}
	return w
}

func (ev *event) eventsForm() namedEvent {
	n := namedEvent{User: ev.user.named(), CreatedAt: asana.NewTime(ev.at), Action: ev.action,
		Resource: *ev.resource.named(), Parent: ev.parent.named(), Type: ev.resource.typ}
	if ev.change != nil {
		n.Change = &namedChange{Field: ev.change.field, Action: ev.change.action,
			NewValue: ev.change.newValue.named(), AddedValue: ev.change.addedValue.named(),
			RemovedValue: ev.change.removedValue.named()}
	}
	return n
}

// refOf returns the event ref of an object, with its current name.
func (s *state) refOf(gid string) *ref {
	obj, kind := s.kind(gid)
	if kind == "" {
		return nil
	}
	r := &ref{gid: gid, typ: kind, name: s.nameOf(gid)}
	switch kind {
	case typeTask:
		r.subtype = obj.(*task).subtype
	case typeStory:
		r.subtype = "comment_added"
	}
	return r
}

// outbox collects the deliveries a mutation causes; they are enqueued after
// the state lock is released.
type outbox struct {
	items []outItem
}

type outItem struct {
	hook string
	raw  json.RawMessage
}

// higherLevelTypes are the resource types whose webhooks see only
// higherLevelEvents.
var higherLevelTypes = []string{typeWorkspace, typeTeam, typePortfolio}

// higherLevelAllowed lists, per event resource type, the actions a
// workspace, team or portfolio webhook filter may name.
var higherLevelAllowed = map[string][]string{
	"project":              {"added", "removed", "deleted", "undeleted", "changed"},
	"team_membership":      {"added", "removed"},
	"workspace_membership": {"added", "removed"},
}

// emitLocked records an event made by user on resource (with e.mu held),
// appends it to the /events log and queues it for every matching webhook.
// scope may be nil: it is then the resource's ancestors plus the parent's.
func (e *Emulator) emitLocked(ob *outbox, ev *event) {
	s := e.st
	if ev.at.IsZero() {
		ev.at = e.clk.Now()
	}
	if ev.scope == nil {
		ev.scope = s.ancestors(ev.resource.gid)
		if ev.parent != nil {
			for _, g := range s.ancestors(ev.parent.gid) {
				if !slices.Contains(ev.scope, g) {
					ev.scope = append(ev.scope, g)
				}
			}
		}
	}
	e.nextSeq++
	ev.seq = e.nextSeq
	e.events = append(e.events, ev)
	e.pruneEventsLocked()

	var raw json.RawMessage
	for _, hg := range s.hookOrder {
		h := s.hooks[hg]
		if !slices.Contains(ev.scope, h.resource) {
			continue
		}
		_, kind := s.kind(h.resource)
		if slices.Contains(higherLevelTypes, kind) {
			if _, ok := higherLevelAllowed[ev.resource.typ]; !ok {
				continue
			}
		}
		if !filtersPass(h.filters, ev.resource.typ, ev.resource.subtype, ev.action, ev.changeField()) {
			continue
		}
		if raw == nil {
			b, err := delivery.EncodeEvent(ev.webhookForm())
			if err != nil {
				e.log.Error("encode event", "err", err)
				return
			}
			raw = b
		}
		ob.items = append(ob.items, outItem{hook: h.gid, raw: raw})
	}
}

func (ev *event) changeField() string {
	if ev.change == nil {
		return ""
	}
	return ev.change.field
}

// filtersPass reports whether an event passes a webhook's filters: no
// filters pass everything; otherwise any one filter must match, and within
// it every attribute that is set.
func filtersPass(filters []asana.Filter, typ, subtype, action, field string) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if f.ResourceType != "" && f.ResourceType != typ {
			continue
		}
		if f.ResourceSubtype != "" && f.ResourceSubtype != subtype {
			continue
		}
		if f.Action != "" && f.Action != action {
			continue
		}
		if len(f.Fields) > 0 && !slices.Contains(f.Fields, field) {
			continue
		}
		return true
	}
	return false
}

// pruneEventsLocked drops events older than the TTL, then the oldest beyond
// MaxEvents, remembering the last seq dropped that way: tokens before it
// would miss events.
func (e *Emulator) pruneEventsLocked() {
	cutoff := e.clk.Now().Add(-e.cfg.EventsTTL)
	i := 0
	for i < len(e.events) && e.events[i].at.Before(cutoff) {
		i++
	}
	if over := len(e.events) - i - e.cfg.MaxEvents; over > 0 {
		i += over
		e.dropped = e.events[i-1].seq
	}
	if i > 0 {
		// Reslice rather than shift: at the cap one event goes per emit.
		// Appends move the live part to a new array as it fills.
		clear(e.events[:i])
		e.events = e.events[i:]
	}
}

// flush hands the outbox to the delivery engine, in order, one Enqueue per
// run of events for the same webhook.
func (e *Emulator) flush(ob *outbox) {
	for i := 0; i < len(ob.items); {
		j := i
		var batch []json.RawMessage
		for j < len(ob.items) && ob.items[j].hook == ob.items[i].hook {
			batch = append(batch, ob.items[j].raw)
			j++
		}
		e.engine.Enqueue(ob.items[i].hook, batch...)
		i = j
	}
}
