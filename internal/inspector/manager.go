package inspector

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// WebhookAPI is the part of the Asana API the Manager calls; *asana.Client
// implements it.
type WebhookAPI interface {
	CreateWebhook(ctx context.Context, req asana.CreateWebhookRequest) (*asana.CreatedWebhook, error)
	ListWebhooks(ctx context.Context, workspace, resource string) ([]asana.Webhook, error)
	GetWebhook(ctx context.Context, gid string) (*asana.Webhook, error)
	DeleteWebhook(ctx context.Context, gid string) error
}

var _ WebhookAPI = (*asana.Client)(nil)

// HookPathPrefix is the path under which the receiver serves hooks: a target
// is <public URL>/hooks/<hook id>?project=<resource gid>.
const HookPathPrefix = "/hooks/"

// Defaults of ManagerConfig.
const (
	// DefaultHealthInterval is how often the health monitor reads each
	// webhook from Asana.
	DefaultHealthInterval = time.Minute
	// HeartbeatInterval is how often Asana sends a webhook a heartbeat.
	HeartbeatInterval = 8 * time.Hour
	// DefaultHeartbeatGrace is how long without a heartbeat before the
	// monitor warns: the interval and some minutes, so that a heartbeat a
	// little late raises no alarm.
	DefaultHeartbeatGrace = HeartbeatInterval + 10*time.Minute
	// DefaultCleanupTimeout bounds the deletions at the end of a run.
	DefaultCleanupTimeout = 30 * time.Second
)

// TargetURL builds the target of a hook: the public base URL (without a
// trailing slash), the hook's path and the original inspector's ?project=
// query, which Asana repeats on every delivery.
func TargetURL(publicURL, hookID, resourceGID string) string {
	return strings.TrimRight(publicURL, "/") + HookPathPrefix + hookID + "?project=" + url.QueryEscape(resourceGID)
}

// HookSpec is a webhook a run asks for.
type HookSpec struct {
	// Resource is the watched resource; GID is required.
	Resource asana.Compact
	// Workspace is the workspace of the resource; required to list webhooks.
	Workspace string
	// Filters are the webhook's filters; none means every event.
	Filters []asana.Filter
}

// NoticeLevel says how a Notice should be shown. A failure the Manager
// reports in a Notice is logged at Debug only, so the user reads it once.
type NoticeLevel string

// The levels of a Notice.
const (
	NoticeInfo NoticeLevel = "info"
	NoticeWarn NoticeLevel = "warn"
)

// Notice is something the user must be told about the run's webhooks (a
// webhook created, reused, deleted, in trouble). It never holds a secret.
type Notice struct {
	Level      NoticeLevel `json:"level"`
	HookID     string      `json:"hook_id,omitempty"`
	WebhookGID string      `json:"webhook_gid,omitempty"`
	Text       string      `json:"text"`
}

// ManagerConfig configures a Manager. Store, API, Windows, RunID and
// PublicURL are required.
type ManagerConfig struct {
	Store   Store
	API     WebhookAPI
	Windows *HandshakeWindows
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Notify receives what the user must be told; nil drops it.
	Notify func(Notice)
	// RunID identifies this run; PublicURL is the base of its targets.
	RunID     string
	PublicURL string
	// Keep leaves this run's webhooks in Asana at the end of the run, for a
	// later run on the same public URL to reuse.
	Keep bool
	// Replica says this run is one of several inspectors serving PublicURL
	// on one store, of which one at a time manages the webhooks: a start
	// reuses the webhooks a dead run left on PublicURL (kept or not), and
	// the end leaves them in Asana while another run on PublicURL is alive,
	// for it to take over.
	Replica bool
	// HealthInterval and HeartbeatGrace default to the constants above.
	HealthInterval time.Duration
	HeartbeatGrace time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Manager owns a run's webhooks: it reconciles the store with Asana at the
// start, creates webhooks while the receiver serves their handshake, watches
// their health and deletes exactly its own at the end. It is safe for
// concurrent use.
type Manager struct {
	cfg ManagerConfig
	log *slog.Logger

	mu     sync.Mutex
	health map[string]*healthState // by hook id
	// busy holds the hooks this manager is deleting (or, for the monitor,
	// replacing): the monitor leaves them alone, and a second delete waits
	// its turn by failing with ErrBusy.
	busy map[string]bool
	// rejected holds hooks whose untrusted webhook Asana refused to delete;
	// Cleanup tries again.
	rejected map[string]Hook
	// unlock releases the run's lock (a RunLocker store), taken by Start.
	unlock func() error
	// joined is set once Join has recorded the run.
	joined bool
}

// ErrBusy: the hook is being deleted or re-created by this manager already.
var ErrBusy = errors.New("the webhook is already being deleted or re-created")

// healthState is what the monitor remembers of a webhook between checks, so
// it warns once per change rather than every interval.
type healthState struct {
	lastCheck     time.Time
	since         time.Time // when this run started watching it
	retries       int
	deletionAt    time.Time
	heartbeatLate bool
}

// NewManager checks cfg and returns a Manager.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	switch {
	case cfg.Store == nil || cfg.API == nil || cfg.Windows == nil:
		return nil, errors.New("new manager: store, API and windows are required")
	case cfg.RunID == "":
		return nil, errors.New("new manager: run id is required")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("new manager: public URL %q: want an absolute http or https URL without query", cfg.PublicURL)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Notify == nil {
		cfg.Notify = func(Notice) {}
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	if cfg.HeartbeatGrace <= 0 {
		cfg.HeartbeatGrace = DefaultHeartbeatGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Manager{cfg: cfg, log: cfg.Logger.With("run", cfg.RunID), health: map[string]*healthState{}, busy: map[string]bool{}, rejected: map[string]Hook{}}, nil
}

// RunID returns the id of the manager's run.
func (m *Manager) RunID() string { return m.cfg.RunID }

// PublicURL returns the public base URL of the run's targets.
func (m *Manager) PublicURL() string { return m.cfg.PublicURL }

// Keep reports whether the run leaves its webhooks in place at the end.
func (m *Manager) Keep() bool { return m.cfg.Keep }

func (m *Manager) notify(level NoticeLevel, h Hook, format string, args ...any) {
	m.cfg.Notify(Notice{Level: level, HookID: h.ID, WebhookGID: h.WebhookGID, Text: fmt.Sprintf(format, args...)})
}

// Start records the run, reconciles the store with Asana (see Reconcile) and
// makes sure every spec has a webhook: a reused one on the same resource with
// the same filters, or a new one. It returns the run's active hooks. On an
// error the caller should still call Cleanup.
func (m *Manager) Start(ctx context.Context, specs []HookSpec) ([]Hook, error) {
	if err := m.Join(ctx); err != nil {
		return nil, err
	}
	reused, err := m.Reconcile(ctx)
	if err != nil {
		return nil, err
	}
	for _, spec := range specs {
		i := slices.IndexFunc(reused, func(h Hook) bool {
			return h.Resource.GID == spec.Resource.GID && SameFilters(h.Filters, spec.Filters)
		})
		if i >= 0 {
			reused = slices.Delete(reused, i, i+1)
			continue
		}
		if _, err := m.Create(ctx, spec); err != nil {
			return nil, err
		}
	}
	return m.Hooks(ctx)
}

// Hooks returns the run's active hooks (created or reused by it).
func (m *Manager) Hooks(ctx context.Context) ([]Hook, error) {
	hooks, err := m.cfg.Store.ListHooks(ctx, HookFilter{RunID: m.cfg.RunID, States: []HookState{HookActive}})
	if err != nil {
		return nil, fmt.Errorf("list the run's hooks: %w", err)
	}
	return hooks, nil
}

// SameFilters reports whether two filter lists ask for the same events,
// ignoring order.
func SameFilters(a, b []asana.Filter) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(f asana.Filter) string {
		fields := slices.Clone(f.Fields)
		slices.Sort(fields)
		return f.ResourceType + "\x00" + f.ResourceSubtype + "\x00" + f.Action + "\x00" + strings.Join(fields, ",")
	}
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		ka[i], kb[i] = key(a[i]), key(b[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// CreateError is a create that did not give a usable webhook. The webhook
// was not created, or was deleted again; Hook says which hook failed.
type CreateError struct {
	Hook Hook
	Err  error
}

// Error implements error.
func (e *CreateError) Error() string {
	return fmt.Sprintf("create webhook on %s: %v", e.Hook.Resource.GID, e.Err)
}

// Unwrap returns the cause.
func (e *CreateError) Unwrap() error { return e.Err }

// Create makes a webhook for spec: a pending hook with a fresh path is stored,
// its handshake window opened, and POST /webhooks sent while the receiver
// serves the handshake; the window closes when the response or the timeout
// arrives. The 201's secret must equal the one the handshake stored (compared
// in constant time), otherwise the webhook is deleted. After an uncertain
// outcome, a webhook with our target is trusted only if a handshake secret was
// stored for its path.
func (m *Manager) Create(ctx context.Context, spec HookSpec) (Hook, error) {
	if spec.Resource.GID == "" {
		return Hook{}, errors.New("create webhook: resource is required")
	}
	id := NewHookID()
	h := Hook{
		ID:           id,
		Resource:     spec.Resource,
		WorkspaceGID: spec.Workspace,
		Target:       TargetURL(m.cfg.PublicURL, id, spec.Resource.GID),
		Filters:      spec.Filters,
		RunID:        m.cfg.RunID,
		Keep:         m.cfg.Keep,
	}
	if err := m.cfg.Store.CreateHook(ctx, h); err != nil {
		return Hook{}, fmt.Errorf("create webhook on %s: %w", spec.Resource.GID, err)
	}
	log := m.log.With("hook", id, "resource", spec.Resource.GID)
	log.Info("creating webhook", "target", h.Target)

	// The handshake window is open while the create request is in flight:
	// from before the call to its end, and, with a client that reports its
	// attempts (asana.CallTrace), not while it waits to retry after a 429.
	// With a store shared by replicas, the window is opened there too, for
	// the handshake may reach another replica.
	win := &createWindow{windows: m.cfg.Windows, hookID: id, log: log, ctx: ctx}
	win.shared, _ = m.cfg.Store.(SharedWindows)
	if err := win.open(); err != nil {
		// Nothing was asked of Asana: the hook fails here.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultCleanupTimeout)
		defer cancel()
		m.fail(fctx, log, h, fmt.Sprintf("the handshake window could not be opened: %v", err))
		return Hook{}, &CreateError{Hook: h, Err: err}
	}
	trace := &asana.CallTrace{AttemptStart: func() { _ = win.open() }, AttemptDone: func(error) { win.close() }}
	created, err := m.cfg.API.CreateWebhook(asana.WithCallTrace(ctx, trace), asana.CreateWebhookRequest{
		Resource: spec.Resource.GID, Target: h.Target, Filters: spec.Filters, Workspace: spec.Workspace,
	})
	win.close()

	// The outcome is settled even if ctx ended meanwhile: a webhook that
	// exists must be activated or deleted.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultCleanupTimeout)
	defer cancel()

	var ue *asana.CreateUncertainError
	switch {
	case err == nil:
		return m.confirm(sctx, log, h, created)
	case errors.As(err, &ue):
		return m.settleUncertain(sctx, log, h, ue)
	default:
		m.fail(sctx, log, h, fmt.Sprintf("create failed: %v", err))
		return Hook{}, &CreateError{Hook: h, Err: err}
	}
}

// confirm checks the 201 against the handshake and activates the hook. The
// check fails closed: a 201 without a top-level X-Hook-Secret is treated like
// a mismatch, since the handshake's secret is then confirmed by nothing.
func (m *Manager) confirm(ctx context.Context, log *slog.Logger, h Hook, created *asana.CreatedWebhook) (Hook, error) {
	gid := created.Webhook.GID
	h.WebhookGID = gid
	log = log.With("webhook", gid)
	stored, err := m.cfg.Store.Secret(ctx, h.ID)
	var problem string
	switch {
	case errors.Is(err, ErrNoSecret):
		problem = "Asana answered 201 but no handshake reached this inspector"
	case err != nil:
		problem = fmt.Sprintf("cannot read the handshake secret: %v", err)
	case created.Secret.IsZero():
		problem = "Asana's 201 carried no X-Hook-Secret to confirm the handshake's"
	case subtle.ConstantTimeCompare([]byte(created.Secret.Reveal()), []byte(stored.Reveal())) != 1:
		problem = "the secret in Asana's 201 differs from the handshake's"
	}
	if problem == "" && created.Webhook.Target != "" && created.Webhook.Target != h.Target {
		problem = "Asana's webhook has another target"
	}
	if problem != "" {
		return Hook{}, m.reject(ctx, log, h, problem)
	}
	return m.activate(ctx, log, h)
}

// reject deletes a created webhook we do not trust, forgets its secret, marks
// the hook failed and tells the user. If Asana refuses the delete, the hook
// stays pending without a secret (deliveries get 401, a handshake 403) and
// the deletion is tried again by Cleanup and by the next start's Reconcile,
// which deletes a pending hook's webhook found without a secret.
func (m *Manager) reject(ctx context.Context, log *slog.Logger, h Hook, problem string) error {
	log.Debug("rejecting created webhook", "reason", problem)
	derr := m.cfg.API.DeleteWebhook(ctx, h.WebhookGID)
	if derr == nil || asana.IsStatus(derr, http.StatusNotFound) {
		problem += "; webhook deleted"
		m.fail(ctx, log, h, problem)
		return &CreateError{Hook: h, Err: errors.New(problem)}
	}
	log.Debug("delete rejected webhook", "err", derr)
	problem += fmt.Sprintf("; deleting it in Asana failed (tried again at the end of this run and at the next start): %v", derr)
	if err := m.cfg.Store.DiscardSecret(ctx, h.ID); err != nil && !errors.Is(err, ErrNoSecret) {
		log.Error("discard secret", "err", err)
	}
	m.mu.Lock()
	m.rejected[h.ID] = h
	m.mu.Unlock()
	m.notify(NoticeWarn, h, "webhook %s on %s not created: %s", h.WebhookGID, h.Resource.GID, problem)
	return &CreateError{Hook: h, Err: errors.New(problem)}
}

// deleteRejected tries again to delete the webhooks reject could not. It
// returns those Asana still refuses to delete.
func (m *Manager) deleteRejected(ctx context.Context) []LeftWebhook {
	m.mu.Lock()
	hooks := make([]Hook, 0, len(m.rejected))
	for _, h := range m.rejected {
		hooks = append(hooks, h)
	}
	m.mu.Unlock()
	var left []LeftWebhook
	for _, h := range hooks {
		log := m.log.With("hook", h.ID, "webhook", h.WebhookGID)
		if err := m.cfg.API.DeleteWebhook(ctx, h.WebhookGID); err != nil && !asana.IsStatus(err, http.StatusNotFound) {
			// The caller (Cleanup) reports it once, in its LeftError.
			log.Debug("delete rejected webhook", "err", err)
			left = append(left, LeftWebhook{Hook: h, Untrusted: true, Err: err})
			continue
		}
		m.mu.Lock()
		delete(m.rejected, h.ID)
		m.mu.Unlock()
		if err := m.cfg.Store.MarkHookFailed(ctx, h.ID, "rejected, and deleted in Asana at the end of run "+m.cfg.RunID); err != nil {
			log.Error("mark hook failed", "err", err)
		}
		m.notify(NoticeInfo, h, "deleted untrusted webhook %s on %s", h.WebhookGID, h.Resource.GID)
	}
	return left
}

// activate records a trusted webhook (h.WebhookGID) as active and watches it.
func (m *Manager) activate(ctx context.Context, log *slog.Logger, h Hook) (Hook, error) {
	gid := h.WebhookGID
	if err := m.cfg.Store.ActivateHook(ctx, h.ID, gid); err != nil {
		// Without an active record we cannot own it: delete it.
		return Hook{}, m.reject(ctx, log, h, fmt.Sprintf("cannot record the webhook as active: %v", err))
	}
	log.Info("webhook created")
	active, err := m.cfg.Store.GetHook(ctx, h.ID)
	if err != nil {
		return Hook{}, fmt.Errorf("read hook %s: %w", h.ID, err)
	}
	m.watch(active)
	m.notify(NoticeInfo, active, "created webhook %s on %s %s -> %s", gid, orDash(h.Resource.ResourceType), h.Resource.GID, h.Target)
	return active, nil
}

// settleUncertain decides about a create whose outcome is unknown.
func (m *Manager) settleUncertain(ctx context.Context, log *slog.Logger, h Hook, ue *asana.CreateUncertainError) (Hook, error) {
	if ue.LookupErr != nil && h.WorkspaceGID != "" {
		// The client could not look (often because ctx ended: Ctrl+C during
		// the create); look again on the settling context.
		if list, err := m.cfg.API.ListWebhooks(ctx, h.WorkspaceGID, h.Resource.GID); err == nil {
			ue = &asana.CreateUncertainError{Err: ue.Err}
			if i := slices.IndexFunc(list, func(w asana.Webhook) bool { return w.Target == h.Target }); i >= 0 {
				ue.Existing = &list[i]
			}
		}
	}
	if ue.Existing == nil || ue.Existing.Target != h.Target {
		if ue.LookupErr != nil {
			// A webhook may exist; the hook stays pending so that the next
			// start adopts or discards it by listing.
			m.notify(NoticeWarn, h, "creating the webhook on %s timed out and checking for it failed; the next start will settle it", h.Resource.GID)
			return Hook{}, &CreateError{Hook: h, Err: ue}
		}
		m.fail(ctx, log, h, fmt.Sprintf("create outcome unknown and no webhook with our target exists: %v", ue.Err))
		return Hook{}, &CreateError{Hook: h, Err: ue}
	}
	gid := ue.Existing.GID
	h.WebhookGID = gid
	log = log.With("webhook", gid)
	if _, err := m.cfg.Store.Secret(ctx, h.ID); err != nil {
		return Hook{}, m.reject(ctx, log, h, "after an uncertain create Asana lists a webhook with our target, but no handshake secret was stored for it")
	}
	// No 201 to compare with: the handshake on our unguessable path, inside
	// our window, is what makes the webhook ours.
	return m.activate(ctx, log, h)
}

// fail forgets a hook's secret and marks it failed, telling the user.
func (m *Manager) fail(ctx context.Context, log *slog.Logger, h Hook, note string) {
	if err := m.cfg.Store.DiscardSecret(ctx, h.ID); err != nil && !errors.Is(err, ErrNoSecret) {
		log.Error("discard secret", "err", err)
	}
	if err := m.cfg.Store.MarkHookFailed(ctx, h.ID, note); err != nil {
		log.Error("mark hook failed", "err", err)
	}
	log.Debug("webhook not created", "reason", note)
	m.notify(NoticeWarn, h, "webhook on %s not created: %s", h.Resource.GID, note)
}

// Join records the run in the store and takes its lock (a RunLocker store),
// once: Start does it, and a replica that does not manage the webhooks yet
// does it alone, so that the others see it alive.
func (m *Manager) Join(ctx context.Context) error {
	m.mu.Lock()
	joined := m.joined
	m.mu.Unlock()
	if joined {
		return nil
	}
	if l, ok := m.cfg.Store.(RunLocker); ok {
		unlock, err := l.LockRun(ctx, m.cfg.RunID)
		if err != nil {
			return fmt.Errorf("start run: %w", err)
		}
		m.mu.Lock()
		m.unlock = unlock
		m.mu.Unlock()
	}
	if err := m.cfg.Store.CreateRun(ctx, Run{ID: m.cfg.RunID, StartedAt: m.cfg.Now(), PublicURL: m.cfg.PublicURL}); err != nil {
		return fmt.Errorf("start run: %w", err)
	}
	m.mu.Lock()
	m.joined = true
	m.mu.Unlock()
	return nil
}

// otherReplicasAlive reports whether another run on this public URL is
// alive (with a RunLocker store); when unsure it says yes.
func (m *Manager) otherReplicasAlive(ctx context.Context) bool {
	l, ok := m.cfg.Store.(RunLocker)
	if !ok {
		return false
	}
	runs, err := m.cfg.Store.ListRuns(ctx)
	if err != nil {
		return true
	}
	for _, r := range runs {
		if r.ID == m.cfg.RunID || r.PublicURL != m.cfg.PublicURL || !r.EndedAt.IsZero() {
			continue
		}
		if alive, err := l.RunAlive(ctx, r.ID); alive || err != nil {
			return true
		}
	}
	return false
}

// Reconcile settles the store's pending and active hooks with Asana:
//   - a pending hook with a secret is adopted if Asana lists a webhook with
//     exactly its target (a crash between handshake and 201), otherwise its
//     secret is discarded and it is marked failed; without a secret, a
//     webhook found with its target is deleted;
//   - an active hook gone from Asana is marked deleted;
//   - an active hook kept (--keep) whose target uses this run's public URL is
//     reused by this run; every other one of ours is deleted in Asana.
//
// Webhooks not in the store are never touched, nor, with a RunLocker store,
// the hooks of a run that is still alive (another inspector on the same
// store). It returns the reused hooks.
func (m *Manager) Reconcile(ctx context.Context) ([]Hook, error) {
	hooks, err := m.cfg.Store.ListHooks(ctx, HookFilter{States: []HookState{HookPending, HookActive}})
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	listed := map[string][]asana.Webhook{} // by workspace
	listErr := map[string]error{}
	alive := map[string]bool{} // by run id
	locker, _ := m.cfg.Store.(RunLocker)
	var reused []Hook
	for _, h := range hooks {
		if h.LastRunID == m.cfg.RunID {
			continue // this run's own (Reconcile called again)
		}
		log := m.log.With("hook", h.ID, "webhook", h.WebhookGID, "resource", h.Resource.GID)
		if locker != nil {
			live, seen := alive[h.LastRunID]
			if !seen {
				var err error
				if live, err = locker.RunAlive(ctx, h.LastRunID); err != nil {
					// Unsure: another inspector may own it; leave it.
					log.Debug("cannot tell whether the hook's run is alive", "run_of_hook", h.LastRunID, "err", err)
					live = true
				}
				alive[h.LastRunID] = live
			}
			if live {
				log.Debug("hook belongs to a run that is still alive (another inspector on this store); leaving it", "run_of_hook", h.LastRunID)
				continue
			}
		}
		if h.WorkspaceGID == "" {
			log.Warn("hook has no workspace; cannot check it in Asana")
			continue
		}
		ws := h.WorkspaceGID
		if _, ok := listed[ws]; !ok && listErr[ws] == nil {
			list, err := m.cfg.API.ListWebhooks(ctx, ws, "")
			if err != nil {
				listErr[ws] = err
				m.cfg.Notify(Notice{Level: NoticeWarn, Text: fmt.Sprintf("cannot list webhooks of workspace %s to reconcile earlier runs: %v", ws, err)})
			} else {
				listed[ws] = list
			}
		}
		if listErr[ws] != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("reconcile: %w", ctx.Err())
			}
			continue
		}
		list := listed[ws]
		if h.State == HookPending {
			adopted, ok := m.settlePending(ctx, log, h, list)
			if !ok {
				continue
			}
			h = adopted
		}
		i := slices.IndexFunc(list, func(w asana.Webhook) bool { return w.GID == h.WebhookGID })
		if i < 0 {
			if err := m.cfg.Store.MarkHookDeleted(ctx, h.ID, "gone from Asana (found at the start of run "+m.cfg.RunID+")"); err != nil {
				return nil, fmt.Errorf("reconcile: %w", err)
			}
			log.Info("webhook gone from Asana")
			m.notify(NoticeInfo, h, "webhook %s of an earlier run no longer exists in Asana", h.WebhookGID)
			continue
		}
		if (h.Keep || m.cfg.Replica) && list[i].Target == h.Target && strings.HasPrefix(h.Target, m.cfg.PublicURL+HookPathPrefix) {
			what := "kept webhook"
			if !h.Keep {
				what = "webhook of a replica that stopped"
			}
			if err := m.cfg.Store.ReuseHook(ctx, h.ID, m.cfg.RunID, m.cfg.Keep); err != nil {
				return nil, fmt.Errorf("reconcile: %w", err)
			}
			h.LastRunID, h.Keep = m.cfg.RunID, m.cfg.Keep
			m.watch(h)
			reused = append(reused, h)
			log.Info("reusing " + what)
			m.notify(NoticeInfo, h, "reusing %s %s on %s %s -> %s", what, h.WebhookGID, orDash(h.Resource.ResourceType), h.Resource.GID, h.Target)
			continue
		}
		why := "left by an earlier run"
		if h.Keep {
			why = "kept by an earlier run on another public URL"
		}
		if err := m.deleteHook(ctx, log, h, "deleted at the start of run "+m.cfg.RunID+": "+why); err != nil {
			m.notify(NoticeWarn, h, "cannot delete webhook %s (%s), the next start tries again: %s", h.WebhookGID, why, deleteCause(h.WebhookGID, err))
			continue
		}
		m.notify(NoticeInfo, h, "deleted webhook %s %s", h.WebhookGID, why)
	}
	return reused, nil
}

// settlePending handles a pending hook of an earlier run. It returns the
// adopted (now active) hook and true, or false when the hook is settled.
func (m *Manager) settlePending(ctx context.Context, log *slog.Logger, h Hook, list []asana.Webhook) (Hook, bool) {
	i := slices.IndexFunc(list, func(w asana.Webhook) bool { return w.Target == h.Target })
	if i >= 0 && h.HasSecret {
		if err := m.cfg.Store.ActivateHook(ctx, h.ID, list[i].GID); err != nil {
			log.Error("adopt pending webhook", "err", err)
			return Hook{}, false
		}
		h.State, h.WebhookGID = HookActive, list[i].GID
		log.Info("adopted a webhook whose create was interrupted", "webhook", h.WebhookGID)
		m.notify(NoticeInfo, h, "adopted webhook %s whose create was interrupted", h.WebhookGID)
		return h, true
	}
	note := "abandoned: its create never completed"
	if i >= 0 {
		// Created in Asana with no handshake secret of ours: untrusted.
		h.WebhookGID = list[i].GID
		if err := m.cfg.API.DeleteWebhook(ctx, list[i].GID); err != nil && !asana.IsStatus(err, http.StatusNotFound) {
			// Stays pending (no secret: deliveries get 401), so the next
			// start tries again.
			log.Debug("delete untrusted webhook", "webhook", list[i].GID, "err", err)
			m.notify(NoticeWarn, h, "cannot delete webhook %s, which Asana lists with our target but no handshake secret was stored for; the next start tries again: %v", h.WebhookGID, err)
			return Hook{}, false
		}
		note = "abandoned: Asana lists it but no handshake secret was stored; deleted"
	} else if h.HasSecret {
		note = "abandoned: its handshake secret was discarded, since Asana does not list the webhook"
	}
	m.fail(ctx, log, h, note)
	return Hook{}, false
}

// claim marks a hook as being deleted by this manager, before Asana is
// asked, so that the health monitor does not take the 404 it may meanwhile
// get for Asana's doing and re-create the webhook. It returns false if the
// hook is claimed already.
func (m *Manager) claim(hookID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy[hookID] {
		return false
	}
	m.busy[hookID] = true
	delete(m.health, hookID)
	return true
}

// release ends a claim.
func (m *Manager) release(hookID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.busy, hookID)
}

// deleteHook claims a hook, deletes its webhook in Asana (a 404 counts as
// done) and marks it deleted.
func (m *Manager) deleteHook(ctx context.Context, log *slog.Logger, h Hook, note string) error {
	if !m.claim(h.ID) {
		return ErrBusy
	}
	defer m.release(h.ID)
	return m.deleteClaimed(ctx, log, h, note)
}

// deleteClaimed is deleteHook for a hook the caller has claimed.
func (m *Manager) deleteClaimed(ctx context.Context, log *slog.Logger, h Hook, note string) error {
	if err := m.cfg.API.DeleteWebhook(ctx, h.WebhookGID); err != nil && !asana.IsStatus(err, http.StatusNotFound) {
		// Every caller tells the user (a Notice, or the web UI's answer).
		log.Debug("delete webhook", "err", err)
		return &asanaDeleteError{err}
	}
	// Gone from Asana: record it even if ctx ended meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultCleanupTimeout)
	defer cancel()
	if err := m.cfg.Store.MarkHookDeleted(sctx, h.ID, note); err != nil {
		return fmt.Errorf("mark hook %s deleted: %w", h.ID, err)
	}
	log.Info("webhook deleted", "note", note)
	return nil
}

// Delete deletes one of our webhooks at the user's request (the web UI):
// the hook is claimed under the manager's lock before Asana is asked, so the
// health monitor does not re-create it, then deleted in Asana (a 404 counts
// as done) and marked deleted. It sends no Notice: the caller tells the user
// how the delete came about. It returns the hook as it was. A hook still
// being created, already gone, owned by another inspector still running on
// the store, or unknown is an error (ErrInvalidState, ErrNotFound); one being
// deleted or re-created already is ErrBusy.
func (m *Manager) Delete(ctx context.Context, hookID string) (Hook, error) {
	if !m.claim(hookID) {
		return Hook{}, fmt.Errorf("delete hook %s: %w", hookID, ErrBusy)
	}
	defer m.release(hookID)
	h, err := m.cfg.Store.GetHook(ctx, hookID)
	if err != nil {
		return Hook{}, fmt.Errorf("delete hook %s: %w", hookID, err)
	}
	switch h.State {
	case HookActive:
		if m.ownedByLiveRun(ctx, h) {
			return Hook{}, fmt.Errorf("delete hook %s: its webhook %s belongs to another inspector that is running on this store (run %s); delete it there: %w", hookID, h.WebhookGID, h.LastRunID, ErrInvalidState)
		}
	case HookPending:
		return Hook{}, fmt.Errorf("delete hook %s: its webhook is still being created (or its create awaits the next start): %w", hookID, ErrInvalidState)
	default:
		return Hook{}, fmt.Errorf("delete hook %s: the webhook is already %s: %w", hookID, h.State, ErrInvalidState)
	}
	log := m.log.With("hook", h.ID, "webhook", h.WebhookGID, "resource", h.Resource.GID)
	if err := m.deleteClaimed(ctx, log, h, "deleted at the user's request (run "+m.cfg.RunID+")"); err != nil {
		var ade *asanaDeleteError
		if errors.As(err, &ade) {
			return Hook{}, err // "delete webhook GID: ..." already
		}
		return Hook{}, fmt.Errorf("delete webhook %s: %w", h.WebhookGID, err)
	}
	return h, nil
}

// ownedByLiveRun reports whether h belongs to another run that is still
// alive (with a RunLocker store): another inspector's, not this one's to
// delete. When unsure it says yes.
func (m *Manager) ownedByLiveRun(ctx context.Context, h Hook) bool {
	if h.LastRunID == m.cfg.RunID {
		return false
	}
	l, ok := m.cfg.Store.(RunLocker)
	if !ok {
		return false
	}
	alive, err := l.RunAlive(ctx, h.LastRunID)
	return alive || err != nil
}

// Cleanup ends the run. Unless the run keeps its webhooks, it deletes in
// Asana exactly the webhooks this run created or reused, and reports each.
// It returns the hooks it deleted (or, with Keep, the hooks it left). The
// webhooks Asana refused to delete are reported once, in a *LeftError (no
// Notice), which says how to remove them. ctx may already be cancelled:
// deletions get their own DefaultCleanupTimeout.
func (m *Manager) Cleanup(ctx context.Context) ([]Hook, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultCleanupTimeout)
	defer cancel()
	defer func() {
		if err := m.cfg.Store.EndRun(ctx, m.cfg.RunID, m.cfg.Now()); err != nil && !errors.Is(err, ErrNotFound) {
			m.log.Error("end run", "err", err)
		}
		m.mu.Lock()
		unlock := m.unlock
		m.unlock = nil
		m.mu.Unlock()
		if unlock != nil {
			if err := unlock(); err != nil {
				m.log.Debug("release the run's lock", "err", err)
			}
		}
	}()
	// Untrusted webhooks go even with --keep.
	left := m.deleteRejected(ctx)
	if m.cfg.Replica && !m.cfg.Keep && !m.otherReplicasAlive(ctx) {
		// The last replica out settles what replicas that stopped left on
		// the public URL: Reconcile makes them this run's, deleted below.
		if _, err := m.Reconcile(ctx); err != nil {
			m.log.Warn("replica: settle the webhooks of replicas that stopped", "err", err)
		}
	}
	hooks, err := m.Hooks(ctx)
	if err != nil {
		return nil, errors.Join(err, leftError(left))
	}
	if m.cfg.Keep {
		for _, h := range hooks {
			m.notify(NoticeInfo, h, "keeping webhook %s on %s (--keep)", h.WebhookGID, h.Resource.GID)
		}
		return hooks, leftError(left)
	}
	if m.cfg.Replica && len(hooks) > 0 && m.otherReplicasAlive(ctx) {
		for _, h := range hooks {
			m.notify(NoticeInfo, h, "leaving webhook %s on %s to the other replicas on %s", h.WebhookGID, h.Resource.GID, m.cfg.PublicURL)
		}
		return hooks, leftError(left)
	}
	var deleted []Hook
	var errs []error
	for _, h := range hooks {
		log := m.log.With("hook", h.ID, "webhook", h.WebhookGID)
		if err := m.deleteHook(ctx, log, h, "deleted at the end of run "+m.cfg.RunID); err != nil {
			var ade *asanaDeleteError
			if errors.As(err, &ade) {
				left = append(left, LeftWebhook{Hook: h, Err: ade.err})
			} else {
				errs = append(errs, fmt.Errorf("end of run: webhook %s: %w", h.WebhookGID, err))
			}
			continue
		}
		deleted = append(deleted, h)
		m.notify(NoticeInfo, h, "deleted webhook %s on %s", h.WebhookGID, h.Resource.GID)
	}
	if len(errs) == 0 {
		return deleted, leftError(left)
	}
	return deleted, errors.Join(append(errs, leftError(left))...)
}

// asanaDeleteError is Asana's refusal (or a failure) to delete a webhook,
// which is then still there; the client's error already names the webhook.
type asanaDeleteError struct{ err error }

func (e *asanaDeleteError) Error() string { return e.err.Error() }
func (e *asanaDeleteError) Unwrap() error { return e.err }

// LeftWebhook is a webhook Cleanup could not delete from Asana.
type LeftWebhook struct {
	Hook Hook
	// Untrusted says the webhook was rejected at its create (its 201 did
	// not confirm the handshake) rather than created or reused by the run.
	Untrusted bool
	Err       error
}

// LeftError lists the webhooks left in Asana at the end of a run against
// the run's wishes, and says how to remove them.
type LeftError struct {
	Left []LeftWebhook
}

// leftError returns a *LeftError for left, or nil when it is empty.
func leftError(left []LeftWebhook) error {
	if len(left) == 0 {
		return nil
	}
	return &LeftError{Left: left}
}

// Error implements error: once per webhook, which one is left, why, and how
// to remove it.
func (e *LeftError) Error() string {
	parts := make([]string, 0, len(e.Left))
	gids := make([]string, 0, len(e.Left))
	for _, l := range e.Left {
		kind := "webhook"
		if l.Untrusted {
			kind = "untrusted webhook"
		}
		parts = append(parts, fmt.Sprintf("%s %s on %s (deleting it failed: %s)", kind, l.Hook.WebhookGID, l.Hook.Resource.GID, deleteCause(l.Hook.WebhookGID, l.Err)))
		gids = append(gids, l.Hook.WebhookGID)
	}
	if len(parts) == 1 {
		return fmt.Sprintf("%s is left in Asana; remove it with `asana-webhooks webhooks delete %s`, or start the inspector again with the same --db, which deletes it",
			parts[0], gids[0])
	}
	return fmt.Sprintf("%d webhooks are left in Asana: %s; remove them with `asana-webhooks webhooks delete GID` (%s), or start the inspector again with the same --db, which deletes them",
		len(parts), strings.Join(parts, "; "), strings.Join(gids, ", "))
}

// Unwrap returns the causes.
func (e *LeftError) Unwrap() []error {
	errs := make([]error, 0, len(e.Left))
	for _, l := range e.Left {
		errs = append(errs, l.Err)
	}
	return errs
}

// deleteCause is a delete's error without the client's "delete webhook
// GID: " prefix, which the caller's message already says.
func deleteCause(gid string, err error) string {
	if err == nil {
		return "unknown error"
	}
	return strings.TrimPrefix(err.Error(), "delete webhook "+gid+": ")
}

// watch starts remembering a hook for the health monitor. It returns false
// for a hook being deleted, which the monitor leaves alone.
func (m *Manager) watch(h Hook) bool {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy[h.ID] {
		return false
	}
	if _, ok := m.health[h.ID]; !ok {
		m.health[h.ID] = &healthState{lastCheck: now, since: now}
	}
	return true
}

// Monitor checks the run's webhooks every HealthInterval until ctx ends.
func (m *Manager) Monitor(ctx context.Context) {
	t := time.NewTicker(m.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.CheckHealth(ctx)
		}
	}
}

// CheckHealth reads each of the run's webhooks from Asana once. It warns (log
// and Notice) when a delivery failed since the last check, when Asana is
// retrying, when a deletion is scheduled and when no heartbeat arrived for
// HeartbeatGrace; each warning once per change. A webhook Asana deleted is
// reported, marked deleted and created again (with a new path and secret).
func (m *Manager) CheckHealth(ctx context.Context) {
	hooks, err := m.Hooks(ctx)
	if err != nil {
		m.log.Error("health check", "err", err)
		return
	}
	for _, h := range hooks {
		if ctx.Err() != nil {
			return
		}
		m.checkOne(ctx, h)
	}
}

func (m *Manager) checkOne(ctx context.Context, h Hook) {
	log := m.log.With("hook", h.ID, "webhook", h.WebhookGID)
	if !m.watch(h) {
		return
	}
	now := m.cfg.Now()
	w, err := m.cfg.API.GetWebhook(ctx, h.WebhookGID)
	if asana.IsStatus(err, http.StatusNotFound) {
		m.recreate(ctx, log, h)
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("health check failed", "err", err)
		}
		return
	}
	m.mu.Lock()
	st := m.health[h.ID]
	if st == nil { // being deleted or deleted concurrently
		m.mu.Unlock()
		return
	}
	var warns []string
	if w.LastFailureAt != nil && w.LastFailureAt.After(st.lastCheck) {
		msg := "a delivery failed at " + w.LastFailureAt.Local().Format(time.TimeOnly)
		if w.LastFailureContent != "" {
			msg += ": " + oneLine(w.LastFailureContent)
		}
		warns = append(warns, msg)
	}
	if w.DeliveryRetryCount > 0 && w.DeliveryRetryCount != st.retries {
		warns = append(warns, fmt.Sprintf("Asana is retrying deliveries (delivery_retry_count %d)", w.DeliveryRetryCount))
	}
	st.retries = w.DeliveryRetryCount
	var deletion time.Time
	if w.FailureDeletionTimestamp != nil {
		deletion = w.FailureDeletionTimestamp.Time
	}
	if !deletion.IsZero() && !deletion.Equal(st.deletionAt) {
		warns = append(warns, "Asana will delete the webhook at "+deletion.Local().Format(time.DateTime)+" unless a delivery succeeds")
	}
	st.deletionAt = deletion
	// Count from the last stored heartbeat, even one from before this run
	// (a kept webhook); from when this run started watching only if none
	// ever arrived.
	last := h.LastHeartbeatAt
	if last.IsZero() {
		last = st.since
	}
	late := now.Sub(last) > m.cfg.HeartbeatGrace
	if late && !st.heartbeatLate {
		warns = append(warns, fmt.Sprintf("no heartbeat for more than %s (Asana sends one every %s)",
			shortDuration(m.cfg.HeartbeatGrace), shortDuration(HeartbeatInterval)))
	}
	st.heartbeatLate = late
	st.lastCheck = now
	m.mu.Unlock()
	for _, msg := range warns {
		log.Debug("webhook health", "problem", msg)
		m.notify(NoticeWarn, h, "webhook %s: %s", h.WebhookGID, msg)
	}
}

// recreate replaces a webhook Asana deleted. The 404 may instead come from a
// delete of ours under way or just finished (the web UI's, say), so the hook
// is claimed first and read again from the store: it is replaced only if no
// delete of ours holds it and it is still active, with the same webhook, in
// this run.
func (m *Manager) recreate(ctx context.Context, log *slog.Logger, h Hook) {
	if !m.claim(h.ID) {
		log.Info("webhook gone from Asana while we delete it; not re-creating it")
		return
	}
	cur, err := m.cfg.Store.GetHook(ctx, h.ID)
	if err != nil || cur.State != HookActive || cur.WebhookGID != h.WebhookGID || cur.LastRunID != m.cfg.RunID {
		m.release(h.ID)
		if err != nil {
			log.Error("re-read hook before re-creating it", "err", err)
		} else {
			log.Info("webhook gone from Asana but no longer active in this run; not re-creating it", "state", cur.State)
		}
		return
	}
	err = m.cfg.Store.MarkHookDeleted(ctx, h.ID, "deleted by Asana (found by the health monitor)")
	m.release(h.ID)
	if err != nil {
		log.Error("mark hook deleted", "err", err)
		return
	}
	log.Debug("webhook deleted by Asana")
	m.notify(NoticeWarn, h, "webhook %s on %s was deleted by Asana; creating it again", h.WebhookGID, h.Resource.GID)
	nh, err := m.Create(ctx, HookSpec{Resource: h.Resource, Workspace: h.WorkspaceGID, Filters: h.Filters})
	if err != nil {
		log.Debug("re-create webhook", "err", err)
		var ce *CreateError
		if !errors.As(err, &ce) { // a CreateError has been told already
			m.notify(NoticeWarn, h, "could not create the webhook on %s again: %v", h.Resource.GID, err)
		}
		return
	}
	log.Info("webhook re-created", "new_hook", nh.ID, "new_webhook", nh.WebhookGID)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// SharedWindowTTL bounds a shared handshake window (see SharedWindows) that
// its process did not close: the longest a create attempt lasts, and some.
const SharedWindowTTL = asana.DefaultCreateTimeout + 30*time.Second

// createWindow is the handshake window of one create call: open or not, so
// that opening it again, or closing it again, does nothing. Only the
// goroutine of the call uses it. With shared set, the window is opened and
// closed in the store as well.
type createWindow struct {
	windows *HandshakeWindows
	shared  SharedWindows
	hookID  string
	log     *slog.Logger
	ctx     context.Context
	isOpen  bool
}

func (w *createWindow) open() error {
	if w.isOpen {
		return nil
	}
	if w.shared != nil {
		if err := w.shared.OpenHandshakeWindow(w.ctx, w.hookID, SharedWindowTTL); err != nil {
			w.log.Warn("the handshake window could not be opened for the other replicas", "err", err)
			return err
		}
	}
	w.windows.Open(w.hookID)
	w.isOpen = true
	return nil
}

func (w *createWindow) close() {
	if !w.isOpen {
		return
	}
	w.windows.Close(w.hookID)
	w.isOpen = false
	if w.shared != nil {
		// Closed even if the call's context ended; else it expires.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 5*time.Second)
		defer cancel()
		if err := w.shared.CloseHandshakeWindow(ctx, w.hookID); err != nil {
			w.log.Warn("the handshake window could not be closed for the other replicas; it expires on its own",
				"err", err, "ttl", SharedWindowTTL)
		}
	}
}

// shortDuration prints d without trailing zero units: 8h10m, not 8h10m0s.
func shortDuration(d time.Duration) string {
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}
