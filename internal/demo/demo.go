// Package demo is `asana-webhooks demo`: an emulated Asana and the inspector
// in one process, on free loopback ports, with a store in a temporary
// directory. It creates a filtered webhook on the seeded project, plays a
// scene of project work through the emulator's API at a human pace (every
// delivery is verified, stored and printed by the inspector as it arrives),
// shows a heartbeat, sends three forgeries that the receiver refuses (a
// delivery signed with another secret, a handshake outside any create, and
// one during the create, right after Asana's), and at the
// end deletes the webhook and prints a summary counted from the emulator's
// delivery records and the inspector's store.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/clock"
	"github.com/asana-webhooks/asana-webhooks/internal/app"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// Paces of the scene: the pause after each step.
const (
	// DefaultPace is the pause between steps of the interactive demo.
	DefaultPace = 1500 * time.Millisecond
	// OncePace is the pause with Once, when no pace is given.
	OncePace = 200 * time.Millisecond
)

// Tokens of the emulator's two users.
const (
	// AdaToken is the bearer token of Ada Lovelace, the first seeded user.
	AdaToken = emulator.DefaultToken
	// GraceToken is the bearer token of Grace Hopper, the second one.
	GraceToken = "grace-token"
)

// syncTimeout bounds each wait for the emulator's deliveries to be stored.
const syncTimeout = 10 * time.Second

// Config configures a demo run.
type Config struct {
	// Once plays the scene quickly and ends after it, instead of running
	// until ctx ends.
	Once bool
	// Pace is the pause after each step; zero means DefaultPace, or
	// OncePace with Once.
	Pace time.Duration
	// Stdout receives the narration, the inspector's lines and the summary;
	// Stderr the warnings and errors. Both default to io.Discard.
	Stdout, Stderr io.Writer
	// TempDir is where the temporary store directory is made; "" is the
	// system's temporary directory.
	TempDir string
}

// Filters are the webhook's filters: task and comment activity, without
// description (notes) edits, so that one change of the scene is, correctly,
// not delivered.
func Filters() []asana.Filter {
	return []asana.Filter{
		{ResourceType: "task", Action: "added"},
		{ResourceType: "task", Action: "removed"},
		{ResourceType: "task", Action: "deleted"},
		{ResourceType: "task", Action: "changed", Fields: []string{"name", "assignee", "due_on", "completed", "followers"}},
		{ResourceType: "story", Action: "added"},
	}
}

// Run plays the demo and returns its summary. It returns when the scene is
// over (with Once) or when ctx ends; either way it deletes the webhook and
// prints the summary first. The error is non-nil when the demo could not
// start, or when the summary does not add up.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.Pace <= 0 {
		cfg.Pace = DefaultPace
		if cfg.Once {
			cfg.Pace = OncePace
		}
	}
	term := newTerminal(cfg.Stdout)
	errLog := slog.New(slog.NewTextHandler(cfg.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	dir, err := os.MkdirTemp(cfg.TempDir, "asana-webhooks-demo-")
	if err != nil {
		return Summary{}, fmt.Errorf("make a temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	term.sayf("asana-webhooks demo: a local Asana (the emulator) and the webhook inspector, in this process.")
	term.sayf("No account, token or tunnel: everything runs on this machine's loopback interface.")
	term.sayf("")

	emu, err := emulator.Start(emulator.Config{
		Tokens: []string{AdaToken, GraceToken},
		Clock:  clock.NewShifted(),
		Logger: slog.New(slog.NewTextHandler(cfg.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return Summary{}, fmt.Errorf("start the emulator: %w", err)
	}
	defer emu.Close()

	store, err := sqlite.Open(ctx, filepath.Join(dir, "inspector.db"), sqlite.Options{Logger: errLog})
	if err != nil {
		return Summary{}, fmt.Errorf("open the store: %w", err)
	}
	defer store.Close()

	d := &run{cfg: cfg, term: term, emu: emu, store: store, api: &apiClient{base: emu.BaseURL(), http: &http.Client{Timeout: 30 * time.Second}},
		project: emu.ProjectGID(), logged: -1}
	// The inspector's client goes through the racer, which plays the
	// attacker of the 409 during the create.
	d.racer = &handshakeRacer{base: http.DefaultTransport, forge: d.forgeTo}
	d.client = asana.NewClient(AdaToken, asana.WithBaseURL(emu.BaseURL()), asana.WithHTTPClient(&http.Client{Transport: d.racer}))
	if err := d.introduce(ctx); err != nil {
		return Summary{}, err
	}

	rej := newRejections(slog.NewTextHandler(cfg.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	in, err := app.New(app.Config{
		Client:    d.client,
		Resources: []string{d.project},
		Filters:   Filters(),
		Listen:    "127.0.0.1:0",
		Store:     store,
		UI:        true,
		Stdout:    inspectorOut{term},
		Stderr:    cfg.Stderr,
		Logger:    slog.New(rej),
	})
	if err != nil {
		return Summary{}, fmt.Errorf("configure the inspector: %w", err)
	}
	d.in = in
	d.rejected = rej.count
	if err := in.Start(ctx); err != nil {
		closeErr := in.Close()
		if ctx.Err() != nil {
			return Summary{}, errors.Join(fmt.Errorf("interrupted while starting the inspector: %w", ctx.Err()), closeErr)
		}
		return Summary{}, errors.Join(fmt.Errorf("start the inspector: %w", err), closeErr)
	}

	completed := false
	err = d.play(ctx)
	switch {
	case err == nil:
		completed = true
		if !cfg.Once {
			d.explore()
			<-ctx.Done()
			term.sayf("")
			term.sayf("Ctrl+C: stopping.")
		}
	case ctx.Err() != nil:
		term.sayf("")
		term.sayf("Interrupted: stopping the scene.")
	default:
		term.sayf("The scene stopped: %v", err)
	}
	term.sayf("")
	term.sayf("6. Cleaning up: the inspector deletes the webhook it created.")
	sum, finishErr := d.finish()
	sum.Completed = completed
	term.sayf("")
	sum.print(cfg.Stdout)
	fmt.Fprintf(cfg.Stdout, "%s%s\n", SummaryPrefix, mustJSON(sum))
	switch {
	case finishErr != nil:
		return sum, finishErr
	case err != nil && ctx.Err() == nil:
		return sum, err
	case !sum.OK():
		return sum, fmt.Errorf("demo: %s", sum.Mismatch())
	}
	return sum, nil
}

// run is the state of one demo run.
type run struct {
	cfg      Config
	term     *terminal
	emu      *emulator.Server
	store    inspector.Store
	api      *apiClient
	client   *asana.Client
	in       *app.Inspector
	rejected *counter

	project   string
	workspace string
	hook      inspector.Hook
	sections  map[string]string // name -> gid
	users     map[string]string // token -> user gid

	sync     string // /events sync token on the project
	logged   int    // events read from /events since the webhook was created; -1 before
	expected int64  // event receipts the store should hold
	forged   int    // forged requests sent
	racer    *handshakeRacer
}

// finish waits for deliveries in flight, stops the inspector (which deletes
// the webhook), and counts.
func (d *run) finish() (Summary, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*syncTimeout)
	defer cancel()
	d.settle(ctx)
	if d.logged >= 0 {
		// Changes the user made while exploring are in /events too.
		if evs, err := d.newEvents(ctx); err == nil {
			d.logged += len(evs)
		}
	}
	closeErr := d.in.Close()
	stats, err := d.store.Stats(ctx, "")
	if err != nil {
		return Summary{}, errors.Join(fmt.Errorf("read the store's counts: %w", err), closeErr)
	}
	sum := summarize(d.emu.Deliveries(""), stats, d.rejected.snapshot())
	sum.ForgeriesSent = d.forged
	sum.WebhooksLeft = len(d.emu.WebhookGIDs())
	sum.EventsLogged = d.logged
	if closeErr != nil {
		return sum, fmt.Errorf("stop the inspector: %w", closeErr)
	}
	return sum, nil
}

// settle waits until the emulator has nothing queued and every delivery it
// reports acknowledged is in the store (or until ctx ends).
func (d *run) settle(ctx context.Context) {
	stable := 0
	for stable < 3 {
		st, err := d.store.Stats(ctx, "")
		if err != nil {
			return
		}
		sum := summarize(d.emu.Deliveries(""), st, nil)
		if d.emu.State().Pending == 0 && int64(sum.EmulatorEvents) == sum.StoredEvents && int64(sum.EmulatorHeartbeats) == sum.StoredHeartbeats {
			stable++
		} else {
			stable = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}
