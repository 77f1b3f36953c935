// Package webui is the inspector's local web UI: the webhooks of the
// workspace with their health, a form that creates a webhook while showing
// the handshake's progress, deletion after a confirmation, and a live feed of
// deliveries (server-sent events) with a detail view of each.
//
// It is served on its own loopback listener, never on the public port: every
// request must carry a loopback Host (DNS rebinding), every state change is a
// POST behind http.CrossOriginProtection, and no GET changes anything. Pages
// are html/template, and the assets are embedded, so the UI works offline.
//
// The package imports no adapter. It reads through Reader (which
// inspector.Store satisfies), acts through Actions and hears of new
// deliveries through Feed; the wiring supplies all three.
package webui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// Reader is the read side of the inspector's store; inspector.Store
// satisfies it.
type Reader interface {
	// GetHook returns one of our hooks by path id, or inspector.ErrNotFound.
	GetHook(ctx context.Context, hookID string) (inspector.Hook, error)
	// ListHooks returns our hooks that match, oldest first.
	ListHooks(ctx context.Context, f inspector.HookFilter) ([]inspector.Hook, error)
	// ListDeliveries returns deliveries, newest first.
	ListDeliveries(ctx context.Context, f inspector.DeliveryFilter) ([]inspector.Delivery, error)
	// GetDelivery returns a delivery with its events.
	GetDelivery(ctx context.Context, id int64) (inspector.DeliveryDetail, error)
	// Stats counts what the store holds.
	Stats(ctx context.Context, hookID string) (inspector.Stats, error)
}

// CreateRequest asks for a webhook on a resource.
type CreateRequest struct {
	// ResourceGID is the watched resource.
	ResourceGID string
	// ResourceType is the kind of resource as the user said it ("project",
	// "workspace", "team", "portfolio"), or "" when unknown.
	ResourceType string
	// Filters are the webhook's filters, already checked by ValidateFilters.
	Filters []asana.Filter
}

// CreateResult is a webhook created by Actions.Create.
type CreateResult struct {
	// HookID is our path id of the webhook.
	HookID string
	// WebhookGID is Asana's gid of the webhook.
	WebhookGID string
	// Resource is the watched resource.
	Resource asana.Compact
	// Target is the webhook's target URL.
	Target string
}

// Actions read and change webhooks in Asana for the user. Implementations
// must never put a secret or a token in a returned error.
type Actions interface {
	// Webhooks lists every webhook of the workspace for the token, ours and
	// others'.
	Webhooks(ctx context.Context) ([]asana.Webhook, error)
	// Projects lists the workspace's projects, for the picker.
	Projects(ctx context.Context) ([]asana.Project, error)
	// Create creates a webhook and runs its handshake, reporting each step
	// through progress (which must not be called after Create returns).
	Create(ctx context.Context, req CreateRequest, progress func(step string)) (CreateResult, error)
	// Delete deletes one of our webhooks, by path id.
	Delete(ctx context.Context, hookID string) error
	// DeleteAll deletes every webhook of ours that is still in Asana and
	// returns how many it deleted.
	DeleteAll(ctx context.Context) (int, error)
}

// Forwarder is the gateway, when the inspector forwards every delivery to
// the user's app (inspect --forward-to).
type Forwarder interface {
	// ForwardURL is the app's URL.
	ForwardURL() string
	// Replay sends a stored delivery to the app again and returns the app's
	// status, 0 when it did not answer (err says why).
	Replay(ctx context.Context, deliveryID int64) (int, error)
}

// Feed tells of new deliveries. Broadcaster implements it.
type Feed interface {
	// Subscribe returns a channel that receives a Notification for each new
	// delivery (some may be dropped when the reader is slow: a
	// notification means "look in the store", not "this is all"), and a
	// function that ends the subscription.
	Subscribe() (<-chan Notification, func())
}

// Defaults of Config.
const (
	// DefaultRefreshInterval is how often the Webhooks page refreshes.
	DefaultRefreshInterval = 10 * time.Second
	// DefaultHeartbeatWarning is how long without a heartbeat makes a
	// webhook of ours "warning": Asana sends one every 8 hours.
	DefaultHeartbeatWarning = 8*time.Hour + 30*time.Minute
	// DefaultActionTimeout bounds a create, a delete or a listing.
	DefaultActionTimeout = 2 * time.Minute
	// DefaultKeepAlive is the interval of the feed's keep-alive comments.
	DefaultKeepAlive = 15 * time.Second
	// DefaultPollInterval is how often the feed also reads the store, for
	// the deliveries that other processes sharing it stored (replicas on
	// one PostgreSQL database, another inspector on the same SQLite file):
	// this process's own arrive at once.
	DefaultPollInterval = 2 * time.Second
	// DefaultStreamWriteTimeout bounds each write of the feed: a client
	// that reads nothing for that long loses its stream (its browser
	// reconnects and catches up from the store).
	DefaultStreamWriteTimeout = 30 * time.Second
)

// Config configures a UI. Reader, Actions and Feed are required.
type Config struct {
	Reader  Reader
	Actions Actions
	Feed    Feed
	// Forwarder, if set, adds to each delivery's page a button that sends
	// it to the user's app again.
	Forwarder Forwarder
	// Logger receives failures of the UI; nil discards.
	Logger *slog.Logger
	// AllowedHosts are Host values accepted besides the loopback ones
	// (host or host:port, compared without regard to case); set only when
	// the user asked to serve the UI on another address.
	AllowedHosts []string
	// RefreshInterval, HeartbeatWarning, ActionTimeout and KeepAlive default
	// to the constants above.
	RefreshInterval  time.Duration
	HeartbeatWarning time.Duration
	ActionTimeout    time.Duration
	KeepAlive        time.Duration
	// StreamWriteTimeout and PollInterval default to the constants above.
	StreamWriteTimeout time.Duration
	PollInterval       time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// UI is the web UI. Its Handler serves every page; build it with New.
type UI struct {
	cfg     Config
	log     *slog.Logger
	tmpl    *templates
	handler http.Handler

	jobsMu     sync.Mutex
	jobs       map[string]*createJob
	order      []string // job ids, oldest first, to bound the map
	jobsClosed bool     // set by Close: no new creates
	running    sync.WaitGroup

	// closing is closed by CloseStreams (and Close): it ends the event
	// streams and cancels the creates still running.
	closing   chan struct{}
	closeOnce sync.Once
}

// New returns a UI.
func New(cfg Config) (*UI, error) {
	if cfg.Reader == nil || cfg.Actions == nil || cfg.Feed == nil {
		return nil, errors.New("new web ui: a reader, actions and a feed are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.HeartbeatWarning <= 0 {
		cfg.HeartbeatWarning = DefaultHeartbeatWarning
	}
	if cfg.ActionTimeout <= 0 {
		cfg.ActionTimeout = DefaultActionTimeout
	}
	if cfg.StreamWriteTimeout <= 0 {
		cfg.StreamWriteTimeout = DefaultStreamWriteTimeout
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, fmt.Errorf("new web ui: %w", err)
	}
	u := &UI{cfg: cfg, log: cfg.Logger, tmpl: t, jobs: make(map[string]*createJob), closing: make(chan struct{})}
	static, err := staticHandler()
	if err != nil {
		return nil, fmt.Errorf("new web ui: %w", err)
	}
	u.handler = u.routes(static)
	return u, nil
}

// Handler returns the UI's handler, with the Host check, cross-origin
// protection and security headers in front of every route.
func (u *UI) Handler() http.Handler { return u.handler }

// CloseStreams ends every open event stream (and refuses new ones), so that
// http.Server.Shutdown does not wait for browsers that never hang up; pass it
// to the server's RegisterOnShutdown. It is safe to call more than once.
func (u *UI) CloseStreams() {
	u.closeOnce.Do(func() { close(u.closing) })
}

// Close ends the event streams, refuses new creates, cancels the running
// ones and waits for them to settle (a create whose ctx ends still activates
// or deletes what Asana made), so that the run's cleanup sees every webhook
// the UI created. Call it after the server's Shutdown.
func (u *UI) Close() {
	u.CloseStreams()
	u.jobsMu.Lock()
	u.jobsClosed = true
	u.jobsMu.Unlock()
	u.running.Wait()
}

// routes builds the mux and its middleware.
func (u *UI) routes(static http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", static)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/webhooks", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /webhooks", u.wrap(u.serveWebhooks))
	mux.HandleFunc("GET /webhooks/delete-all", u.wrap(u.serveDeleteAllConfirm))
	mux.HandleFunc("POST /webhooks/delete-all", u.wrap(u.serveDeleteAll))
	mux.HandleFunc("GET /webhooks/{hookID}/delete", u.wrap(u.serveDeleteConfirm))
	mux.HandleFunc("POST /webhooks/{hookID}/delete", u.wrap(u.serveDelete))
	mux.HandleFunc("GET /create", u.wrap(u.serveCreateForm))
	mux.HandleFunc("POST /create", u.wrap(u.serveCreate))
	mux.HandleFunc("GET /create/jobs/{jobID}", u.wrap(u.serveCreateJob))
	mux.HandleFunc("GET /events", u.wrap(u.serveEvents))
	mux.HandleFunc("GET /events/stream", u.serveStream)
	mux.HandleFunc("GET /deliveries/{id}", u.wrap(u.serveDelivery))
	mux.HandleFunc("POST /deliveries/{id}/replay", u.wrap(u.serveReplay))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u.renderError(w, r, &httpError{status: http.StatusNotFound, msg: "There is no page here."})
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path)
		http.Error(w, "403 forbidden: cross-origin request refused", http.StatusForbidden)
	}))
	var h http.Handler = mux
	h = cop.Handler(h)
	h = securityHeaders(h)
	h = HostCheck(h, u.cfg.AllowedHosts...)
	return h
}

// httpError is a failure with the status and the message for the user; err,
// if set, is logged only.
type httpError struct {
	status int
	msg    string
	err    error
}

func (e *httpError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%d %s: %v", e.status, e.msg, e.err)
	}
	return fmt.Sprintf("%d %s", e.status, e.msg)
}

// handlerFunc is a route that returns its failure instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// wrap turns a handlerFunc into an http.HandlerFunc; renderError is the one
// place that turns an error into a response.
func (u *UI) wrap(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			u.renderError(w, r, err)
		}
	}
}

// renderError writes err as an error page. Errors that are not an
// *httpError are logged and shown as a generic 500.
func (u *UI) renderError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{status: http.StatusInternalServerError, msg: "Something went wrong; the log says more.", err: err}
	}
	if he.status >= 500 || he.err != nil {
		u.log.Error("web ui request failed", "method", r.Method, "path", r.URL.Path, "status", he.status, "err", he.err)
	}
	u.render(w, r, he.status, "error", errorPage{page: page{Title: http.StatusText(he.status)}, Status: he.status, Message: he.msg})
}

// NewHTTPServer returns an http.Server for the UI on addr with its timeouts
// set. The event stream lifts the write deadline for itself.
func NewHTTPServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      DefaultActionTimeout + 10*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
