package inspector

import (
	"context"
	"errors"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// Sentinel errors of a Store. Implementations wrap them with context; test
// with errors.Is.
var (
	// ErrNotFound: no hook, run or delivery with that id.
	ErrNotFound = errors.New("not found")
	// ErrNoSecret: the hook exists but no handshake secret is stored for it.
	ErrNoSecret = errors.New("no secret stored")
	// ErrSecretConflict: a different secret is already stored for the hook.
	ErrSecretConflict = errors.New("a different secret is already stored")
	// ErrInvalidState: the operation does not apply to the hook's state
	// (a handshake for a deleted hook, discarding an active hook's secret).
	ErrInvalidState = errors.New("invalid hook state")
	// ErrInvalid: the argument is malformed (a bad id, kind or event key).
	ErrInvalid = errors.New("invalid argument")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store closed")
)

// HookFilter selects hooks in ListHooks. Zero fields match everything.
type HookFilter struct {
	// States keeps hooks in any of these states.
	States []HookState
	// RunID keeps hooks created or last reused by this run.
	RunID string
	// ResourceGID keeps hooks on this resource.
	ResourceGID string
}

// DeliveryFilter selects deliveries in ListDeliveries. Zero fields match
// everything. Results come newest first.
type DeliveryFilter struct {
	// HookID keeps the deliveries to one hook.
	HookID string
	// ResourceGID keeps deliveries to a hook watching this resource, or
	// carrying an event about it (a task in a watched project, say).
	ResourceGID string
	// Kind keeps one kind of delivery.
	Kind Kind
	// Since and Until bound ReceivedAt: Since <= ReceivedAt < Until.
	Since, Until time.Time
	// BeforeID keeps deliveries with an ID lower than this (paging).
	BeforeID int64
	// Limit caps the number of results; zero or less means DefaultLimit.
	Limit int
}

// EventFilter selects events in ListEvents. Zero fields match everything.
// Results come newest first (by first receipt).
type EventFilter struct {
	// HookID keeps the events of one hook.
	HookID string
	// ResourceGID keeps events about this resource.
	ResourceGID string
	// Since and Until bound FirstSeenAt: Since <= FirstSeenAt < Until.
	Since, Until time.Time
	// BeforeID keeps events with an ID lower than this (paging).
	BeforeID int64
	// Limit caps the number of results; zero or less means DefaultLimit.
	Limit int
}

// DefaultLimit is the page size of list calls given no limit.
const DefaultLimit = 100

// Stats counts what a store holds, for one hook or all.
type Stats struct {
	// Hooks counts hooks by state.
	Hooks map[HookState]int `json:"hooks"`
	// Deliveries counts all recorded deliveries, of which Heartbeats and
	// Malformed are those of these kinds.
	Deliveries int64 `json:"deliveries"`
	Heartbeats int64 `json:"heartbeats"`
	Malformed  int64 `json:"malformed"`
	// Events counts distinct events, and Receipts every receipt of them.
	Events   int64 `json:"events"`
	Receipts int64 `json:"receipts"`
	// LastDeliveryAt is the ReceivedAt of the newest delivery; zero if none.
	LastDeliveryAt time.Time `json:"last_delivery_at,omitzero"`
}

// Store keeps the inspector's state durably. Implementations are safe for
// concurrent use; a call that returned nil has committed. Times are kept to the
// microsecond, in UTC.
type Store interface {
	// CreateRun records the start of an inspector run.
	CreateRun(ctx context.Context, run Run) error
	// EndRun records the end of a run.
	EndRun(ctx context.Context, runID string, at time.Time) error
	// GetRun returns a run, or ErrNotFound.
	GetRun(ctx context.Context, runID string) (Run, error)
	// ListRuns returns every run, newest first.
	ListRuns(ctx context.Context) ([]Run, error)

	// CreateHook records a new hook in HookPending, with no secret. ID,
	// RunID, Target and Resource.GID are required; State, HasSecret,
	// WebhookGID and the heartbeat and delivery times are ignored; zero
	// CreatedAt is set to now; LastRunID defaults to RunID.
	CreateHook(ctx context.Context, hook Hook) error
	// SaveHandshake stores the secret of a handshake for the hook: the
	// first secret is committed; the same one again is accepted; a different
	// one fails with ErrSecretConflict and changes nothing. An empty secret
	// is ErrInvalid, an unknown hook ErrNotFound, a deleted or failed one
	// ErrInvalidState.
	SaveHandshake(ctx context.Context, hookID string, secret asana.Secret) error
	// Secret returns the hook's secret, to verify a delivery or compare it
	// with the 201's; ErrNotFound for an unknown hook, ErrNoSecret if none
	// is stored. Callers must never print or log it.
	Secret(ctx context.Context, hookID string) (asana.Secret, error)
	// DiscardSecret forgets the secret of a hook that is not active (after a
	// failed or abandoned create); ErrInvalidState for an active hook.
	DiscardSecret(ctx context.Context, hookID string) error
	// ActivateHook records Asana's gid for the hook and makes it active.
	ActivateHook(ctx context.Context, hookID, webhookGID string) error
	// ReuseHook records that a run reuses the hook (sets LastRunID) and
	// whether it keeps it on exit.
	ReuseHook(ctx context.Context, hookID, runID string, keep bool) error
	// MarkHookDeleted moves the hook to HookDeleted, with a note saying why.
	MarkHookDeleted(ctx context.Context, hookID, note string) error
	// MarkHookFailed moves the hook to HookFailed, with a note saying why.
	MarkHookFailed(ctx context.Context, hookID, note string) error
	// GetHook returns a hook by path id, or ErrNotFound.
	GetHook(ctx context.Context, hookID string) (Hook, error)
	// GetHookByGID returns a hook by Asana webhook gid, or ErrNotFound.
	GetHookByGID(ctx context.Context, webhookGID string) (Hook, error)
	// ListHooks returns the hooks that match, oldest first.
	ListHooks(ctx context.Context, f HookFilter) ([]Hook, error)

	// RecordDelivery stores a verified delivery and its events in one
	// transaction, before the receiver acknowledges it. d.ID and the counts
	// are set by the store; events are stored once per hook by Key, each
	// receipt counted and linked to the delivery. A heartbeat updates the
	// hook's LastHeartbeatAt. If ctx ends before the commit, it returns an
	// error and nothing of the delivery is stored (or, if the commit won the
	// race, all of it). An unknown hook is ErrNotFound.
	RecordDelivery(ctx context.Context, d Delivery, events []IncomingEvent) (RecordResult, error)
	// GetDelivery returns a delivery with its events, or ErrNotFound.
	GetDelivery(ctx context.Context, id int64) (DeliveryDetail, error)
	// ListDeliveries returns the deliveries that match, newest first.
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	// ListEvents returns the events that match, newest first.
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error)
	// Stats counts what the store holds for one hook, or all if hookID is
	// empty.
	Stats(ctx context.Context, hookID string) (Stats, error)

	// Close waits for pending writes, then releases the store.
	Close() error
}

// RunLocker is implemented by a store that several inspector processes may
// share (one SQLite file, one PostgreSQL database): a run holds its lock for
// as long as it lives, and is released by the operating system or the
// database when its process dies. Reconcile leaves alone the hooks of a run
// that is alive, so starting a second inspector never deletes the webhooks
// of one still running.
type RunLocker interface {
	// LockRun takes the lock of a run; unlock releases it.
	LockRun(ctx context.Context, runID string) (unlock func() error, err error)
	// RunAlive reports whether some process holds the lock of a run.
	RunAlive(ctx context.Context, runID string) (bool, error)
}

// SharedWindows is implemented by a store that several inspector processes
// share as replicas behind one public URL (PostgreSQL): Asana's handshake may
// reach any of them, so the handshake window that the process creating a
// webhook opens must be open for all. The database's clock decides; ttl
// bounds a window whose process died before closing it.
type SharedWindows interface {
	// OpenHandshakeWindow opens the window of a pending hook for ttl.
	OpenHandshakeWindow(ctx context.Context, hookID string, ttl time.Duration) error
	// CloseHandshakeWindow closes it; closing a closed window does nothing.
	CloseHandshakeWindow(ctx context.Context, hookID string) error
	// HandshakeWindowOpen reports whether some process has the window of
	// the hook open now.
	HandshakeWindowOpen(ctx context.Context, hookID string) (bool, error)
}

// ForwardTarget is an app the inspector forwards every verified delivery to
// (the gateway, inspect --forward-to): its URL, the secret that the
// handshake with it settled, and how far forwarding has got.
type ForwardTarget struct {
	URL    string
	Secret asana.Secret
	// Cursor is the id of the last delivery forwarded, or given up on; the
	// deliveries above it are still to go.
	Cursor    int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ForwardStore is implemented by a store that keeps the gateway's state, in
// the same database as the deliveries it forwards.
type ForwardStore interface {
	// ForwardTarget returns the target with url, or ErrNotFound.
	ForwardTarget(ctx context.Context, url string) (ForwardTarget, error)
	// SaveForwardTarget stores a target, replacing the one with its URL
	// (a new handshake). An empty URL or secret is ErrInvalid.
	SaveForwardTarget(ctx context.Context, t ForwardTarget) error
	// AdvanceForwardCursor moves the cursor of the target with url to id,
	// unless it is at id or beyond already; ErrNotFound for no such target.
	AdvanceForwardCursor(ctx context.Context, url string, id int64) error
	// DeliveriesAfter returns at most limit deliveries (zero or less:
	// DefaultLimit) with an id above after, oldest first.
	DeliveriesAfter(ctx context.Context, after int64, limit int) ([]Delivery, error)
}
