package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// writeStmts are the statements of the write path, prepared once on the
// writer's only connection.
type writeStmts struct {
	heartbeat     *sql.Stmt
	insDelivery   *sql.Stmt
	upsertEvent   *sql.Stmt
	insReceipt    *sql.Stmt
	savepoint     *sql.Stmt
	rollbackTo    *sql.Stmt
	release       *sql.Stmt
	maxDelivery   *sql.Stmt
	maxEvent      *sql.Stmt
	eventIDs      *sql.Stmt
	preparedStmts []*sql.Stmt
	// group holds the multi-row statements of recordGroup, and wanted
	// those it had to prepare inside a transaction; both belong to the
	// writer goroutine.
	group  map[groupStmtKey]*sql.Stmt
	wanted []groupStmtKey
}

func (w *writeStmts) prepare(ctx context.Context, db *sql.DB) error {
	prep := func(dst **sql.Stmt, q string) error {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", strings.Fields(q)[0], err)
		}
		*dst = st
		w.preparedStmts = append(w.preparedStmts, st)
		return nil
	}
	return errors.Join(
		prep(&w.heartbeat, `UPDATE hooks SET last_heartbeat_at = MAX(COALESCE(last_heartbeat_at, 0), ?) WHERE id = ?`),
		prep(&w.insDelivery, `INSERT INTO deliveries (hook_id, received_at, request_id, remote_addr, query, headers, body,
			kind, problem, event_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		prep(&w.upsertEvent, `INSERT INTO events (hook_id, event_created_at, event_key, raw, action, resource_gid,
				resource_type, first_seen_at, last_seen_at, receipts, first_delivery_id)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 1, ?9)
			ON CONFLICT (hook_id, event_created_at, event_key) DO UPDATE SET receipts = receipts + 1,
				last_seen_at = MAX(last_seen_at, excluded.last_seen_at)
			RETURNING id, receipts`),
		prep(&w.insReceipt, `INSERT INTO delivery_events (delivery_id, position, event_id, new) VALUES (?, ?, ?, ?)`),
		prep(&w.savepoint, `SAVEPOINT job`),
		prep(&w.rollbackTo, `ROLLBACK TO job`),
		prep(&w.release, `RELEASE job`),
		prep(&w.maxDelivery, `SELECT COALESCE(MAX(id), 0) FROM deliveries`),
		prep(&w.maxEvent, `SELECT COALESCE(MAX(id), 0) FROM events`),
		prep(&w.eventIDs, `SELECT id FROM events WHERE id BETWEEN ? AND ?`),
	)
}

func (w *writeStmts) close() {
	for _, st := range w.preparedStmts {
		_ = st.Close()
	}
}

// isForeignKeyError reports whether err is SQLite's FOREIGN KEY constraint
// failure.
func isForeignKeyError(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// RecordDelivery implements inspector.Store.
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
	rec := &deliveryRec{d: d, headers: string(headers), at: d.ReceivedAt.UnixMicro(), events: events}
	v, err := s.writeJob(ctx, &job{rec: rec, run: func(tx *sql.Tx) (any, error) { return s.recordOne(tx, rec) }})
	if err != nil {
		return inspector.RecordResult{}, fmt.Errorf("record delivery for hook %s: %w", d.HookID, err)
	}
	return v.(inspector.RecordResult), nil
}

// deliveryRec is a delivery ready for the writer.
type deliveryRec struct {
	d       inspector.Delivery
	headers string
	at      int64
	events  []inspector.IncomingEvent
}

// recordOne stores one delivery with three statements per event delivery.
// It is the path of a delivery that runs alone in its savepoint; batches of
// deliveries go through recordGroup.
func (s *Store) recordOne(tx *sql.Tx, rec *deliveryRec) (any, error) {
	d, at, events := rec.d, rec.at, rec.events
	// The unknown hook is caught by the foreign key and the counts are
	// derived when read.
	res, err := tx.Stmt(s.stmts.insDelivery).Exec(d.HookID, at, d.RequestID, d.RemoteAddr, d.Query,
		rec.headers, d.Body, string(d.Kind), d.Problem, len(events))
	if isForeignKeyError(err) {
		return nil, inspector.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("insert delivery: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, fmt.Errorf("insert delivery: %w", err)
	}
	if d.Kind == inspector.KindHeartbeat {
		if _, err := tx.Stmt(s.stmts.heartbeat).Exec(at, d.HookID); err != nil {
			return nil, fmt.Errorf("record heartbeat: %w", err)
		}
	}
	out := inspector.RecordResult{Delivery: d, Events: make([]inspector.EventReceipt, len(events))}
	out.Delivery.ID = id
	if len(events) == 0 {
		return out, nil
	}
	upsert, receipt := tx.Stmt(s.stmts.upsertEvent), tx.Stmt(s.stmts.insReceipt)
	for i, ev := range events {
		r := inspector.EventReceipt{Position: i, Key: ev.Key}
		if err := upsert.QueryRow(d.HookID, ev.CreatedAt, ev.Key, []byte(ev.Raw), ev.Action, ev.ResourceGID, ev.ResourceType,
			at, id).Scan(&r.EventID, &r.Receipts); err != nil {
			return nil, fmt.Errorf("store event %d: %w", i, err)
		}
		r.New = r.Receipts == 1
		if r.New {
			out.Delivery.NewEventCount++
		}
		if _, err := receipt.Exec(id, i, r.EventID, boolInt(r.New)); err != nil {
			return nil, fmt.Errorf("link event %d: %w", i, err)
		}
		out.Events[i] = r
	}
	return out, nil
}

const deliveryColumns = `d.id, d.hook_id, d.received_at, d.request_id, d.remote_addr, d.query, d.headers, d.body,
	d.kind, d.problem, d.event_count,
	(SELECT COUNT(*) FROM delivery_events de WHERE de.delivery_id = d.id AND de.new = 1)`

func scanDelivery(sc interface{ Scan(...any) error }) (inspector.Delivery, error) {
	var d inspector.Delivery
	var received sql.NullInt64
	var headers, kind string
	if err := sc.Scan(&d.ID, &d.HookID, &received, &d.RequestID, &d.RemoteAddr, &d.Query, &headers, &d.Body,
		&kind, &d.Problem, &d.EventCount, &d.NewEventCount); err != nil {
		return d, err
	}
	d.ReceivedAt = goTime(received)
	d.Kind = inspector.Kind(kind)
	if err := json.Unmarshal([]byte(headers), &d.Headers); err != nil {
		return d, fmt.Errorf("decode headers of delivery %d: %w", d.ID, err)
	}
	if d.Body == nil {
		d.Body = []byte{}
	}
	return d, nil
}

// GetDelivery implements inspector.Store.
func (s *Store) GetDelivery(ctx context.Context, id int64) (inspector.DeliveryDetail, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return inspector.DeliveryDetail{}, fmt.Errorf("get delivery %d: %w", id, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	d, err := scanDelivery(tx.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries d WHERE d.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return inspector.DeliveryDetail{}, fmt.Errorf("get delivery %d: %w", id, inspector.ErrNotFound)
	}
	if err != nil {
		return inspector.DeliveryDetail{}, fmt.Errorf("get delivery %d: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT de.position, de.new, `+eventColumns+`
		FROM delivery_events de JOIN events e ON e.id = de.event_id
		WHERE de.delivery_id = ? ORDER BY de.position`, id)
	if err != nil {
		return inspector.DeliveryDetail{}, fmt.Errorf("get delivery %d: events: %w", id, err)
	}
	defer rows.Close()
	detail := inspector.DeliveryDetail{Delivery: d, Events: []inspector.ReceivedEvent{}}
	for rows.Next() {
		var re inspector.ReceivedEvent
		var isNew int
		ev, err := scanEvent(rows, &re.Position, &isNew)
		if err != nil {
			return inspector.DeliveryDetail{}, fmt.Errorf("get delivery %d: events: %w", id, err)
		}
		re.New, re.Event = isNew != 0, ev
		detail.Events = append(detail.Events, re)
	}
	if err := rows.Err(); err != nil {
		return inspector.DeliveryDetail{}, fmt.Errorf("get delivery %d: events: %w", id, err)
	}
	return detail, nil
}

func limitOf(n int) int {
	if n <= 0 {
		return inspector.DefaultLimit
	}
	return n
}

// ListDeliveries implements inspector.Store.
func (s *Store) ListDeliveries(ctx context.Context, f inspector.DeliveryFilter) ([]inspector.Delivery, error) {
	var where []string
	var args []any
	if f.HookID != "" {
		where = append(where, "d.hook_id = ?")
		args = append(args, f.HookID)
	}
	if f.ResourceGID != "" {
		where = append(where, `(d.hook_id IN (SELECT id FROM hooks WHERE resource_gid = ?)
			OR EXISTS (SELECT 1 FROM delivery_events de JOIN events e ON e.id = de.event_id
				WHERE de.delivery_id = d.id AND e.resource_gid = ?))`)
		args = append(args, f.ResourceGID, f.ResourceGID)
	}
	if f.Kind != "" {
		where = append(where, "d.kind = ?")
		args = append(args, string(f.Kind))
	}
	if !f.Since.IsZero() {
		where = append(where, "d.received_at >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		where = append(where, "d.received_at < ?")
		args = append(args, f.Until.UnixMicro())
	}
	if f.BeforeID > 0 {
		where = append(where, "d.id < ?")
		args = append(args, f.BeforeID)
	}
	q := `SELECT ` + deliveryColumns + ` FROM deliveries d`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY d.id DESC LIMIT ?"
	args = append(args, limitOf(f.Limit))
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	out := []inspector.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

const eventColumns = `e.id, e.hook_id, e.event_key, e.raw, e.action, e.resource_gid, e.resource_type,
	e.first_seen_at, e.last_seen_at, e.receipts, e.first_delivery_id`

func scanEvent(sc interface{ Scan(...any) error }, extra ...any) (inspector.Event, error) {
	var ev inspector.Event
	var first, last sql.NullInt64
	var raw []byte
	dest := append(extra, &ev.ID, &ev.HookID, &ev.Key, &raw, &ev.Action, &ev.ResourceGID, &ev.ResourceType,
		&first, &last, &ev.Receipts, &ev.FirstDeliveryID)
	if err := sc.Scan(dest...); err != nil {
		return ev, err
	}
	ev.Raw = json.RawMessage(raw)
	ev.FirstSeenAt, ev.LastSeenAt = goTime(first), goTime(last)
	return ev, nil
}

// ListEvents implements inspector.Store.
func (s *Store) ListEvents(ctx context.Context, f inspector.EventFilter) ([]inspector.Event, error) {
	var where []string
	var args []any
	if f.HookID != "" {
		where = append(where, "e.hook_id = ?")
		args = append(args, f.HookID)
	}
	if f.ResourceGID != "" {
		where = append(where, "e.resource_gid = ?")
		args = append(args, f.ResourceGID)
	}
	if !f.Since.IsZero() {
		where = append(where, "e.first_seen_at >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		where = append(where, "e.first_seen_at < ?")
		args = append(args, f.Until.UnixMicro())
	}
	if f.BeforeID > 0 {
		where = append(where, "e.id < ?")
		args = append(args, f.BeforeID)
	}
	q := `SELECT ` + eventColumns + ` FROM events e`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY e.id DESC LIMIT ?"
	args = append(args, limitOf(f.Limit))
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	out := []inspector.Event{}
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// Stats implements inspector.Store.
func (s *Store) Stats(ctx context.Context, hookID string) (inspector.Stats, error) {
	st := inspector.Stats{Hooks: map[inspector.HookState]int{}}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	cond, args := "", []any{}
	if hookID != "" {
		cond, args = " WHERE hook_id = ?", []any{hookID}
	}
	hookCond := ""
	if hookID != "" {
		hookCond = " WHERE id = ?"
	}
	rows, err := tx.QueryContext(ctx, `SELECT state, COUNT(*) FROM hooks`+hookCond+` GROUP BY state`, args...)
	if err != nil {
		return st, fmt.Errorf("stats: hooks: %w", err)
	}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			rows.Close()
			return st, fmt.Errorf("stats: hooks: %w", err)
		}
		st.Hooks[inspector.HookState(state)] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("stats: hooks: %w", err)
	}
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*),
			COALESCE(SUM(kind = 'heartbeat'), 0), COALESCE(SUM(kind = 'malformed'), 0), MAX(received_at)
		FROM deliveries`+cond, args...).Scan(&st.Deliveries, &st.Heartbeats, &st.Malformed, &last); err != nil {
		return st, fmt.Errorf("stats: deliveries: %w", err)
	}
	st.LastDeliveryAt = goTime(last)
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(receipts), 0) FROM events`+cond, args...).
		Scan(&st.Events, &st.Receipts); err != nil {
		return st, fmt.Errorf("stats: events: %w", err)
	}
	return st, nil
}
