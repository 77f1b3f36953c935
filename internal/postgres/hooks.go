package postgres

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO runs (id, started_at, ended_at, public_url) VALUES ($1, $2, $3, $4)`,
			run.ID, dbTime(run.StartedAt), dbTime(run.EndedAt), run.PublicURL)
		if pgCode(err) == sqlstateUnique {
			return fmt.Errorf("id already used: %w", inspector.ErrInvalid)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create run %s: %w", run.ID, err)
	}
	return nil
}

// EndRun implements inspector.Store.
func (s *Store) EndRun(ctx context.Context, runID string, at time.Time) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `UPDATE runs SET ended_at = $1 WHERE id = $2`, dbTime(at), runID))
	})
	if err != nil {
		return fmt.Errorf("end run %s: %w", runID, err)
	}
	return nil
}

// GetRun implements inspector.Store.
func (s *Store) GetRun(ctx context.Context, runID string) (inspector.Run, error) {
	var runs []inspector.Run
	err := s.read(ctx, func() (err error) {
		runs, err = s.queryRuns(ctx, `SELECT id, started_at, ended_at, public_url FROM runs WHERE id = $1`, runID)
		return err
	})
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
	var runs []inspector.Run
	err := s.read(ctx, func() (err error) {
		runs, err = s.queryRuns(ctx, `SELECT id, started_at, ended_at, public_url FROM runs ORDER BY started_at DESC, id`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return runs, nil
}

func (s *Store) queryRuns(ctx context.Context, q string, args ...any) ([]inspector.Run, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var runs []inspector.Run
	for rows.Next() {
		var r inspector.Run
		var started, ended *time.Time
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
	err = s.tx(ctx, func(tx pgx.Tx) error {
		// The constraints check the id and the runs: one statement.
		_, err := tx.Exec(ctx, `INSERT INTO hooks (id, resource_gid, resource_type, resource_name, workspace_gid, target,
				filters, state, note, run_id, last_run_id, keep, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11, $12, $13)`,
			h.ID, h.Resource.GID, h.Resource.ResourceType, h.Resource.Name, h.WorkspaceGID, h.Target,
			string(fj), h.Note, h.RunID, h.LastRunID, h.Keep, dbTime(h.CreatedAt), dbTime(now))
		switch pgCode(err) {
		case sqlstateUnique:
			return fmt.Errorf("id already used: %w", inspector.ErrInvalid)
		case sqlstateForeignKey:
			return fmt.Errorf("run %s or %s: %w", h.RunID, h.LastRunID, inspector.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create hook %s: %w", h.ID, err)
	}
	return nil
}

// lockHook reads a hook's state inside a write and locks its row until the
// commit, or returns ErrNotFound.
func lockHook(ctx context.Context, tx pgx.Tx, hookID string) (inspector.HookState, error) {
	var state string
	if err := tx.QueryRow(ctx, `SELECT state FROM hooks WHERE id = $1 FOR UPDATE`, hookID).Scan(&state); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return "", inspector.ErrNotFound
		}
		return "", err
	}
	return inspector.HookState(state), nil
}

// SaveHandshake implements inspector.Store. The hook's row is locked while
// the stored secret is compared, so of racing handshakes (on any replica)
// exactly one stores its secret.
func (s *Store) SaveHandshake(ctx context.Context, hookID string, secret asana.Secret) error {
	if secret.IsZero() {
		return fmt.Errorf("save handshake for hook %s: empty secret: %w", hookID, inspector.ErrInvalid)
	}
	value := []byte(secret.Reveal())
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var state string
		var stored []byte
		if err := tx.QueryRow(ctx, `SELECT state, secret FROM hooks WHERE id = $1 FOR UPDATE`, hookID).
			Scan(&state, &stored); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return inspector.ErrNotFound
			}
			return err
		}
		// A deleted or failed hook takes no secret: a late handshake must
		// not revive a hook the manager has settled.
		if st := inspector.HookState(state); st == inspector.HookDeleted || st == inspector.HookFailed {
			return inspector.ErrInvalidState
		}
		if stored != nil {
			if subtle.ConstantTimeCompare(stored, value) == 1 {
				return nil
			}
			return inspector.ErrSecretConflict
		}
		now := s.now()
		_, err := tx.Exec(ctx, `UPDATE hooks SET secret = $1, secret_at = $2, updated_at = $2 WHERE id = $3`,
			value, dbTime(now), hookID)
		return err
	})
	if err != nil {
		return fmt.Errorf("save handshake for hook %s: %w", hookID, err)
	}
	return nil
}

// Secret implements inspector.Store. It reads the database every time: a
// cache would go stale when another replica discards the secret.
func (s *Store) Secret(ctx context.Context, hookID string) (asana.Secret, error) {
	var stored []byte
	err := s.read(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT secret FROM hooks WHERE id = $1`, hookID).Scan(&stored)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return asana.Secret{}, fmt.Errorf("secret of hook %s: %w", hookID, inspector.ErrNotFound)
	case err != nil:
		return asana.Secret{}, fmt.Errorf("secret of hook %s: %w", hookID, err)
	case len(stored) == 0:
		return asana.Secret{}, fmt.Errorf("secret of hook %s: %w", hookID, inspector.ErrNoSecret)
	}
	return asana.NewSecret(string(stored)), nil
}

// DiscardSecret implements inspector.Store.
func (s *Store) DiscardSecret(ctx context.Context, hookID string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		state, err := lockHook(ctx, tx, hookID)
		if err != nil {
			return err
		}
		if state == inspector.HookActive {
			return inspector.ErrInvalidState
		}
		_, err = tx.Exec(ctx, `UPDATE hooks SET secret = NULL, secret_at = NULL, updated_at = $1 WHERE id = $2`,
			dbTime(s.now()), hookID)
		return err
	})
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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		state, err := lockHook(ctx, tx, hookID)
		if err != nil {
			return err
		}
		if state == inspector.HookDeleted {
			return inspector.ErrInvalidState
		}
		_, err = tx.Exec(ctx, `UPDATE hooks SET state = 'active', webhook_gid = $1, note = '', updated_at = $2 WHERE id = $3`,
			webhookGID, dbTime(s.now()), hookID)
		if pgCode(err) == sqlstateUnique {
			return fmt.Errorf("webhook gid already recorded for another hook: %w", inspector.ErrInvalid)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("activate hook %s as webhook %s: %w", hookID, webhookGID, err)
	}
	return nil
}

// ReuseHook implements inspector.Store.
func (s *Store) ReuseHook(ctx context.Context, hookID, runID string, keep bool) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		state, err := lockHook(ctx, tx, hookID)
		if err != nil {
			return err
		}
		if state != inspector.HookActive {
			return inspector.ErrInvalidState
		}
		_, err = tx.Exec(ctx, `UPDATE hooks SET last_run_id = $1, keep = $2, updated_at = $3 WHERE id = $4`,
			runID, keep, dbTime(s.now()), hookID)
		if pgCode(err) == sqlstateForeignKey {
			return fmt.Errorf("run %s: %w", runID, inspector.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("reuse hook %s in run %s: %w", hookID, runID, err)
	}
	return nil
}

// MarkHookDeleted implements inspector.Store.
func (s *Store) MarkHookDeleted(ctx context.Context, hookID, note string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `UPDATE hooks SET state = 'deleted', note = $1, updated_at = $2 WHERE id = $3`,
			note, dbTime(s.now()), hookID))
	})
	if err != nil {
		return fmt.Errorf("mark hook %s deleted: %w", hookID, err)
	}
	return nil
}

// MarkHookFailed implements inspector.Store.
func (s *Store) MarkHookFailed(ctx context.Context, hookID, note string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		state, err := lockHook(ctx, tx, hookID)
		if err != nil {
			return err
		}
		if state == inspector.HookDeleted {
			return inspector.ErrInvalidState
		}
		_, err = tx.Exec(ctx, `UPDATE hooks SET state = 'failed', note = $1, updated_at = $2 WHERE id = $3`,
			note, dbTime(s.now()), hookID)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark hook %s failed: %w", hookID, err)
	}
	return nil
}

// mustAffect turns an update of no row into ErrNotFound.
func mustAffect(tag interface{ RowsAffected() int64 }, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return inspector.ErrNotFound
	}
	return nil
}

const hookColumns = `id, COALESCE(webhook_gid, ''), resource_gid, resource_type, resource_name, workspace_gid, target,
	filters, state, note, run_id, last_run_id, keep, secret IS NOT NULL, created_at, updated_at,
	last_heartbeat_at,
	(SELECT max(received_at) FROM deliveries WHERE hook_id = hooks.id)`

// GetHook implements inspector.Store.
func (s *Store) GetHook(ctx context.Context, hookID string) (inspector.Hook, error) {
	hooks, err := s.queryHooks(ctx, `SELECT `+hookColumns+` FROM hooks WHERE id = $1`, hookID)
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
	hooks, err := s.queryHooks(ctx, `SELECT `+hookColumns+` FROM hooks WHERE webhook_gid = $1`, webhookGID)
	if err != nil {
		return inspector.Hook{}, fmt.Errorf("get hook of webhook %s: %w", webhookGID, err)
	}
	if len(hooks) == 0 {
		return inspector.Hook{}, fmt.Errorf("get hook of webhook %s: %w", webhookGID, inspector.ErrNotFound)
	}
	return hooks[0], nil
}

// args builds a list of query arguments and their $n placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// ListHooks implements inspector.Store.
func (s *Store) ListHooks(ctx context.Context, f inspector.HookFilter) ([]inspector.Hook, error) {
	var where []string
	var a args
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		where = append(where, "state = ANY("+a.add(states)+")")
	}
	if f.RunID != "" {
		p := a.add(f.RunID)
		where = append(where, "(run_id = "+p+" OR last_run_id = "+p+")")
	}
	if f.ResourceGID != "" {
		where = append(where, "resource_gid = "+a.add(f.ResourceGID))
	}
	q := `SELECT ` + hookColumns + ` FROM hooks`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	hooks, err := s.queryHooks(ctx, q+" ORDER BY created_at, id", a...)
	if err != nil {
		return nil, fmt.Errorf("list hooks: %w", err)
	}
	return hooks, nil
}

func (s *Store) queryHooks(ctx context.Context, q string, qargs ...any) ([]inspector.Hook, error) {
	var hooks []inspector.Hook
	err := s.read(ctx, func() error {
		rows, err := s.pool.Query(ctx, q, qargs...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h inspector.Hook
			var filters, state string
			var created, updated, heartbeat, delivery *time.Time
			if err := rows.Scan(&h.ID, &h.WebhookGID, &h.Resource.GID, &h.Resource.ResourceType, &h.Resource.Name,
				&h.WorkspaceGID, &h.Target, &filters, &state, &h.Note, &h.RunID, &h.LastRunID, &h.Keep, &h.HasSecret,
				&created, &updated, &heartbeat, &delivery); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(filters), &h.Filters); err != nil {
				return fmt.Errorf("decode filters of hook %s: %w", h.ID, err)
			}
			if len(h.Filters) == 0 {
				h.Filters = nil
			}
			h.State = inspector.HookState(state)
			h.CreatedAt, h.UpdatedAt = goTime(created), goTime(updated)
			h.LastHeartbeatAt, h.LastDeliveryAt = goTime(heartbeat), goTime(delivery)
			hooks = append(hooks, h)
		}
		return rows.Err()
	})
	return hooks, err
}
