package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

var _ inspector.ForwardStore = (*Store)(nil)

// ForwardTarget implements inspector.ForwardStore.
func (s *Store) ForwardTarget(ctx context.Context, url string) (inspector.ForwardTarget, error) {
	var t inspector.ForwardTarget
	var secret []byte
	var created, updated *time.Time
	err := s.read(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT url, secret, cursor, created_at, updated_at FROM forward_targets WHERE url = $1`, url).
			Scan(&t.URL, &secret, &t.Cursor, &created, &updated)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return t, fmt.Errorf("forward target %s: %w", url, inspector.ErrNotFound)
	case err != nil:
		return t, fmt.Errorf("forward target %s: %w", url, err)
	}
	t.Secret = asana.NewSecret(string(secret))
	t.CreatedAt, t.UpdatedAt = goTime(created), goTime(updated)
	return t, nil
}

// SaveForwardTarget implements inspector.ForwardStore.
func (s *Store) SaveForwardTarget(ctx context.Context, t inspector.ForwardTarget) error {
	if t.URL == "" || t.Secret.IsZero() || t.Cursor < 0 {
		return fmt.Errorf("save forward target %q: a URL, a secret and a cursor of 0 or more are required: %w", t.URL, inspector.ErrInvalid)
	}
	now := dbTime(s.now())
	err := s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO forward_targets (url, secret, cursor, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
			ON CONFLICT (url) DO UPDATE SET secret = excluded.secret, cursor = excluded.cursor,
				created_at = excluded.created_at, updated_at = excluded.updated_at`,
			t.URL, []byte(t.Secret.Reveal()), t.Cursor, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("save forward target %s: %w", t.URL, err)
	}
	return nil
}

// AdvanceForwardCursor implements inspector.ForwardStore.
func (s *Store) AdvanceForwardCursor(ctx context.Context, url string, id int64) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var cursor int64
		if err := tx.QueryRow(ctx, `SELECT cursor FROM forward_targets WHERE url = $1 FOR UPDATE`, url).Scan(&cursor); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return inspector.ErrNotFound
			}
			return err
		}
		if id <= cursor {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE forward_targets SET cursor = $1, updated_at = $2 WHERE url = $3`, id, dbTime(s.now()), url)
		return err
	})
	if err != nil {
		return fmt.Errorf("advance the forward cursor of %s to %d: %w", url, id, err)
	}
	return nil
}

// DeliveriesAfter implements inspector.ForwardStore.
func (s *Store) DeliveriesAfter(ctx context.Context, after int64, limit int) ([]inspector.Delivery, error) {
	out := []inspector.Delivery{}
	err := s.read(ctx, func() error {
		rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries d WHERE d.id > $1 ORDER BY d.id LIMIT $2`,
			after, limitOf(limit))
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
		return nil, fmt.Errorf("deliveries after %d: %w", after, err)
	}
	return out, nil
}
