package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

var _ inspector.ForwardStore = (*Store)(nil)

// ForwardTarget implements inspector.ForwardStore.
func (s *Store) ForwardTarget(ctx context.Context, url string) (inspector.ForwardTarget, error) {
	var t inspector.ForwardTarget
	var secret []byte
	var created, updated sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT url, secret, cursor, created_at, updated_at FROM forward_targets WHERE url = ?`, url).
		Scan(&t.URL, &secret, &t.Cursor, &created, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
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
	now := s.now()
	_, err := s.write(ctx, func(tx *sql.Tx) (any, error) {
		_, err := tx.Exec(`INSERT INTO forward_targets (url, secret, cursor, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (url) DO UPDATE SET secret = excluded.secret, cursor = excluded.cursor,
				created_at = excluded.created_at, updated_at = excluded.updated_at`,
			t.URL, []byte(t.Secret.Reveal()), t.Cursor, dbTime(now), dbTime(now))
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("save forward target %s: %w", t.URL, err)
	}
	return nil
}

// AdvanceForwardCursor implements inspector.ForwardStore.
func (s *Store) AdvanceForwardCursor(ctx context.Context, url string, id int64) error {
	_, err := s.write(ctx, func(tx *sql.Tx) (any, error) {
		var cursor int64
		if err := tx.QueryRow(`SELECT cursor FROM forward_targets WHERE url = ?`, url).Scan(&cursor); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, inspector.ErrNotFound
			}
			return nil, err
		}
		if id <= cursor {
			return nil, nil
		}
		_, err := tx.Exec(`UPDATE forward_targets SET cursor = ?, updated_at = ? WHERE url = ?`, id, dbTime(s.now()), url)
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("advance the forward cursor of %s to %d: %w", url, id, err)
	}
	return nil
}

// DeliveriesAfter implements inspector.ForwardStore.
func (s *Store) DeliveriesAfter(ctx context.Context, after int64, limit int) ([]inspector.Delivery, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries d WHERE d.id > ? ORDER BY d.id LIMIT ?`,
		after, limitOf(limit))
	if err != nil {
		return nil, fmt.Errorf("deliveries after %d: %w", after, err)
	}
	defer rows.Close()
	out := []inspector.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("deliveries after %d: %w", after, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deliveries after %d: %w", after, err)
	}
	return out, nil
}
