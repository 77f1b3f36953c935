package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

var _ inspector.RunLocker = (*Store)(nil)

// runLockPath is the lock file of a run: <db>.runs/<run id>.
func (s *Store) runLockPath(runID string) (string, error) {
	if runID == "" || len(runID) > 128 {
		return "", fmt.Errorf("run id %q: %w", runID, inspector.ErrInvalid)
	}
	for _, c := range runID {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", fmt.Errorf("run id %q: %w", runID, inspector.ErrInvalid)
		}
	}
	return filepath.Join(s.path+".runs", runID), nil
}

// LockRun implements inspector.RunLocker with an exclusive flock(2) on the
// run's lock file beside the database, which the kernel releases when the
// process dies.
func (s *Store) LockRun(_ context.Context, runID string) (func() error, error) {
	path, err := s.runLockPath(runID)
	if err != nil {
		return nil, fmt.Errorf("lock run: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock run %s: %w", runID, err)
	}
	f, err := lockFile(path)
	if err != nil {
		return nil, fmt.Errorf("lock run %s: %w", runID, err)
	}
	return func() error {
		rerr := os.Remove(path)
		if errors.Is(rerr, os.ErrNotExist) {
			rerr = nil
		}
		return errors.Join(rerr, f.Close())
	}, nil
}

// RunAlive implements inspector.RunLocker: the run is alive if a process
// holds the lock of its file. A stale file (its process died) is removed.
func (s *Store) RunAlive(_ context.Context, runID string) (bool, error) {
	path, err := s.runLockPath(runID)
	if err != nil {
		return false, fmt.Errorf("is run alive: %w", err)
	}
	alive, err := heldByOther(path)
	if err != nil {
		return false, fmt.Errorf("is run %s alive: %w", runID, err)
	}
	return alive, nil
}
