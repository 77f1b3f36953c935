package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/jackc/pgx/v5"
)

// runLockKey is the first key of a run's advisory lock; the second is a
// hash of the schema and the run id.
const runLockKey = 0x72756e // "run"

var _ inspector.RunLocker = (*Store)(nil)

// LockRun implements inspector.RunLocker: a session advisory lock on a
// connection of its own, held until unlock (or Close, or the process's
// death, which ends the session).
func (s *Store) LockRun(ctx context.Context, runID string) (func() error, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.ops.Done()
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("lock run %s: %w", runID, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext(COALESCE(current_schema(), '') || ':' || $2))`, int32(runLockKey), runID); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("lock run %s: %w", runID, err)
	}
	s.mu.Lock()
	if s.runLocks == nil {
		s.runLocks = map[*pgx.Conn]string{}
	}
	s.runLocks[conn] = runID
	s.mu.Unlock()
	return func() error {
		s.mu.Lock()
		_, held := s.runLocks[conn]
		delete(s.runLocks, conn)
		s.mu.Unlock()
		if !held {
			return nil
		}
		return releaseRunLock(conn, runID)
	}, nil
}

// releaseRunLock unlocks explicitly, so that the lock is free when it
// returns (a closed session's locks go only when the server has noticed),
// then ends the session.
func releaseRunLock(conn *pgx.Conn, runID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext(COALESCE(current_schema(), '') || ':' || $2))`, int32(runLockKey), runID)
	return errors.Join(err, conn.Close(ctx))
}

// RunAlive implements inspector.RunLocker: the run is alive if its lock is
// held by some session.
func (s *Store) RunAlive(ctx context.Context, runID string) (bool, error) {
	var alive bool
	err := s.read(ctx, func() error {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext(COALESCE(current_schema(), '') || ':' || $2))`, int32(runLockKey), runID).Scan(&got); err != nil {
			return err
		}
		if got {
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext(COALESCE(current_schema(), '') || ':' || $2))`, int32(runLockKey), runID); err != nil {
				// The lock must not stay on a pooled connection.
				conn.Conn().Close(context.WithoutCancel(ctx))
				return err
			}
		}
		alive = !got
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("is run %s alive: %w", runID, err)
	}
	return alive, nil
}
