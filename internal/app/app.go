// Package app wires the inspector together: the store, the public receiver
// and its hardened server, the webhook manager (reconcile, create, health,
// cleanup) and the terminal printer. The inspect command runs it; the demo
// command and the web UI embed it (listeners on :0, injectable streams and
// logger, addresses known once Start returns).
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/gateway"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/receiver"
)

// Defaults of Config.
const (
	// DefaultListen is the receiver's listen address, the original's port.
	DefaultListen = "127.0.0.1:8090"
	// DefaultPreflightTimeout bounds the pre-flight request.
	DefaultPreflightTimeout = 10 * time.Second
	// DefaultShutdownTimeout bounds the graceful stop of the server.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultReplicaPoll is how often a replica that does not manage the
	// webhooks checks whether the one that does has stopped.
	DefaultReplicaPoll = 5 * time.Second
)

// Config configures an Inspector.
type Config struct {
	// Client calls Asana. Required.
	Client *asana.Client
	// Resources are the gids to watch, one webhook each. Required.
	Resources []string
	// Workspace is the workspace of the resources; empty means each
	// resource's own (GET /projects/{gid}).
	Workspace string
	// Filters are the filters of every webhook; none means every event.
	Filters []asana.Filter
	// PublicURL is the base URL Asana reaches the receiver on; empty means
	// http://<the listen address>, for local use and tests.
	PublicURL string
	// Listen is the receiver's address; empty is DefaultListen. Use
	// "127.0.0.1:0" for a free port.
	Listen string
	// DBPath is the SQLite file, or a postgres:// URL (see OpenStore), used
	// when Store is nil.
	DBPath string
	// Store, when set, is used instead of opening DBPath; the Inspector
	// does not close it.
	Store inspector.Store
	// Keep leaves the webhooks in Asana on exit, for the next run to reuse.
	Keep bool
	// SkipPreflight skips the check that PublicURL reaches the receiver.
	SkipPreflight bool
	// JSON prints one JSON object per event and heartbeat on Stdout, and
	// everything else on Stderr.
	JSON bool
	// Verbose adds each delivery's headers (secrets redacted): lines on the
	// terminal, or a "headers" object in each JSON line with JSON.
	Verbose bool
	// HealthInterval is how often each webhook is read from Asana; zero is
	// inspector.DefaultHealthInterval.
	HealthInterval time.Duration
	// Stdout and Stderr default to io.Discard.
	Stdout, Stderr io.Writer
	// Logger receives structured logs; nil means a text logger on Stderr
	// (debug level with Verbose, warnings otherwise).
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// OnDelivery, if set, also receives every stored delivery (the web UI).
	// It must not block.
	OnDelivery func(inspector.RecordResult)
	// UI serves the web UI on its own listener: UIListen, or 127.0.0.1 on
	// the receiver's port + 1. A non-loopback UIListen needs UIAllowRemote.
	UI            bool
	UIListen      string
	UIAllowRemote bool
	// ForwardTo, if set, is the user's app the gateway forwards every
	// stored delivery to, re-signed (see package gateway); the handshake
	// with it happens at Start, before any webhook is created.
	ForwardTo string
	// ForwardClient sends the gateway's requests; nil is its default.
	ForwardClient *http.Client
	// Replica makes this inspector one of several serving PublicURL on one
	// PostgreSQL database: one of them at a time (the first) manages the
	// webhooks; the others receive deliveries, and one takes over when it
	// stops (see inspector.ManagerConfig.Replica).
	Replica bool
	// ReplicaPoll is how often a replica tries to take over; zero is
	// DefaultReplicaPoll.
	ReplicaPoll time.Duration
	// OnReady, if set, is called at the end of a successful Start, when
	// Addr, PublicURL, Store and Manager are set (for callers of Run).
	OnReady func(*Inspector)
}

// Inspector is one inspector run. Start it, then Close it (or use Run).
type Inspector struct {
	cfg Config
	log *slog.Logger

	store     inspector.Store
	ownsStore bool
	windows   *inspector.HandshakeWindows
	ln        net.Listener
	srv       *http.Server
	served    chan struct{}
	printer   *printer
	manager   *inspector.Manager
	publicURL string

	monitorCancel context.CancelFunc
	monitorDone   chan struct{}

	ui *uiServer

	mu           sync.Mutex // guards leadUnlock and the monitor's fields once started
	leadUnlock   func() error
	followCancel context.CancelFunc
	followDone   chan struct{}

	// fwd is the gateway, once started (a replica starts it when it takes
	// over the webhooks).
	fwd      atomic.Pointer[gateway.Gateway]
	gwCancel context.CancelFunc
	gwDone   chan struct{}
	gwUnlock func() error

	closeOnce sync.Once
	closeErr  error
}

// New checks cfg and returns an Inspector that is not started yet.
func New(cfg Config) (*Inspector, error) {
	if cfg.Client == nil {
		return nil, errors.New("inspector: an API client is required")
	}
	if len(cfg.Resources) == 0 {
		return nil, errors.New("inspector: at least one resource is required")
	}
	if cfg.Store == nil && cfg.DBPath == "" {
		return nil, errors.New("inspector: a database path is required")
	}
	if cfg.ForwardTo != "" {
		u, err := ParseForwardURL(cfg.ForwardTo)
		if err != nil {
			return nil, err
		}
		cfg.ForwardTo = u
	}
	if cfg.PublicURL != "" {
		u, err := ParsePublicURL(cfg.PublicURL)
		if err != nil {
			return nil, err
		}
		cfg.PublicURL = u
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.ReplicaPoll <= 0 {
		cfg.ReplicaPoll = DefaultReplicaPoll
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		level := slog.LevelWarn
		if cfg.Verbose {
			level = slog.LevelDebug
		}
		cfg.Logger = slog.New(slog.NewTextHandler(cfg.Stderr, &slog.HandlerOptions{Level: level}))
	}
	return &Inspector{cfg: cfg, log: cfg.Logger, windows: &inspector.HandshakeWindows{}}, nil
}

// ParsePublicURL checks a public base URL (http or https, a host, no query,
// fragment or credentials) and returns it without a trailing slash.
func ParsePublicURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("public URL %q: not a valid URL", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("public URL %q: want an http:// or https:// URL", raw)
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("public URL %q: want an absolute URL such as https://abc.ngrok-free.app", raw)
	case u.User != nil:
		return "", fmt.Errorf("public URL %q: credentials are not allowed", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", fmt.Errorf("public URL %q: want a base URL without query or fragment", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Run starts the inspector, waits for ctx to end, then closes it. A start
// failure is returned after the cleanup; a cancelled ctx is a normal end.
func (in *Inspector) Run(ctx context.Context) error {
	err := in.Start(ctx)
	if err == nil {
		<-ctx.Done()
	} else if ctx.Err() != nil {
		err = nil // interrupted while starting: the cleanup below is the end
	}
	return errors.Join(err, in.Close())
}

// Start opens the store, serves the receiver, checks the public URL,
// reconciles earlier runs' webhooks and creates (or reuses) one webhook per
// resource, then starts the health monitor. When it returns an error, call
// Close: it deletes whatever this run created.
func (in *Inspector) Start(ctx context.Context) error {
	if in.cfg.Store != nil {
		in.store = in.cfg.Store
	} else {
		st, err := OpenStore(ctx, in.cfg.DBPath, in.log, in.cfg.Now)
		if err != nil {
			return err
		}
		in.store, in.ownsStore = st, true
	}
	in.printer = newPrinter(in.store, in.cfg.Stdout, in.cfg.Stderr, in.cfg.JSON, in.cfg.Verbose, in.log)

	// Replicas forward from the one that manages the webhooks (see lead).
	if in.cfg.ForwardTo != "" && !in.cfg.Replica {
		if err := in.startGateway(ctx); err != nil {
			return err
		}
	}

	rcv, err := receiver.New(receiver.Config{
		Store:   in.store,
		Windows: in.windows,
		Logger:  in.log,
		Now:     in.cfg.Now,
		OnDelivery: func(r inspector.RecordResult) {
			in.printer.delivery(r)
			in.ui.observe(r)
			if g := in.fwd.Load(); g != nil {
				g.Wake()
			}
			if in.cfg.OnDelivery != nil {
				in.cfg.OnDelivery(r)
			}
		},
		OnHandshake: in.printer.handshake,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", in.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", in.cfg.Listen, err)
	}
	in.ln = ln
	public, err := in.publicHandler(rcv, ln.Addr())
	if err != nil {
		_ = ln.Close()
		return err
	}
	in.srv = receiver.NewServer(ln.Addr().String(), public, receiver.ServerOptions{Logger: in.log})
	in.served = make(chan struct{})
	go func() {
		defer close(in.served)
		if err := in.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			in.log.Error("receiver server stopped", "err", err)
		}
	}()
	in.publicURL = in.cfg.PublicURL
	if in.publicURL == "" {
		in.publicURL = "http://" + ln.Addr().String()
	}
	in.printer.info("listening on %s", ln.Addr())

	if !in.cfg.SkipPreflight {
		if err := Preflight(ctx, &http.Client{}, in.publicURL); err != nil {
			return fmt.Errorf("the public URL %s does not reach this inspector: %w", in.publicURL, err)
		}
		in.printer.info("public URL %s reaches this inspector", in.publicURL)
	}

	specs, err := in.specs(ctx)
	if err != nil {
		return err
	}
	runID := inspector.NewHookID()
	m, err := inspector.NewManager(inspector.ManagerConfig{
		Store:          in.store,
		API:            in.cfg.Client,
		Windows:        in.windows,
		Logger:         in.log,
		Notify:         in.printer.notice,
		RunID:          runID,
		PublicURL:      in.publicURL,
		Keep:           in.cfg.Keep,
		Replica:        in.cfg.Replica,
		HealthInterval: in.cfg.HealthInterval,
		Now:            in.cfg.Now,
	})
	if err != nil {
		return err
	}
	in.manager = m
	in.ui.setManager(m)
	if in.cfg.Replica {
		if _, ok := in.store.(inspector.SharedWindows); !ok {
			return errors.New("--replica needs a PostgreSQL --db: the replicas share one database")
		}
		leading, err := in.tryLead(ctx)
		if err != nil {
			return err
		}
		if !leading {
			if err := m.Join(ctx); err != nil {
				return err
			}
			in.printer.info("replica: another inspector on %s manages the webhooks; this one receives deliveries, and takes over if that one stops", in.publicURL)
			in.follow(ctx, specs)
			if in.cfg.OnReady != nil {
				in.cfg.OnReady(in)
			}
			return nil
		}
		in.printer.info("replica: this inspector manages the webhooks on %s for the replicas", in.publicURL)
	}
	if err := in.lead(ctx, specs); err != nil {
		return err
	}
	if in.cfg.OnReady != nil {
		in.cfg.OnReady(in)
	}
	return nil
}

// lead creates or reuses this run's webhooks and starts the health monitor;
// a replica starts forwarding here too.
func (in *Inspector) lead(ctx context.Context, specs []inspector.HookSpec) error {
	if in.cfg.Replica && in.cfg.ForwardTo != "" {
		if err := in.startGateway(ctx); err != nil {
			return err
		}
	}
	m := in.manager
	hooks, err := m.Start(ctx, specs)
	if err != nil {
		var ce *inspector.CreateError
		if errors.As(err, &ce) {
			// The manager's warning has said why; say it once.
			return &toldError{text: fmt.Sprintf("no webhook was created on %s (the warning above says why)", ce.Hook.Resource.GID), err: err}
		}
		return err
	}
	for _, h := range hooks {
		in.printer.info("watching %s %s with webhook %s (hook %s) -> %s",
			orDash(h.Resource.ResourceType), h.Resource.GID, h.WebhookGID, short(h.ID), h.Target)
	}
	if in.cfg.Keep {
		in.printer.info("on exit (Ctrl+C) the webhooks stay in Asana (--keep); a later run on %s reuses them", in.publicURL)
	} else {
		in.printer.info("on exit (Ctrl+C) the webhooks above are deleted from Asana; pass --keep to leave them")
	}
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	in.mu.Lock()
	in.monitorCancel, in.monitorDone = cancel, done
	in.mu.Unlock()
	go func() {
		defer close(done)
		m.Monitor(mctx)
	}()
	return nil
}

// specs resolves the workspace (and, for projects, the name) of every
// resource.
func (in *Inspector) specs(ctx context.Context) ([]inspector.HookSpec, error) {
	var specs []inspector.HookSpec
	for _, gid := range in.cfg.Resources {
		spec := inspector.HookSpec{Resource: asana.Compact{GID: gid}, Workspace: in.cfg.Workspace, Filters: in.cfg.Filters}
		p, err := in.cfg.Client.Project(ctx, gid)
		switch {
		case err == nil:
			spec.Resource = asana.Compact{GID: gid, ResourceType: "project", Name: p.Name}
			if spec.Workspace == "" && p.Workspace != nil {
				spec.Workspace = p.Workspace.GID
			}
		case spec.Workspace == "":
			return nil, fmt.Errorf("find the workspace of resource %s (pass --workspace if it is not a project): %w", gid, err)
		}
		if spec.Workspace == "" {
			return nil, fmt.Errorf("resource %s has no workspace; pass --workspace", gid)
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// Preflight checks that publicURL reaches this process's receiver: it GETs
// the pre-flight route with a random nonce and expects it echoed.
func Preflight(ctx context.Context, client *http.Client, publicURL string) error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(ctx, DefaultPreflightTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(publicURL, "/")+receiver.PreflightPath(nonce), nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1024))
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("got %s", res.Status)
	}
	if strings.TrimSpace(string(body)) != nonce {
		return errors.New("another server answered (the nonce was not echoed)")
	}
	return nil
}

// Addr returns the receiver's listen address; empty before Start.
func (in *Inspector) Addr() string {
	if in.ln == nil {
		return ""
	}
	return in.ln.Addr().String()
}

// PublicURL returns the public base URL of the targets; empty before Start.
func (in *Inspector) PublicURL() string { return in.publicURL }

// Store returns the store; nil before Start.
func (in *Inspector) Store() inspector.Store { return in.store }

// Manager returns the webhook manager; nil until Start has reconciled.
func (in *Inspector) Manager() *inspector.Manager { return in.manager }

// Close ends the run: it stops the health monitor, deletes this run's
// webhooks (unless Keep) and says which, stops the server and closes the
// store it opened. It is safe to call more than once.
func (in *Inspector) Close() error {
	in.closeOnce.Do(func() {
		in.ui.close()
		var errs []error
		if in.gwCancel != nil {
			in.gwCancel()
			<-in.gwDone
		}
		in.mu.Lock()
		leadUnlock := in.leadUnlock
		in.mu.Unlock()
		if leadUnlock != nil {
			if err := leadUnlock(); err != nil {
				errs = append(errs, fmt.Errorf("release the replicas' lock: %w", err))
			}
		}
		if in.gwUnlock != nil {
			if err := in.gwUnlock(); err != nil {
				errs = append(errs, fmt.Errorf("release the gateway's lock: %w", err))
			}
		}
		if in.followCancel != nil {
			in.followCancel()
			<-in.followDone
		}
		in.mu.Lock()
		monitorCancel, monitorDone := in.monitorCancel, in.monitorDone
		in.mu.Unlock()
		if monitorCancel != nil {
			monitorCancel()
			<-monitorDone
		}
		if in.manager != nil {
			if in.cfg.Keep {
				in.printer.info("leaving the webhooks in Asana (--keep)")
			} else {
				in.printer.info("deleting this run's webhooks...")
			}
			deleted, err := in.manager.Cleanup(context.Background())
			if _, left := err.(*inspector.LeftError); left {
				errs = append(errs, err) // it says which webhooks are left and how to remove them
			} else if err != nil {
				errs = append(errs, fmt.Errorf("clean up webhooks: %w", err))
			}
			if !in.cfg.Keep && err == nil {
				in.printer.info("deleted %d webhook(s)", len(deleted))
			}
		}
		if in.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownTimeout)
			if err := in.srv.Shutdown(ctx); err != nil {
				_ = in.srv.Close()
			}
			cancel()
			<-in.served
		}
		if in.printer != nil {
			in.printer.close()
		}
		if in.ownsStore && in.store != nil {
			if err := in.store.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		in.closeErr = errors.Join(errs...)
	})
	return in.closeErr
}

// toldError is an error the user has already read in a warning: its text
// only refers to it, while errors.As still finds the cause.
type toldError struct {
	text string
	err  error
}

func (e *toldError) Error() string { return e.text }
func (e *toldError) Unwrap() error { return e.err }

// short is the first 8 characters of a hook id, enough to tell hooks apart
// on a terminal.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
