package webui

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// webhooksPage is the data of the Webhooks page.
type webhooksPage struct {
	page
	// Done is a message about the action just done.
	Done string
	// ListError says why Asana's list is missing.
	ListError string
	Rows      []webhookRow
	// Pending are our webhooks being created.
	Pending []inspector.Hook
	// Ours counts our webhooks in Asana (the ones Delete all removes).
	Ours int
}

// webhookRow is one webhook of the workspace.
type webhookRow struct {
	W      asana.Webhook
	Ours   bool
	Hook   *inspector.Hook
	Health Health
}

// doneMessages are the messages a redirect after an action may ask for; a
// closed set, so a link cannot make the page say anything else.
var doneMessages = map[string]string{
	"deleted":     "The webhook was deleted.",
	"deleted-all": "Our webhooks were deleted.",
}

// serveWebhooks is GET /webhooks: every webhook of the workspace.
func (u *UI) serveWebhooks(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), u.cfg.ActionTimeout)
	defer cancel()
	p := webhooksPage{page: page{Title: "Webhooks", Nav: "webhooks", Refresh: "webhooks-region",
		RefreshSeconds: int(u.cfg.RefreshInterval / time.Second)}}
	p.Done = doneMessages[r.URL.Query().Get("done")]
	if n := r.URL.Query().Get("n"); p.Done != "" && n != "" {
		if k, err := strconv.Atoi(n); err == nil && k >= 0 {
			p.Done += " (" + strconv.Itoa(k) + ")"
		}
	}
	hooks, err := u.cfg.Reader.ListHooks(ctx, inspector.HookFilter{})
	if err != nil {
		return err
	}
	byGID := make(map[string]*inspector.Hook)
	for i := range hooks {
		h := &hooks[i]
		switch {
		case h.State == inspector.HookPending:
			p.Pending = append(p.Pending, *h)
		case h.WebhookGID != "":
			byGID[h.WebhookGID] = h
		}
	}
	list, err := u.cfg.Actions.Webhooks(ctx)
	if err != nil {
		u.log.Warn("list webhooks for the ui", "err", err)
		p.ListError = errorWords(err)
	}
	now := u.cfg.Now()
	for _, wh := range list {
		row := webhookRow{W: wh}
		if h, ok := byGID[wh.GID]; ok {
			row.Ours, row.Hook = true, h
			p.Ours++
		}
		row.Health = WebhookHealth(wh, row.Hook, now, u.cfg.HeartbeatWarning)
		p.Rows = append(p.Rows, row)
	}
	// Ours first, then by resource and gid, so the table does not jump.
	slices.SortStableFunc(p.Rows, func(a, b webhookRow) int {
		if a.Ours != b.Ours {
			if a.Ours {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.W.Resource.Name, b.W.Resource.Name), cmp.Compare(a.W.GID, b.W.GID))
	})
	u.render(w, r, http.StatusOK, "webhooks", p)
	return nil
}

// eventFilter is the Events page's filter; every field is optional.
type eventFilter struct {
	Hook, Type, Action, Field, GID string
}

// any reports whether a filter on events (not only the webhook) is set.
func (f eventFilter) any() bool {
	return f.Type != "" || f.Action != "" || f.Field != "" || f.GID != ""
}

// eventsPage is the data of the Events page.
type eventsPage struct {
	page
	Filter eventFilter
	Hooks  []hookOption
	Rows   []deliveryRow
	// LastID is the newest delivery in the store, where the stream starts.
	LastID int64
	Stats  inspector.Stats
	// Types and Actions are suggestions for the filter inputs.
	Types   []string
	Actions []string
	// ForwardURL is the user's app, when the inspector forwards to one.
	ForwardURL string
}

// hookOption is a webhook in the filter's list.
type hookOption struct {
	ID, Label string
}

// deliveryRow is a delivery as the feed shows it.
type deliveryRow struct {
	ID         int64
	HookID     string
	HookLabel  string
	ReceivedAt time.Time
	Kind       string
	Problem    string
	EventCount int
	NewCount   int
	Events     []eventLine
	// Space-separated values for the client-side filter.
	Types, Actions, Fields, GIDs string
}

// eventLine is one event of a delivery.
type eventLine struct {
	Action, ResourceType, ResourceGID, ResourceName, Field string
	ParentType, ParentGID, UserGID                         string
	New                                                    bool
	Receipts                                               int
}

// maxPageDeliveries is how many deliveries the Events page loads.
const maxPageDeliveries = 100

// serveEvents is GET /events: the latest deliveries, then live ones through
// the stream.
func (u *UI) serveEvents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	f := eventFilter{
		Hook:   strings.TrimSpace(q.Get("hook")),
		Type:   strings.ToLower(strings.TrimSpace(q.Get("type"))),
		Action: strings.ToLower(strings.TrimSpace(q.Get("action"))),
		Field:  strings.ToLower(strings.TrimSpace(q.Get("field"))),
		GID:    strings.TrimSpace(q.Get("gid")),
	}
	p := eventsPage{page: page{Title: "Events", Nav: "events"}, Filter: f, Types: resourceTypes, Actions: filterActions}
	if u.cfg.Forwarder != nil {
		p.ForwardURL = u.cfg.Forwarder.ForwardURL()
	}
	hooks, err := u.cfg.Reader.ListHooks(ctx, inspector.HookFilter{})
	if err != nil {
		return err
	}
	names := make(map[string]string, len(hooks))
	for _, h := range hooks {
		names[h.ID] = hookLabel(h)
		p.Hooks = append(p.Hooks, hookOption{ID: h.ID, Label: hookLabel(h) + " (" + string(h.State) + ")"})
	}
	latest, err := u.cfg.Reader.ListDeliveries(ctx, inspector.DeliveryFilter{Limit: 1})
	if err != nil {
		return err
	}
	if len(latest) > 0 {
		p.LastID = latest[0].ID
	}
	ds, err := u.cfg.Reader.ListDeliveries(ctx, inspector.DeliveryFilter{HookID: f.Hook, Limit: maxPageDeliveries})
	if err != nil {
		return err
	}
	for _, d := range ds {
		detail, err := u.cfg.Reader.GetDelivery(ctx, d.ID)
		if err != nil {
			return err
		}
		row := u.deliveryRow(detail, names)
		if f.matches(row) {
			p.Rows = append(p.Rows, row)
		}
	}
	if p.Stats, err = u.cfg.Reader.Stats(ctx, ""); err != nil {
		return err
	}
	u.render(w, r, http.StatusOK, "events", p)
	return nil
}

// matches applies the filter to a row, as the page's script does.
func (f eventFilter) matches(row deliveryRow) bool {
	if f.Hook != "" && row.HookID != f.Hook {
		return false
	}
	if !f.any() {
		return true
	}
	for _, e := range row.Events {
		if (f.Type == "" || e.ResourceType == f.Type) &&
			(f.Action == "" || e.Action == f.Action) &&
			(f.Field == "" || e.Field == f.Field) &&
			(f.GID == "" || e.ResourceGID == f.GID || e.ParentGID == f.GID || e.UserGID == f.GID) {
			return true
		}
	}
	return false
}

// hookLabel names a hook for people: its resource's name, or its gid.
func hookLabel(h inspector.Hook) string {
	if h.Resource.Name != "" {
		return h.Resource.Name
	}
	t := h.Resource.ResourceType
	if t == "" {
		t = "resource"
	}
	return t + " " + h.Resource.GID
}

// hookNames maps our hook ids to their labels; on error, an empty map (the
// feed then shows ids).
func (u *UI) hookNames(ctx context.Context) map[string]string {
	hooks, err := u.cfg.Reader.ListHooks(ctx, inspector.HookFilter{})
	if err != nil {
		u.log.Warn("list hooks for the feed", "err", err)
		return map[string]string{}
	}
	names := make(map[string]string, len(hooks))
	for _, h := range hooks {
		names[h.ID] = hookLabel(h)
	}
	return names
}

// deliveryRow builds the feed's view of a delivery.
func (u *UI) deliveryRow(d inspector.DeliveryDetail, names map[string]string) deliveryRow {
	row := deliveryRow{
		ID: d.Delivery.ID, HookID: d.Delivery.HookID, HookLabel: names[d.Delivery.HookID],
		ReceivedAt: d.Delivery.ReceivedAt, Kind: string(d.Delivery.Kind), Problem: d.Delivery.Problem,
		EventCount: d.Delivery.EventCount, NewCount: d.Delivery.NewEventCount,
	}
	if row.HookLabel == "" {
		row.HookLabel = "webhook " + d.Delivery.HookID
	}
	var types, actions, fields, gids []string
	for _, re := range d.Events {
		line := eventLine{Action: re.Event.Action, ResourceType: re.Event.ResourceType, ResourceGID: re.Event.ResourceGID}
		line.New, line.Receipts = re.New, re.Event.Receipts
		var ev asana.Event
		if json.Unmarshal(re.Event.Raw, &ev) == nil {
			line.ResourceName = ev.Resource.Name
			if ev.Change != nil {
				line.Field = ev.Change.Field
			}
			if ev.Parent != nil {
				line.ParentType, line.ParentGID = ev.Parent.ResourceType, ev.Parent.GID
			}
			if ev.User != nil {
				line.UserGID = ev.User.GID
			}
		}
		row.Events = append(row.Events, line)
		types = appendUnique(types, line.ResourceType)
		actions = appendUnique(actions, line.Action)
		fields = appendUnique(fields, line.Field)
		gids = appendUnique(gids, line.ResourceGID, line.ParentGID, line.UserGID)
	}
	row.Types, row.Actions = strings.Join(types, " "), strings.Join(actions, " ")
	row.Fields, row.GIDs = strings.Join(fields, " "), strings.Join(gids, " ")
	return row
}

func appendUnique(list []string, vs ...string) []string {
	for _, v := range vs {
		// Values become space-separated tokens in an attribute.
		if v != "" && !strings.ContainsAny(v, " \t\n") && !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

// deliveryPage is the data of a delivery's detail page.
type deliveryPage struct {
	page
	Row       deliveryRow
	Delivery  inspector.Delivery
	Hook      *inspector.Hook
	Body      string
	Headers   []headerLine
	Events    []eventDetail
	BodyValid bool
	// ForwardURL is the user's app, when the inspector forwards to one;
	// Replayed says how the app answered the last replay.
	ForwardURL string
	Replayed   string
}

// headerLine is one header, its value redacted if sensitive.
type headerLine struct{ Name, Value string }

// eventDetail is one event of a delivery, pretty-printed.
type eventDetail struct {
	Line        eventLine
	JSON        string
	FirstSeenAt time.Time
	LastSeenAt  time.Time
	FirstID     int64
}

// serveDelivery is GET /deliveries/{id}.
func (u *UI) serveDelivery(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return &httpError{status: http.StatusNotFound, msg: "There is no such delivery."}
	}
	ctx := r.Context()
	d, err := u.cfg.Reader.GetDelivery(ctx, id)
	if errors.Is(err, inspector.ErrNotFound) {
		return &httpError{status: http.StatusNotFound, msg: "There is no such delivery."}
	}
	if err != nil {
		return err
	}
	names := u.hookNames(ctx)
	p := deliveryPage{page: page{Title: "Delivery " + strconv.FormatInt(id, 10), Nav: "events"},
		Row: u.deliveryRow(d, names), Delivery: d.Delivery}
	if h, err := u.cfg.Reader.GetHook(ctx, d.Delivery.HookID); err == nil {
		p.Hook = &h
	}
	if u.cfg.Forwarder != nil {
		p.ForwardURL = u.cfg.Forwarder.ForwardURL()
		if st, err := strconv.Atoi(r.URL.Query().Get("replayed")); err == nil {
			p.Replayed = replayedMessage(st)
		}
	}
	p.Body, p.BodyValid = prettyJSON(d.Delivery.Body)
	headers := inspector.RedactHeaders(d.Delivery.Headers)
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		for _, v := range headers[k] {
			p.Headers = append(p.Headers, headerLine{Name: k, Value: v})
		}
	}
	for i, re := range d.Events {
		body, _ := prettyJSON(re.Event.Raw)
		p.Events = append(p.Events, eventDetail{Line: p.Row.Events[i], JSON: body,
			FirstSeenAt: re.Event.FirstSeenAt, LastSeenAt: re.Event.LastSeenAt, FirstID: re.Event.FirstDeliveryID})
	}
	u.render(w, r, http.StatusOK, "delivery", p)
	return nil
}

// prettyJSON indents a JSON document; a body that is not JSON comes back as
// text, with ok false.
func prettyJSON(b []byte) (string, bool) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD"), false
	}
	return buf.String(), true
}
