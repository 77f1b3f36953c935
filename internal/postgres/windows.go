package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

var _ inspector.SharedWindows = (*Store)(nil)

// OpenHandshakeWindow implements inspector.SharedWindows. Only a pending
// hook's window opens: ErrNotFound for an unknown hook, ErrInvalidState for
// one settled already.
func (s *Store) OpenHandshakeWindow(ctx context.Context, hookID string, ttl time.Duration) error {
	var state string
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT state FROM hooks WHERE id = $1 FOR UPDATE`, hookID).Scan(&state); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return inspector.ErrNotFound
			}
			return err
		}
		if inspector.HookState(state) != inspector.HookPending {
			return inspector.ErrInvalidState
		}
		_, err := tx.Exec(ctx, `UPDATE hooks SET handshake_open_until = now() + $2 * interval '1 microsecond' WHERE id = $1`,
			hookID, ttl.Microseconds())
		return err
	})
	if err != nil {
		return fmt.Errorf("open the handshake window of hook %s: %w", hookID, err)
	}
	return nil
}

// CloseHandshakeWindow implements inspector.SharedWindows.
func (s *Store) CloseHandshakeWindow(ctx context.Context, hookID string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE hooks SET handshake_open_until = NULL WHERE id = $1 AND handshake_open_until IS NOT NULL`, hookID)
		return err
	})
	if err != nil {
		return fmt.Errorf("close the handshake window of hook %s: %w", hookID, err)
	}
	return nil
}

// HandshakeWindowOpen implements inspector.SharedWindows: the window is open
// while the hook is pending and the database's clock is before its end.
func (s *Store) HandshakeWindowOpen(ctx context.Context, hookID string) (bool, error) {
	var open bool
	err := s.read(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT COALESCE(state = 'pending' AND handshake_open_until > now(), false)
			FROM hooks WHERE id = $1`, hookID).Scan(&open)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read the handshake window of hook %s: %w", hookID, err)
	}
	return open, nil
}
