package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/asana-webhooks/asana-webhooks/internal/app"
	"github.com/asana-webhooks/asana-webhooks/internal/gateway"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// deliveriesOptions are the flags shared by the deliveries subcommands.
type deliveriesOptions struct {
	db string
}

func newDeliveriesCmd(a *App) *cobra.Command {
	var o deliveriesOptions
	cmd := &cobra.Command{
		Use:   "deliveries",
		Short: "List, show and replay the deliveries the inspector stored",
		Long: `Read the inspector's history: every verified delivery (heartbeats included)
with its redacted headers, raw body and events, each event marked new or seen
before (Asana retries deliveries, and the inspector stores each event once per
webhook). No token is needed: only the database (--db) is read. "replay"
sends stored deliveries to your app again (see inspect --forward-to).`,
		Example: `  asana-webhooks deliveries list --since 1h
  asana-webhooks deliveries list --webhook 1200000000000042 --json
  asana-webhooks deliveries show 17
  asana-webhooks deliveries replay 17 18 --forward-to http://localhost:3000/asana/webhook`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	cmd.PersistentFlags().StringVar(&o.db, "db", "", "inspector database: a SQLite file, or a postgres:// URL (default <data dir>/"+InspectorDBFile+")")
	cmd.AddCommand(newDeliveriesListCmd(a, &o), newDeliveriesShowCmd(a, &o), newDeliveriesReplayCmd(a, &o))
	return cmd
}

// openInspectorDB opens an existing inspector database: a SQLite file, or a
// PostgreSQL database given as a postgres:// URL.
func (a *App) openInspectorDB(ctx context.Context, o *deliveriesOptions) (inspector.Store, error) {
	path := o.db
	if path == "" {
		cfg, err := a.Config()
		if err != nil {
			return nil, err
		}
		if cfg.DataDir == "" {
			return nil, &configError{err: errors.New("no data directory: pass --db, --data-dir or set ASANA_WEBHOOKS_DATA_DIR")}
		}
		path = filepath.Join(cfg.DataDir, InspectorDBFile)
	}
	if !app.IsPostgresURL(path) {
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			return nil, fmt.Errorf("no inspector database at %s (run `asana-webhooks inspect` first, or pass --db)", path)
		case err == nil && fi.IsDir():
			return nil, &configError{err: fmt.Errorf("--db %s is a directory: want the inspector's database file (such as %s)", path, filepath.Join(path, InspectorDBFile))}
		}
	}
	st, err := app.OpenStoreReadOnly(ctx, path, nil) // never creates, migrates or writes
	if err != nil {
		return nil, err
	}
	return st, nil
}

type deliveriesListOptions struct {
	webhook  string
	hook     string
	resource string
	since    string
	until    string
	limit    int
	json     bool
}

func newDeliveriesListCmd(a *App, shared *deliveriesOptions) *cobra.Command {
	o := deliveriesListOptions{limit: 50}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List stored deliveries, newest first",
		Long: `List stored deliveries, newest first: id, time received, webhook, kind
(events, heartbeat, malformed), number of events and how many were new.

--since and --until take a duration back from now (90m, 24h) or a time
(2026-12-04T15:00:00Z, 2026-12-04).`,
		Example: `  asana-webhooks deliveries list
  asana-webhooks deliveries list --resource 1200000000000002 --since 24h --limit 200
  asana-webhooks deliveries list --json | jq 'select(.new_event_count > 0)'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDeliveriesList(cmd.Context(), cmd, shared, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.webhook, "webhook", "", "only deliveries to this Asana webhook gid")
	f.StringVar(&o.hook, "hook", "", "only deliveries to this inspector hook id (the target's last path segment, or its first 8 characters as the HOOK column shows)")
	f.StringVar(&o.resource, "resource", "", "only deliveries about this resource gid")
	f.StringVar(&o.since, "since", "", "only deliveries received at or after this time or duration ago")
	f.StringVar(&o.until, "until", "", "only deliveries received before this time or duration ago")
	f.IntVar(&o.limit, "limit", o.limit, "at most this many deliveries")
	f.BoolVar(&o.json, "json", false, "print one JSON object per delivery")
	return cmd
}

// parseWhen reads a duration back from now or an absolute time.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, usageErrorf("--%s %q: want a positive duration", flag, v)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", time.DateOnly} {
		layoutLoc := time.Local
		if layout == time.RFC3339Nano {
			layoutLoc = time.UTC
		}
		if t, err := time.ParseInLocation(layout, v, layoutLoc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageErrorf("--%s %q: want a duration (90m, 24h) or a time (2026-12-04T15:00:00Z, 2026-12-04)", flag, v)
}

// deliveryLine is one --json line of deliveries list.
type deliveryLine struct {
	ID            int64     `json:"id"`
	HookID        string    `json:"hook_id"`
	Webhook       string    `json:"webhook,omitempty"`
	Resource      string    `json:"resource,omitempty"`
	ReceivedAt    time.Time `json:"received_at"`
	Kind          string    `json:"kind"`
	Problem       string    `json:"problem,omitempty"`
	EventCount    int       `json:"event_count"`
	NewEventCount int       `json:"new_event_count"`
	RequestID     string    `json:"request_id,omitempty"`
}

func (a *App) runDeliveriesList(ctx context.Context, _ *cobra.Command, shared *deliveriesOptions, o deliveriesListOptions) error {
	if o.webhook != "" && o.hook != "" {
		return usageErrorf("--webhook and --hook cannot be combined")
	}
	if o.limit <= 0 {
		return usageErrorf("--limit %d: want a positive number", o.limit)
	}
	if o.webhook != "" {
		if err := checkGID("--webhook", o.webhook); err != nil {
			return err
		}
	}
	if o.resource != "" {
		if err := checkGID("--resource", o.resource); err != nil {
			return err
		}
	}
	if o.hook != "" && !inspector.ValidHookID(o.hook) && !validHookPrefix(o.hook) {
		return usageErrorf("--hook %q: want a hook id (32 hexadecimal characters) or its first 8, as the HOOK column shows", o.hook)
	}
	now := time.Now()
	f := inspector.DeliveryFilter{HookID: o.hook, ResourceGID: o.resource, Limit: o.limit}
	var err error
	if o.since != "" {
		if f.Since, err = parseWhen("since", o.since, now); err != nil {
			return err
		}
	}
	if o.until != "" {
		if f.Until, err = parseWhen("until", o.until, now); err != nil {
			return err
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return usageErrorf("--since %s is not before --until %s: nothing can match (a duration counts back from now, so --since 2h --until 1h is the hour before the last)",
			f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	st, err := a.openInspectorDB(ctx, shared)
	if err != nil {
		return err
	}
	defer st.Close()
	if o.hook != "" && !inspector.ValidHookID(o.hook) {
		if f.HookID, err = resolveHookPrefix(ctx, st, o.hook); err != nil {
			return err
		}
	}
	if o.webhook != "" {
		h, err := st.GetHookByGID(ctx, o.webhook)
		if errors.Is(err, inspector.ErrNotFound) {
			return fmt.Errorf("webhook %s is not one of the inspector's", o.webhook)
		}
		if err != nil {
			return err
		}
		f.HookID = h.ID
	}
	ds, err := st.ListDeliveries(ctx, f)
	if err != nil {
		return err
	}
	hooks := map[string]inspector.Hook{}
	hookOf := func(id string) inspector.Hook {
		if h, ok := hooks[id]; ok {
			return h
		}
		h, _ := st.GetHook(ctx, id)
		hooks[id] = h
		return h
	}
	if o.json {
		for _, d := range ds {
			h := hookOf(d.HookID)
			if err := writeJSONLine(a.Stdout, deliveryLine{ID: d.ID, HookID: d.HookID, Webhook: h.WebhookGID, Resource: h.Resource.GID,
				ReceivedAt: d.ReceivedAt, Kind: string(d.Kind), Problem: d.Problem, EventCount: d.EventCount,
				NewEventCount: d.NewEventCount, RequestID: d.RequestID}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(ds) == 0 {
		fmt.Fprintln(a.Stderr, "no deliveries match")
		return nil
	}
	tw := newTable(a.Stdout)
	fmt.Fprintln(tw, "ID\tRECEIVED\tWEBHOOK\tHOOK\tRESOURCE\tKIND\tEVENTS\tNEW")
	for _, d := range ds {
		h := hookOf(d.HookID)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", d.ID, d.ReceivedAt.Local().Format(time.DateTime),
			clean(orDash(h.WebhookGID)), shortID(d.HookID), clean(orDash(h.Resource.GID)), d.Kind, d.EventCount, d.NewEventCount)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// validHookPrefix accepts the start of a hook id as the tables and the
// inspector's output show it: at least 4 of its lowercase hexadecimal
// characters.
func validHookPrefix(p string) bool {
	if len(p) < 4 || len(p) >= inspector.HookIDLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// resolveHookPrefix finds the one hook whose id starts with prefix.
func resolveHookPrefix(ctx context.Context, st inspector.Store, prefix string) (string, error) {
	hooks, err := st.ListHooks(ctx, inspector.HookFilter{})
	if err != nil {
		return "", fmt.Errorf("list hooks: %w", err)
	}
	var found []string
	for _, h := range hooks {
		if strings.HasPrefix(h.ID, prefix) {
			found = append(found, h.ID)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no hook %s in the inspector database", prefix)
	case 1:
		return found[0], nil
	default:
		return "", usageErrorf("--hook %s matches %d hooks (%s): give more of the id", prefix, len(found), strings.Join(found, ", "))
	}
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

type deliveriesShowOptions struct {
	json bool
}

func newDeliveriesShowCmd(a *App, shared *deliveriesOptions) *cobra.Command {
	var o deliveriesShowOptions
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one stored delivery: headers, body and events",
		Long: `Show one stored delivery: when and from where it arrived, its headers
(X-Hook-Signature and other secrets redacted), its body pretty-printed, and
each event with whether it was new or seen before.`,
		Example: `  asana-webhooks deliveries show 17
  asana-webhooks deliveries show 17 --json | jq '.events[].event'`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDeliveriesShow(cmd.Context(), shared, o, args[0])
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print the delivery as one JSON object")
	return cmd
}

// showJSON is the --json form of deliveries show.
type showJSON struct {
	Delivery showDelivery `json:"delivery"`
	Events   []showEvent  `json:"events"`
}

type showDelivery struct {
	deliveryLine
	RemoteAddr string              `json:"remote_addr,omitempty"`
	Query      string              `json:"query,omitempty"`
	Headers    map[string][]string `json:"headers"`
	// Body is the body as JSON when it is JSON, else BodyText has it.
	Body     json.RawMessage `json:"body,omitempty"`
	BodyText string          `json:"body_text,omitempty"`
}

type showEvent struct {
	Position int             `json:"position"`
	New      bool            `json:"new"`
	Receipts int             `json:"receipts"`
	Key      string          `json:"key"`
	Event    json.RawMessage `json:"event"`
}

func (a *App) runDeliveriesShow(ctx context.Context, shared *deliveriesOptions, o deliveriesShowOptions, arg string) error {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return usageErrorf("delivery id %q: want a positive number (see deliveries list)", arg)
	}
	st, err := a.openInspectorDB(ctx, shared)
	if err != nil {
		return err
	}
	defer st.Close()
	det, err := st.GetDelivery(ctx, id)
	if errors.Is(err, inspector.ErrNotFound) {
		return fmt.Errorf("no delivery %d in the inspector database", id)
	}
	if err != nil {
		return err
	}
	d := det.Delivery
	h, _ := st.GetHook(ctx, d.HookID)
	headers := inspector.RedactHeaders(d.Headers)
	if o.json {
		out := showJSON{Delivery: showDelivery{
			deliveryLine: deliveryLine{ID: d.ID, HookID: d.HookID, Webhook: h.WebhookGID, Resource: h.Resource.GID,
				ReceivedAt: d.ReceivedAt, Kind: string(d.Kind), Problem: d.Problem, EventCount: d.EventCount,
				NewEventCount: d.NewEventCount, RequestID: d.RequestID},
			RemoteAddr: d.RemoteAddr, Query: d.Query, Headers: headers,
		}, Events: []showEvent{}}
		if json.Valid(d.Body) {
			out.Delivery.Body = json.RawMessage(d.Body)
		} else {
			out.Delivery.BodyText = string(d.Body)
		}
		for _, e := range det.Events {
			out.Events = append(out.Events, showEvent{Position: e.Position, New: e.New, Receipts: e.Event.Receipts, Key: e.Event.Key, Event: e.Event.Raw})
		}
		return writeJSONLine(a.Stdout, out)
	}
	var b strings.Builder
	tw := newTable(&b)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("delivery", strconv.FormatInt(d.ID, 10))
	row("received", d.ReceivedAt.Local().Format(time.RFC3339Nano))
	row("webhook", clean(orDash(h.WebhookGID)))
	row("hook", d.HookID)
	row("resource", formatCompact(h.Resource))
	kind := string(d.Kind)
	if d.Problem != "" {
		kind += ": " + clean(d.Problem)
	}
	row("kind", kind)
	row("events", fmt.Sprintf("%d (%d new)", d.EventCount, d.NewEventCount))
	row("request id", clean(orDash(d.RequestID)))
	row("from", clean(orDash(d.RemoteAddr)))
	if d.Query != "" {
		row("query", clean(d.Query))
	}
	_ = tw.Flush()
	b.WriteString("\nheaders:\n")
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range headers[k] {
			fmt.Fprintf(&b, "  %s: %s\n", clean(k), clean(v))
		}
	}
	b.WriteString("\nbody:\n")
	var pretty bytes.Buffer
	if json.Indent(&pretty, d.Body, "  ", "  ") == nil {
		b.WriteString("  " + cleanKeepNewlines(pretty.String()) + "\n")
	} else {
		fmt.Fprintf(&b, "  %q\n", d.Body)
	}
	if len(det.Events) > 0 {
		b.WriteString("\nevents:\n")
		for _, e := range det.Events {
			mark := "new "
			if !e.New {
				mark = "seen"
			}
			fmt.Fprintf(&b, "  %d  %s  %s  (received %d times)\n", e.Position, mark, app.EventLine(e.Event.Raw), e.Event.Receipts)
		}
	}
	_, err = fmt.Fprint(a.Stdout, b.String())
	return err
}

// cleanKeepNewlines is clean for multi-line text.
func cleanKeepNewlines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = clean(l)
	}
	return strings.Join(lines, "\n")
}

type deliveriesReplayOptions struct {
	forwardTo string
}

func newDeliveriesReplayCmd(a *App, shared *deliveriesOptions) *cobra.Command {
	var o deliveriesReplayOptions
	cmd := &cobra.Command{
		Use:   "replay ID... --forward-to URL",
		Short: "Send stored deliveries to your app again, re-signed",
		Long: `Send stored deliveries to your app again, each exactly as Asana sent it, with
an X-Hook-Signature computed with the secret of the app's handshake: the one
"inspect --forward-to URL" performed, which must have happened first (the
secret is in the inspector's database). One line per delivery gives the app's
answer; the exit code is 1 if any delivery was not accepted (2xx).`,
		Example: `  asana-webhooks deliveries replay 17 --forward-to http://localhost:3000/asana/webhook
  asana-webhooks deliveries list --kind events --limit 5 --json | jq -r .id | \
      xargs asana-webhooks deliveries replay --forward-to http://localhost:3000/asana/webhook`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDeliveriesReplay(cmd.Context(), shared, o, args)
		},
	}
	cmd.Flags().StringVar(&o.forwardTo, "forward-to", "", "your app's webhook URL, as given to inspect --forward-to (required)")
	return cmd
}

func (a *App) runDeliveriesReplay(ctx context.Context, shared *deliveriesOptions, o deliveriesReplayOptions, args []string) error {
	if o.forwardTo == "" {
		return usageErrorf("--forward-to is required: your app's webhook URL, as given to inspect --forward-to")
	}
	if _, err := app.ParseForwardURL(o.forwardTo); err != nil {
		return usageErrorf("--forward-to: %v", err)
	}
	ids := make([]int64, len(args))
	for i, arg := range args {
		id, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || id <= 0 {
			return usageErrorf("delivery id %q: want a positive number (see deliveries list)", arg)
		}
		ids[i] = id
	}
	st, err := a.openInspectorDB(ctx, shared)
	if err != nil {
		return err
	}
	defer st.Close()
	gst, ok := st.(gateway.Store)
	if !ok {
		return fmt.Errorf("this database (%T) keeps no forwarding state", st)
	}
	gw, err := gateway.New(gateway.Config{Store: gst, URL: o.forwardTo, UserAgent: "asana-webhooks gateway"})
	if err != nil {
		return err
	}
	if err := gw.Use(ctx); err != nil {
		if errors.Is(err, inspector.ErrNotFound) {
			return fmt.Errorf("no handshake with %s is on record in this database: run `asana-webhooks inspect --forward-to %s` first", o.forwardTo, o.forwardTo)
		}
		return err
	}
	failed := 0
	for _, id := range ids {
		det, err := st.GetDelivery(ctx, id)
		if errors.Is(err, inspector.ErrNotFound) {
			fmt.Fprintf(a.Stdout, "delivery %d: not in the inspector database\n", id)
			failed++
			continue
		}
		if err != nil {
			return err
		}
		ev := gw.Send(ctx, det.Delivery)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		answer := fmt.Sprintf("%d %s", ev.Status, http.StatusText(ev.Status))
		if ev.Err != nil {
			answer = "no answer: " + ev.Err.Error()
		}
		if !ev.OK() {
			failed++
		}
		fmt.Fprintf(a.Stdout, "delivery %d (%s): %s (%s)\n", id, det.Delivery.Kind, answer, ev.Duration.Round(time.Millisecond))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d deliveries were not accepted by %s", failed, len(ids), o.forwardTo)
	}
	return nil
}
