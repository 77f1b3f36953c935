package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

type eventsOptions struct {
	resource string
	interval time.Duration
	json     bool
}

func newEventsCmd(a *App) *cobra.Command {
	o := eventsOptions{interval: 5 * time.Second}
	cmd := &cobra.Command{
		Use:   "events --resource GID",
		Short: "Poll a resource's events and print them until Ctrl+C",
		Long: `Poll GET /events on a resource (a project, task or goal) and print every new
event, until Ctrl+C or SIGTERM (which end it with exit status 0).

The sync token is kept in the data directory, per resource and API URL, so a
restart continues where the last run stopped. The first call of a new stream
only yields a token (events start "now"). When a saved token has expired
(Asana keeps them at most 24 hours), a warning says "sync token expired:
resync needed": events in between may be missing, and polling continues from
the new token.`,
		Example: `  asana-webhooks events --resource 1200000000000002
  asana-webhooks events --resource 1200000000000002 --interval 30s --json | jq .action`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runEvents(cmd.Context(), cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.resource, "resource", "", "resource gid to poll (default ASANA_PROJECT)")
	f.DurationVar(&o.interval, "interval", o.interval, "time between polls when there is nothing more to read")
	f.BoolVar(&o.json, "json", false, "print one JSON object per event")
	return cmd
}

func (a *App) runEvents(ctx context.Context, cmd *cobra.Command, o eventsOptions) error {
	client, err := a.Client()
	if err != nil {
		return err
	}
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	if o.resource == "" {
		o.resource = cfg.Project
	}
	if o.resource == "" {
		return usageErrorf("--resource is required (or set ASANA_PROJECT)")
	}
	if err := checkGID("--resource", o.resource); err != nil {
		return err
	}
	if o.interval <= 0 {
		return usageErrorf("--interval %s: want a positive duration such as 5s", o.interval)
	}
	base, err := cfg.BaseURL()
	if err != nil {
		return &configError{err: err}
	}
	dir, err := a.DataDir()
	if err != nil {
		return err
	}
	store := newSyncStore(dir, base, o.resource)
	tok, err := store.load()
	if err != nil {
		fmt.Fprintf(a.Stderr, "asana-webhooks: warning: %s; starting a new stream\n", oneLine(err.Error()))
		tok = ""
	}
	if tok != "" {
		fmt.Fprintf(a.Stderr, "polling events on %s every %s, continuing from the saved sync token (Ctrl+C to stop)\n", o.resource, o.interval)
	} else {
		fmt.Fprintf(a.Stderr, "polling events on %s every %s (Ctrl+C to stop)\n", o.resource, o.interval)
	}

	out := cmd.OutOrStdout()
	wait := func() bool {
		t := time.NewTimer(o.interval)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	setToken := func(s string) error {
		if s == "" || s == tok {
			return nil
		}
		tok = s
		return store.save(tok)
	}
	for {
		page, err := client.Events(ctx, o.resource, tok)
		var syncErr *asana.SyncError
		switch {
		case ctx.Err() != nil:
			return nil // Ctrl+C is how this command ends
		case errors.As(err, &syncErr):
			if syncErr.HadToken {
				fmt.Fprintln(a.Stderr, "asana-webhooks: warning: sync token expired: resync needed; events since the last poll may be missing, continuing from the new token")
			}
			if err := setToken(syncErr.Sync); err != nil {
				return err
			}
		case err != nil:
			if isPermanent(err) {
				return fmt.Errorf("resource %s: %w", o.resource, err)
			}
			fmt.Fprintf(a.Stderr, "asana-webhooks: warning: poll events on %s: %s; retrying in %s\n", o.resource, oneLine(err.Error()), o.interval)
		default:
			for _, e := range page.Events {
				if o.json {
					if err := writeJSONLine(out, e); err != nil {
						return err
					}
				} else if _, err := fmt.Fprintln(out, formatEvent(e)); err != nil {
					return fmt.Errorf("write event: %w", err)
				}
			}
			// Saved after printing: a crash in between prints an event
			// twice rather than never.
			if err := setToken(page.Sync); err != nil {
				return err
			}
			if page.HasMore {
				continue
			}
		}
		if !wait() {
			return nil
		}
	}
}

// isPermanent reports whether retrying err later cannot help: an API error
// other than a rate limit or a server error (the client already retried
// those and network errors).
func isPermanent(err error) bool {
	var ae *asana.APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.StatusCode < 500 && ae.StatusCode != 429
}

// syncStore keeps the events sync token of one resource on one API server,
// in a 0600 file replaced atomically.
type syncStore struct {
	path     string
	apiURL   string
	resource string
}

// syncFile is the content of a sync token file.
type syncFile struct {
	APIURL   string    `json:"api_url"`
	Resource string    `json:"resource"`
	Sync     string    `json:"sync"`
	SavedAt  time.Time `json:"saved_at"`
}

func newSyncStore(dataDir, apiURL, resource string) *syncStore {
	sum := sha256.Sum256([]byte(apiURL + "\x00" + resource))
	name := "sync-" + hex.EncodeToString(sum[:12]) + ".json"
	return &syncStore{path: filepath.Join(dataDir, "events", name), apiURL: apiURL, resource: resource}
}

// load returns the saved token, or "" when there is none.
func (s *syncStore) load() (string, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read sync token: %w", err)
	}
	var f syncFile
	if err := json.Unmarshal(b, &f); err != nil {
		return "", fmt.Errorf("read sync token %s: not valid JSON", s.path)
	}
	if f.APIURL != s.apiURL || f.Resource != s.resource {
		return "", nil
	}
	return f.Sync, nil
}

// save writes the token to a temporary file in the same directory and
// renames it over the old one, so a crash never leaves a torn file.
func (s *syncStore) save(tok string) error {
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save sync token: %w", err)
	}
	b, err := json.Marshal(syncFile{APIURL: s.apiURL, Resource: s.resource, Sync: tok, SavedAt: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("save sync token: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".sync-*.tmp")
	if err != nil {
		return fmt.Errorf("save sync token: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save sync token: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save sync token: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save sync token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save sync token: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("save sync token: %w", err)
	}
	return nil
}
