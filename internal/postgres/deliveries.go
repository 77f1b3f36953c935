package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// The statements of RecordDelivery. They run as one pipelined batch: pgx
// sends them with a single Sync, so PostgreSQL runs them in one implicit
// transaction, committed (and, with synchronous_commit on, flushed) before it
// answers the Sync. One round trip per delivery, however many events.
const (
	insDelivery = `INSERT INTO deliveries (hook_id, received_at, request_id, remote_addr, query, headers, body,
		kind, problem, event_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`
	heartbeat = `UPDATE hooks SET last_heartbeat_at = GREATEST(last_heartbeat_at, $1) WHERE id = $2`
	// upsertEvent stores an event once per hook (a redelivery, on any
	// replica, adds a receipt) and links it to the delivery just inserted,
	// new if this is its first receipt.
	upsertEvent = `WITH e AS (
			INSERT INTO events (hook_id, event_key, raw, action, resource_gid, resource_type,
				first_seen_at, last_seen_at, receipts, first_delivery_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1, currval(pg_get_serial_sequence('deliveries', 'id')))
			ON CONFLICT (hook_id, event_key) DO UPDATE SET receipts = events.receipts + 1,
				last_seen_at = GREATEST(events.last_seen_at, excluded.last_seen_at)
			RETURNING id, receipts
		), r AS (
			INSERT INTO delivery_events (delivery_id, position, event_id, new)
			SELECT currval(pg_get_serial_sequence('deliveries', 'id')), $8, id, receipts = 1 FROM e
		)
		SELECT id, receipts FROM e`
)

// RecordDelivery implements inspector.Store. The delivery, its events and
// their receipts commit together, durably, before it returns. Events are
// upserted in key order, so concurrent deliveries sharing events lock them in
// the same order and cannot deadlock.
func (s *Store) RecordDelivery(ctx context.Context, d inspector.Delivery, events []inspector.IncomingEvent) (inspector.RecordResult, error) {
	if !d.Kind.Valid() {
		return inspector.RecordResult{}, fmt.Errorf("record delivery for hook %s: kind %q: %w", d.HookID, d.Kind, inspector.ErrInvalid)
	}
	if d.Kind != inspector.KindEvents && len(events) > 0 {
		return inspector.RecordResult{}, fmt.Errorf("record delivery for hook %s: a %s delivery carries no events: %w", d.HookID, d.Kind, inspector.ErrInvalid)
	}
	for i, ev := range events {
		if len(ev.Key) != 64 || len(ev.Raw) == 0 {
			return inspector.RecordResult{}, fmt.Errorf("record delivery for hook %s: event %d has no key or body: %w", d.HookID, i, inspector.ErrInvalid)
		}
	}
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = s.now()
	}
	d.ReceivedAt = d.ReceivedAt.UTC().Truncate(time.Microsecond)
	if d.Headers == nil {
		d.Headers = http.Header{}
	}
	if d.Body == nil {
		d.Body = []byte{}
	}
	headers, err := json.Marshal(d.Headers)
	if err != nil {
		return inspector.RecordResult{}, fmt.Errorf("record delivery for hook %s: encode headers: %w", d.HookID, err)
	}
	d.EventCount = len(events)
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return events[order[a]].Key < events[order[b]].Key })

	if err := s.begin(); err != nil {
		return inspector.RecordResult{}, fmt.Errorf("record delivery for hook %s: %w", d.HookID, err)
	}
	defer s.ops.Done()
	var out inspector.RecordResult
	for range maxAttempts {
		if err = ctx.Err(); err != nil {
			break
		}
		out, err = s.recordBatch(ctx, d, string(headers), events, order)
		if code := pgCode(err); code != sqlstateDeadlock && code != sqlstateSerialization {
			break
		}
	}
	if err != nil {
		return inspector.RecordResult{}, fmt.Errorf("record delivery for hook %s: %w", d.HookID, err)
	}
	return out, nil
}

// recordBatch sends RecordDelivery's batch and reads its answers, up to the
// commit.
func (s *Store) recordBatch(ctx context.Context, d inspector.Delivery, headers string,
	events []inspector.IncomingEvent, order []int) (inspector.RecordResult, error) {
	var b pgx.Batch
	b.Queue(insDelivery, d.HookID, d.ReceivedAt, d.RequestID, d.RemoteAddr, d.Query, headers, d.Body,
		string(d.Kind), d.Problem, len(events))
	if d.Kind == inspector.KindHeartbeat {
		b.Queue(heartbeat, d.ReceivedAt, d.HookID)
	}
	for _, i := range order {
		ev := events[i]
		b.Queue(upsertEvent, d.HookID, ev.Key, []byte(ev.Raw), ev.Action, ev.ResourceGID, ev.ResourceType,
			d.ReceivedAt, i)
	}
	br := s.pool.SendBatch(ctx, &b)
	out, err := readBatch(br, d, events, order)
	// Close reads up to the Sync's answer: only then is the implicit
	// transaction committed, or known to have failed.
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
		if pgCode(cerr) == sqlstateForeignKey {
			err = inspector.ErrNotFound
		}
	}
	if err != nil {
		return inspector.RecordResult{}, err
	}
	return out, nil
}

func readBatch(br pgx.BatchResults, d inspector.Delivery, events []inspector.IncomingEvent, order []int) (inspector.RecordResult, error) {
	out := inspector.RecordResult{Delivery: d, Events: make([]inspector.EventReceipt, len(events))}
	if err := br.QueryRow().Scan(&out.Delivery.ID); err != nil {
		if pgCode(err) == sqlstateForeignKey {
			return out, inspector.ErrNotFound
		}
		return out, fmt.Errorf("insert delivery: %w", err)
	}
	if d.Kind == inspector.KindHeartbeat {
		if _, err := br.Exec(); err != nil {
			return out, fmt.Errorf("record heartbeat: %w", err)
		}
	}
	for _, i := range order {
		r := inspector.EventReceipt{Position: i, Key: events[i].Key}
		if err := br.QueryRow().Scan(&r.EventID, &r.Receipts); err != nil {
			return out, fmt.Errorf("store event %d: %w", i, err)
		}
		r.New = r.Receipts == 1
		if r.New {
			out.Delivery.NewEventCount++
		}
		out.Events[i] = r
	}
	return out, nil
}

const deliveryColumns = `d.id, d.hook_id, d.received_at, d.request_id, d.remote_addr, d.query, d.headers, d.body,
	d.kind, d.problem, d.event_count,
	(SELECT count(*) FROM delivery_events de WHERE de.delivery_id = d.id AND de.new)`

func scanDelivery(sc pgx.Row) (inspector.Delivery, error) {
	var d inspector.Delivery
	var received time.Time
	var headers, kind string
	var newCount int64
	if err := sc.Scan(&d.ID, &d.HookID, &received, &d.RequestID, &d.RemoteAddr, &d.Query, &headers, &d.Body,
		&kind, &d.Problem, &d.EventCount, &newCount); err != nil {
		return d, err
	}
	d.ReceivedAt = received.UTC()
	d.Kind = inspector.Kind(kind)
	d.NewEventCount = int(newCount)
	if err := json.Unmarshal([]byte(headers), &d.Headers); err != nil {
		return d, fmt.Errorf("decode headers of delivery %d: %w", d.ID, err)
	}
	if d.Body == nil {
		d.Body = []byte{}
	}
	return d, nil
}

// readTx runs fn in a read-only snapshot, so its queries agree.
func (s *Store) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.read(ctx, func() error {
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
	})
}

// GetDelivery implements inspector.Store.
func (s *Store) GetDelivery(ctx context.Context, id int64) (inspector.DeliveryDetail, error) {
	var detail inspector.DeliveryDetail
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		d, err := scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries d WHERE d.id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return inspector.ErrNotFound
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT de.position, de.new, `+eventColumns+`
			FROM delivery_events de JOIN events e ON e.id = de.event_id
			WHERE de.delivery_id = $1 ORDER BY de.position`, id)
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		defer rows.Close()
		detail = inspector.DeliveryDetail{Delivery: d, Events: []inspector.ReceivedEvent{}}
		for rows.Next() {
			var re inspector.ReceivedEvent
			ev, err := scanEvent(rows, &re.Position, &re.New)
			if err != nil {
				return fmt.Errorf("events: %w", err)
			}
			re.Event = ev
			detail.Events = append(detail.Events, re)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("events: %w", err)
		}
		return nil
	})
	if err != nil {
		return inspector.DeliveryDetail{}, fmt.Errorf("get delivery %d: %w", id, err)
	}
	return detail, nil
}

// ListDeliveries implements inspector.Store.
func (s *Store) ListDeliveries(ctx context.Context, f inspector.DeliveryFilter) ([]inspector.Delivery, error) {
	var where []string
	var a args
	if f.HookID != "" {
		where = append(where, "d.hook_id = "+a.add(f.HookID))
	}
	if f.ResourceGID != "" {
		p := a.add(f.ResourceGID)
		where = append(where, `(d.hook_id IN (SELECT id FROM hooks WHERE resource_gid = `+p+`)
			OR EXISTS (SELECT 1 FROM delivery_events de JOIN events e ON e.id = de.event_id
				WHERE de.delivery_id = d.id AND e.resource_gid = `+p+`))`)
	}
	if f.Kind != "" {
		where = append(where, "d.kind = "+a.add(string(f.Kind)))
	}
	if !f.Since.IsZero() {
		where = append(where, "d.received_at >= "+a.add(dbTime(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "d.received_at < "+a.add(dbTime(f.Until)))
	}
	if f.BeforeID > 0 {
		where = append(where, "d.id < "+a.add(f.BeforeID))
	}
	q := `SELECT ` + deliveryColumns + ` FROM deliveries d`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY d.id DESC LIMIT " + a.add(limitOf(f.Limit))
	out := []inspector.Delivery{}
	err := s.read(ctx, func() error {
		rows, err := s.pool.Query(ctx, q, a...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

const eventColumns = `e.id, e.hook_id, e.event_key, e.raw, e.action, e.resource_gid, e.resource_type,
	e.first_seen_at, e.last_seen_at, e.receipts, e.first_delivery_id`

func scanEvent(sc pgx.Row, extra ...any) (inspector.Event, error) {
	var ev inspector.Event
	var first, last time.Time
	var raw []byte
	dest := append(extra, &ev.ID, &ev.HookID, &ev.Key, &raw, &ev.Action, &ev.ResourceGID, &ev.ResourceType,
		&first, &last, &ev.Receipts, &ev.FirstDeliveryID)
	if err := sc.Scan(dest...); err != nil {
		return ev, err
	}
	ev.Raw = json.RawMessage(raw)
	ev.FirstSeenAt, ev.LastSeenAt = first.UTC(), last.UTC()
	return ev, nil
}

// ListEvents implements inspector.Store.
func (s *Store) ListEvents(ctx context.Context, f inspector.EventFilter) ([]inspector.Event, error) {
	var where []string
	var a args
	if f.HookID != "" {
		where = append(where, "e.hook_id = "+a.add(f.HookID))
	}
	if f.ResourceGID != "" {
		where = append(where, "e.resource_gid = "+a.add(f.ResourceGID))
	}
	if !f.Since.IsZero() {
		where = append(where, "e.first_seen_at >= "+a.add(dbTime(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "e.first_seen_at < "+a.add(dbTime(f.Until)))
	}
	if f.BeforeID > 0 {
		where = append(where, "e.id < "+a.add(f.BeforeID))
	}
	q := `SELECT ` + eventColumns + ` FROM events e`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY e.id DESC LIMIT " + a.add(limitOf(f.Limit))
	out := []inspector.Event{}
	err := s.read(ctx, func() error {
		rows, err := s.pool.Query(ctx, q, a...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			ev, err := scanEvent(rows)
			if err != nil {
				return err
			}
			out = append(out, ev)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// Stats implements inspector.Store.
func (s *Store) Stats(ctx context.Context, hookID string) (inspector.Stats, error) {
	st := inspector.Stats{Hooks: map[inspector.HookState]int{}}
	// hookID = '' selects everything.
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT state, count(*) FROM hooks WHERE $1 = '' OR id = $1 GROUP BY state`, hookID)
		if err != nil {
			return fmt.Errorf("hooks: %w", err)
		}
		for rows.Next() {
			var state string
			var n int
			if err := rows.Scan(&state, &n); err != nil {
				rows.Close()
				return fmt.Errorf("hooks: %w", err)
			}
			st.Hooks[inspector.HookState(state)] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("hooks: %w", err)
		}
		var last *time.Time
		if err := tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE kind = 'heartbeat'),
				count(*) FILTER (WHERE kind = 'malformed'), max(received_at)
			FROM deliveries WHERE $1 = '' OR hook_id = $1`, hookID).
			Scan(&st.Deliveries, &st.Heartbeats, &st.Malformed, &last); err != nil {
			return fmt.Errorf("deliveries: %w", err)
		}
		st.LastDeliveryAt = goTime(last)
		if err := tx.QueryRow(ctx, `SELECT count(*), COALESCE(sum(receipts), 0) FROM events WHERE $1 = '' OR hook_id = $1`,
			hookID).Scan(&st.Events, &st.Receipts); err != nil {
			return fmt.Errorf("events: %w", err)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}
