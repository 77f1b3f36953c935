package sqlite

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// groupChunk bounds the rows of one multi-row statement of recordGroup.
const groupChunk = 64

// groupKind names the multi-row statements of recordGroup.
type groupKind int

const (
	groupDeliveries groupKind = iota
	groupEvents
	groupReceipts
)

// groupStmtKey identifies a multi-row statement: its kind and row count.
type groupStmtKey struct {
	kind groupKind
	rows int
}

// groupSQL is the text of the multi-row statement k.
func groupSQL(k groupStmtKey) string {
	var head, row, tail string
	switch k.kind {
	case groupDeliveries:
		head = `INSERT INTO deliveries (id, hook_id, received_at, request_id, remote_addr, query, headers, body,
			kind, problem, event_count) VALUES `
		row = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	case groupEvents:
		// The ids are the writer's to assign (it is the only one); an event
		// already stored, or earlier in the statement, is skipped, and
		// upsertGroupEvents counts its receipt on the stored row. Any other
		// conflict, such as an id taken behind the writer's back, is an error,
		// and the batch is stored again job by job.
		head = `INSERT INTO events (id, hook_id, event_created_at, event_key, raw, action, resource_gid, resource_type,
				first_seen_at, last_seen_at, receipts, first_delivery_id) VALUES `
		row = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`
		tail = ` ON CONFLICT (hook_id, event_created_at, event_key) DO NOTHING`
	case groupReceipts:
		head = `INSERT INTO delivery_events (delivery_id, position, event_id, new) VALUES `
		row = `(?, ?, ?, ?)`
	}
	var b strings.Builder
	b.WriteString(head)
	for i := range k.rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	return b.String()
}

// groupStmt returns the statement k for tx: the one prepared on the writer's
// connection if there is one, else one prepared in tx, and then k is noted so
// that prepareGroupStmts prepares it for the next transactions.
func (s *Store) groupStmt(tx *sql.Tx, k groupStmtKey) (*sql.Stmt, error) {
	if st, ok := s.stmts.group[k]; ok {
		return tx.Stmt(st), nil
	}
	st, err := tx.Prepare(groupSQL(k))
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	s.stmts.wanted = append(s.stmts.wanted, k)
	return st, nil
}

// prepareGroupStmts prepares the statements groupStmt missed, on the
// writer's connection, outside any transaction. A failure only means they are
// prepared in the transaction again next time.
func (s *Store) prepareGroupStmts() {
	for _, k := range s.stmts.wanted {
		if _, ok := s.stmts.group[k]; ok {
			continue
		}
		st, err := s.wdb.Prepare(groupSQL(k))
		if err != nil {
			s.log.Warn("sqlite prepare failed", "err", err)
			continue
		}
		if s.stmts.group == nil {
			s.stmts.group = make(map[groupStmtKey]*sql.Stmt)
		}
		s.stmts.group[k] = st
		s.stmts.preparedStmts = append(s.stmts.preparedStmts, st)
	}
	s.stmts.wanted = s.stmts.wanted[:0]
}

// lastIDs are the highest delivery and event ids, when valid. The ids of
// events skipped as already stored stay unused: ids only need to grow.
type lastIDs struct {
	valid           bool
	delivery, event int64
}

// eventRef is one event of a group: its delivery's index and its position.
type eventRef struct{ job, pos int }

// recordGroup stores the deliveries of jobs (every one with rec set) in tx
// with a few multi-row statements: one INSERT of the deliveries (ids assigned
// after ids, the last ones committed, since this is the only writer),
// one INSERT of their new events, one INSERT of all the receipts, each split
// in chunks of groupChunk rows. It fills results on success; on an error
// (such as a delivery to an unknown hook) the caller rolls back and retries
// the batch job by job.
func (s *Store) recordGroup(tx *sql.Tx, ids *lastIDs, jobs []*job, results []jobResult) error {
	if !ids.valid {
		if err := tx.Stmt(s.stmts.maxDelivery).QueryRow().Scan(&ids.delivery); err != nil {
			return fmt.Errorf("read last delivery id: %w", err)
		}
		if err := tx.Stmt(s.stmts.maxEvent).QueryRow().Scan(&ids.event); err != nil {
			return fmt.Errorf("read last event id: %w", err)
		}
		ids.valid = true
	}
	last := ids.delivery
	ids.delivery += int64(len(jobs))
	outs := make([]inspector.RecordResult, len(jobs))
	var refs []eventRef
	for start := 0; start < len(jobs); start += groupChunk {
		end := min(start+groupChunk, len(jobs))
		st, err := s.groupStmt(tx, groupStmtKey{groupDeliveries, end - start})
		if err != nil {
			return fmt.Errorf("insert deliveries: %w", err)
		}
		args := make([]any, 0, (end-start)*11)
		for k := start; k < end; k++ {
			rec := jobs[k].rec
			d := rec.d
			d.ID = last + int64(k) + 1
			args = append(args, d.ID, d.HookID, rec.at, d.RequestID, d.RemoteAddr, d.Query, rec.headers, d.Body,
				string(d.Kind), d.Problem, len(rec.events))
			outs[k] = inspector.RecordResult{Delivery: d, Events: make([]inspector.EventReceipt, len(rec.events))}
			for p := range rec.events {
				refs = append(refs, eventRef{k, p})
			}
		}
		if _, err := st.Exec(args...); err != nil {
			return fmt.Errorf("insert deliveries: %w", err)
		}
	}
	for k, j := range jobs {
		if j.rec.d.Kind == inspector.KindHeartbeat {
			if _, err := tx.Stmt(s.stmts.heartbeat).Exec(j.rec.at, j.rec.d.HookID); err != nil {
				return fmt.Errorf("record heartbeat of delivery %d: %w", outs[k].Delivery.ID, err)
			}
		}
	}
	if len(refs) > 0 {
		if err := s.upsertGroupEvents(tx, ids, jobs, refs, outs); err != nil {
			return err
		}
	}
	for k := range jobs {
		results[k] = jobResult{v: outs[k]}
	}
	return nil
}

// upsertGroupEvents stores the events refs of jobs and links them to their
// deliveries, filling the receipts of outs. New events, nearly all of them,
// are inserted by multi-row statements under ids assigned here; an event
// that is already stored (or came earlier in the group) is skipped by them,
// found by its unused id, and counted by the one-row upsert, in the order of
// refs, so its receipts run on from the stored count.
func (s *Store) upsertGroupEvents(tx *sql.Tx, ids *lastIDs, jobs []*job, refs []eventRef, outs []inspector.RecordResult) error {
	last := ids.event
	ids.event += int64(len(refs))
	for start := 0; start < len(refs); start += groupChunk {
		end := min(start+groupChunk, len(refs))
		st, err := s.groupStmt(tx, groupStmtKey{groupEvents, end - start})
		if err != nil {
			return fmt.Errorf("store events: %w", err)
		}
		first := last + int64(start) + 1
		args := make([]any, 0, (end-start)*11)
		for k, r := range refs[start:end] {
			rec := jobs[r.job].rec
			ev := rec.events[r.pos]
			args = append(args, first+int64(k), rec.d.HookID, ev.CreatedAt, ev.Key, []byte(ev.Raw), ev.Action,
				ev.ResourceGID, ev.ResourceType, rec.at, rec.at, outs[r.job].Delivery.ID)
		}
		res, err := st.Exec(args...)
		if err != nil {
			return fmt.Errorf("store events: %w", err)
		}
		inserted, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store events: %w", err)
		}
		stored := func(int64) bool { return true }
		if inserted < int64(end-start) {
			ids, err := s.eventIDsBetween(tx, first, first+int64(end-start)-1)
			if err != nil {
				return err
			}
			stored = func(id int64) bool { return ids[id] }
		}
		for k, r := range refs[start:end] {
			rec := jobs[r.job].rec
			ev := rec.events[r.pos]
			rc := inspector.EventReceipt{Position: r.pos, Key: ev.Key, EventID: first + int64(k), Receipts: 1, New: true}
			if !stored(rc.EventID) {
				rc.New = false
				if err := tx.Stmt(s.stmts.upsertEvent).QueryRow(rec.d.HookID, ev.CreatedAt, ev.Key, []byte(ev.Raw),
					ev.Action, ev.ResourceGID, ev.ResourceType, rec.at, outs[r.job].Delivery.ID).Scan(&rc.EventID, &rc.Receipts); err != nil {
					return fmt.Errorf("store event %d of delivery %d: %w", r.pos, outs[r.job].Delivery.ID, err)
				}
				if rc.Receipts == 1 {
					return fmt.Errorf("store event %d of delivery %d: skipped as stored, but it was not", r.pos, outs[r.job].Delivery.ID)
				}
			}
			if rc.New {
				outs[r.job].Delivery.NewEventCount++
			}
			outs[r.job].Events[r.pos] = rc
		}
	}
	for start := 0; start < len(refs); start += groupChunk {
		end := min(start+groupChunk, len(refs))
		st, err := s.groupStmt(tx, groupStmtKey{groupReceipts, end - start})
		if err != nil {
			return fmt.Errorf("link events: %w", err)
		}
		args := make([]any, 0, (end-start)*4)
		for _, r := range refs[start:end] {
			rc := outs[r.job].Events[r.pos]
			args = append(args, outs[r.job].Delivery.ID, r.pos, rc.EventID, boolInt(rc.New))
		}
		if _, err := st.Exec(args...); err != nil {
			return fmt.Errorf("link events: %w", err)
		}
	}
	return nil
}

// eventIDsBetween returns the ids of the events stored with ids from lo to hi.
func (s *Store) eventIDsBetween(tx *sql.Tx, lo, hi int64) (map[int64]bool, error) {
	rows, err := tx.Stmt(s.stmts.eventIDs).Query(lo, hi)
	if err != nil {
		return nil, fmt.Errorf("find the events stored: %w", err)
	}
	defer rows.Close()
	ids := make(map[int64]bool, hi-lo+1)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("find the events stored: %w", err)
		}
		ids[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find the events stored: %w", err)
	}
	return ids, nil
}
