package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// CreateRun implements inspector.Store.
func (s *Store) CreateRun(ctx context.Context, run inspector.Run) error {
	if run.ID == "" {
		return fmt.Errorf("create run: empty id: %w", inspector.ErrInvalid)
	}
	if run.StartedAt.IsZero() {
		run.StartedAt = s.now()
	}
	_, err := s.write(ctx, func(tx *sql.Tx) (any, error) {
		_, err := tx.Exec(`INSERT INTO runs (id, started_at, ended_at, public_url) VALUES (?, ?, ?, ?)`,
			run.ID, dbTime(run.StartedAt), dbTime(run.EndedAt), run.PublicURL)
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("create run %s: %w", run.ID, err)
	}
	return nil
}

// EndRun implements inspector.Store.
func (s *Store) EndRun(ctx context.Context, runID string, at time.Time) error {
	_, err := s.write(ctx, func(tx *sql.Tx) (any, error) {
		return nil, mustAffect(tx.Exec(`UPDATE runs SET ended_at = ? WHERE id = ?`, dbTime(at), runID))
	})
	if err != nil {
		return fmt.Errorf("end run %s: %w", runID, err)
	}
	return nil
}

// GetRun implements inspector.Store.
func (s *Store) GetRun(ctx context.Context, runID string) (inspector.Run, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, started_at, ended_at, public_url FROM runs WHERE id = ?`, runID)
	if err != nil {
		return inspector.Run{}, fmt.Errorf("get run %s: %w", runID, err)
	}
	runs, err := scanRuns(rows)
	if err != nil {
		return inspector.Run{}, fmt.Errorf("get run %s: %w", runID, err)
	}
	if len(runs) == 0 {
		return inspector.Run{}, fmt.Errorf("get run %s: %w", runID, inspector.ErrNotFound)
	}
	return runs[0], nil
}

// ListRuns implements inspector.Store.
func (s *Store) ListRuns(ctx context.Context) ([]inspector.Run, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, started_at, ended_at, public_url FROM runs ORDER BY started_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	runs, err := scanRuns(rows)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return runs, nil
}

func scanRuns(rows *sql.Rows) ([]inspector.Run, error) {
	defer rows.Close()
	var runs []inspector.Run
	for rows.Next() {
		var r inspector.Run
		var started, ended sql.NullInt64
		if err := rows.Scan(&r.ID, &started, &ended, &r.PublicURL); err != nil {
			return nil, err
		}
		r.StartedAt, r.EndedAt = goTime(started), goTime(ended)
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

// CreateHook implements inspector.Store.
func (s *Store) CreateHook(ctx context.Context, h inspector.Hook) error {
	now := s.now()
	h, fj, err := inspector.PrepareNewHook(h, now)
	if err != nil {
		return err
	}
	_, err = s.write(ctx, func(tx *sql.Tx) (any, error) {
		for _, run := range []string{h.RunID, h.LastRunID} {
			var one int
			if err := tx.QueryRow(`SELECT 1 FROM runs WHERE id = ?`, run).Scan(&one); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return nil, fmt.Errorf("run %s: %w", run, inspector.ErrNotFound)
				}
				return nil, err
			}
		}
		var one int
		switch err := tx.QueryRow(`SELECT 1 FROM hooks WHERE id = ?`, h.ID).Scan(&one); {
		case err == nil:
			return nil, fmt.Errorf("id already used: %w", inspector.ErrInvalid)
		case !errors.Is(err, sql.ErrNoRows):
			return nil, err
		}
		_, err := tx.Exec(`INSERT INTO hooks (id, resource_gid, resource_type, resource_name, workspace_gid, target,
				filters, state, note, run_id, last_run_id, keep, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)`,
			h.ID, h.Resource.GID, h.Resource.ResourceType, h.Resource.Name, h.WorkspaceGID, h.Target,
			string(fj), h.Note, h.RunID, h.LastRunID, boolInt(h.Keep), dbTime(h.CreatedAt), dbTime(now))
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("create hook %s: %w", h.ID, err)
	}
	return nil
}

// hookState reads a hook's state inside a write, or ErrNotFound.
func hookState(tx *sql.Tx, hookID string) (inspector.HookState, error) {
	var state string
	if err := tx.QueryRow(`SELECT state FROM hooks WHERE id = ?`, hookID).Scan(&state); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", inspector.ErrNotFound
		}
		return "", err
	}
	return inspector.HookState(state), nil
}

// SaveHandshake implements inspector.Store.
func (s *Store) SaveHandshake(ctx context.Context, hookID string, secret asana.Secret) error {
	if secret.IsZero() {
		return fmt.Errorf("save handshake for hook %s: empty secret: %w", hookID, inspector.ErrInvalid)
	}
	value := []byte(secret.Reveal())
	_, err := s.write(ctx, func(tx *sql.Tx) (any, error) {
		var state string
		var stored []byte
		if err := tx.QueryRow(`SELECT state, secret FROM hooks WHERE id = ?`, hookID).Scan(&state, &stored); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, inspector.ErrNotFound
			}
			return nil, err
		}
		// A deleted or failed hook takes no secret: a late handshake must
		// not revive a hook the manager has settled.
		if st := inspector.HookState(state); st == inspector.HookDeleted || st == inspector.HookFailed {
			return nil, inspector.ErrInvalidState
		}
		if stored != nil {
			if subtle.ConstantTimeCompare(stored, value) == 1 {
				return nil, nil
			}
			return nil, inspector.ErrSecretConflict
		}
		now := s.now()
		_, err := tx.Exec(`UPDATE hooks SET secret = ?, secret_at = ?, updated_at = ? WHERE id = ?`,
			value, dbTime(now), dbTime(now), hookID)
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("save handshake for hook %s: %w", hookID, err)
	}
	return nil
}

// Secret implements inspector.Store.
func (s *Store) Secret(ctx context.Context, hookID string) (asana.Secret, error) {
	s.secretMu.Lock()
	cached, ok := s.secrets[hookID]
	gen := s.secretGen
	s.secretMu.Unlock()
	if ok {
		return asana.NewSecret(string(cached)), nil
	}
	var stored []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT secret FROM hooks WHERE id = ?`, hookID).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return asana.Secret{}, fmt.Errorf("secret of hook %s: %w", hookID, inspector.ErrNotFound)
	case err != nil:
		return asana.Secret{}, fmt.Errorf("secret of hook %s: %w", hookID, err)
	case len(stored) == 0:
		return asana.Secret{}, fmt.Errorf("secret of hook %s: %w", hookID, inspector.ErrNoSecret)
	}
	s.secretMu.Lock()
	if s.secretGen == gen {
		s.secrets[hookID] = stored
	}
	s.secretMu.Unlock()
	return asana.NewSecret(string(stored)), nil
}

// DiscardSecret implements inspector.Store.
func (s *Store) DiscardSecret(ctx context.Context, hookID string) error {
	_, err := s.write(ctx, func(tx *sql.Tx) (any, error) {
		state, err := hookState(tx, hookID)
		if err != nil {
			return nil, err
		}
		if state == inspector.HookActive {
			return nil, inspector.ErrInvalidState
		}
		_, err = tx.Exec(`UPDATE hooks SET secret = NULL, secret_at = NULL, updated_at = ? WHERE id = ?`, dbTime(s.now()), hookID)
		return nil, err
	})
	// Drop the cached secret whatever happened: if the discard committed
	// despite an error (the caller's context ended), the cache must not
	// outlive it.
	s.secretMu.Lock()
	s.secretGen++
	delete(s.secrets, hookID)
	s.secretMu.Unlock()
	if err != nil {
		return fmt.Errorf("discard secret of hook %s: %w", hookID, err)
	}
	return nil
}

// ActivateHook implements inspector.Store.
func (s *Store) ActivateHook(ctx context.Context, hookID, webhookGID string) error {
	if webhookGID == "" {
		return fmt.Errorf("activate hook %s: empty webhook gid: %w", hookID, inspector.ErrInvalid)
	}
	_, err := s.write(ctx, func(tx *sql.Tx) (any, error) {
		state, err := hookState(tx, hookID)
		if err != nil {
			return nil, err
		}
		if state == inspector.HookDeleted {
			return nil, inspector.ErrInvalidState
		}
		_, err = tx.Exec(`UPDATE hooks SET state = 'active', webhook_gid = ?, note = '', updated_at = ? WHERE id = ?`,
			webhookGID, dbTime(s.now()), hookID)
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("activate hook %s as webhook %s: %w", hookID, webhookGID, err)
	}
	return nil
}

// ReuseHook implements inspector.Store.
func (s *Store) ReuseHook(ctx context.Context, hookID, runID string, keep bool) error {
	_, err := s.write(ctx, func(tx *sql.Tx) (any, error) {
		state, err := hookState(tx, hookID)
		if err != nil {
			return nil, err
		}
		if state != inspector.HookActive {
			return nil, inspector.ErrInvalidState
		}
		var one int
		if err := tx.QueryRow(`SELECT 1 FROM runs WHERE id = ?`, runID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("run %s: %w", runID, inspector.ErrNotFound)
			}
			return nil, err
		}
		_, err = tx.Exec(`UPDATE hooks SET last_run_id = ?, keep = ?, updated_at = ? WHERE id = ?`,
			runID, boolInt(keep), dbTime(s.now()), hookID)
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("reuse hook %s in run %s: %w", hookID, runID, err)
	}
	return nil
}

// MarkHookDeleted implements inspector.Store.
func (s *Store) MarkHookDeleted(ctx context.Context, hookID, note string) error {
	_, err := s.write(ctx, func(tx *sql.Tx) (any, error) {
		return nil, mustAffect(tx.Exec(`UPDATE hooks SET state = 'deleted', note = ?, updated_at = ? WHERE id = ?`,
			note, dbTime(s.now()), hookID))
	})
	if err != nil {
		return fmt.Errorf("mark hook %s deleted: %w", hookID, err)
	}
	return nil
}

// MarkHookFailed implements inspector.Store.
func (s *Store) MarkHookFailed(ctx context.Context, hookID, note string) error {
	_, err := s.write(ctx, func(tx *sql.Tx) (any, error) {
		state, err := hookState(tx, hookID)
		if err != nil {
			return nil, err
		}
		if state == inspector.HookDeleted {
			return nil, inspector.ErrInvalidState
		}
		_, err = tx.Exec(`UPDATE hooks SET state = 'failed', note = ?, updated_at = ? WHERE id = ?`, note, dbTime(s.now()), hookID)
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("mark hook %s failed: %w", hookID, err)
	}
	return nil
}

// mustAffect turns an update of no row into ErrNotFound.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return inspector.ErrNotFound
	}
	return nil
}

const hookColumns = `id, COALESCE(webhook_gid, ''), resource_gid, resource_type, resource_name, workspace_gid, target,
	filters, state, note, run_id, last_run_id, keep, secret IS NOT NULL, created_at, updated_at,
	last_heartbeat_at,
	(SELECT received_at FROM deliveries WHERE hook_id = hooks.id ORDER BY received_at DESC LIMIT 1)`

// GetHook implements inspector.Store.
func (s *Store) GetHook(ctx context.Context, hookID string) (inspector.Hook, error) {
	hooks, err := s.queryHooks(ctx, `SELECT `+hookColumns+` FROM hooks WHERE id = ?`, hookID)
	if err != nil {
		return inspector.Hook{}, fmt.Errorf("get hook %s: %w", hookID, err)
	}
	if len(hooks) == 0 {
		return inspector.Hook{}, fmt.Errorf("get hook %s: %w", hookID, inspector.ErrNotFound)
	}
	return hooks[0], nil
}

// GetHookByGID implements inspector.Store.
func (s *Store) GetHookByGID(ctx context.Context, webhookGID string) (inspector.Hook, error) {
	hooks, err := s.queryHooks(ctx, `SELECT `+hookColumns+` FROM hooks WHERE webhook_gid = ?`, webhookGID)
	if err != nil {
		return inspector.Hook{}, fmt.Errorf("get hook of webhook %s: %w", webhookGID, err)
	}
	if len(hooks) == 0 {
		return inspector.Hook{}, fmt.Errorf("get hook of webhook %s: %w", webhookGID, inspector.ErrNotFound)
	}
	return hooks[0], nil
}

// ListHooks implements inspector.Store.
func (s *Store) ListHooks(ctx context.Context, f inspector.HookFilter) ([]inspector.Hook, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		marks := make([]string, len(f.States))
		for i, st := range f.States {
			marks[i] = "?"
			args = append(args, string(st))
		}
		where = append(where, "state IN ("+strings.Join(marks, ", ")+")")
	}
	if f.RunID != "" {
		where = append(where, "(run_id = ? OR last_run_id = ?)")
		args = append(args, f.RunID, f.RunID)
	}
	if f.ResourceGID != "" {
		where = append(where, "resource_gid = ?")
		args = append(args, f.ResourceGID)
	}
	q := `SELECT ` + hookColumns + ` FROM hooks`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	hooks, err := s.queryHooks(ctx, q+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("list hooks: %w", err)
	}
	return hooks, nil
}

func (s *Store) queryHooks(ctx context.Context, q string, args ...any) ([]inspector.Hook, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hooks []inspector.Hook
	for rows.Next() {
		var h inspector.Hook
		var filters, state string
		var keep int
		var created, updated, heartbeat, delivery sql.NullInt64
		if err := rows.Scan(&h.ID, &h.WebhookGID, &h.Resource.GID, &h.Resource.ResourceType, &h.Resource.Name,
			&h.WorkspaceGID, &h.Target, &filters, &state, &h.Note, &h.RunID, &h.LastRunID, &keep, &h.HasSecret,
			&created, &updated, &heartbeat, &delivery); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(filters), &h.Filters); err != nil {
			return nil, fmt.Errorf("decode filters of hook %s: %w", h.ID, err)
		}
		if len(h.Filters) == 0 {
			h.Filters = nil
		}
		h.State = inspector.HookState(state)
		h.Keep = keep != 0
		h.CreatedAt, h.UpdatedAt = goTime(created), goTime(updated)
		h.LastHeartbeatAt, h.LastDeliveryAt = goTime(heartbeat), goTime(delivery)
		hooks = append(hooks, h)
	}
	return hooks, rows.Err()
}
