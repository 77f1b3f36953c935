package inspector

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// HookState is where a Hook stands in its life.
type HookState string

// The states of a Hook.
const (
	// HookPending is a webhook whose create call has been sent (or is about
	// to be) and whose 201 has not been confirmed yet.
	HookPending HookState = "pending"
	// HookActive is a webhook Asana created and whose secret was confirmed.
	HookActive HookState = "active"
	// HookDeleted is a webhook deleted in Asana (by us or by Asana).
	HookDeleted HookState = "deleted"
	// HookFailed is a webhook whose creation failed or was rejected by us.
	HookFailed HookState = "failed"
)

// Valid reports whether s is one of the known states.
func (s HookState) Valid() bool {
	switch s {
	case HookPending, HookActive, HookDeleted, HookFailed:
		return true
	}
	return false
}

// Hook is a webhook the inspector owns. Its ID is the last segment of the
// target path (/hooks/{ID}); it exists before Asana knows the webhook, so the
// handshake can be tied to it. The secret is not a field: it leaves the store
// only through Store.Secret.
type Hook struct {
	// ID is the path id: 128 random bits in lowercase hex (see NewHookID).
	ID string `json:"id"`
	// WebhookGID is Asana's gid of the webhook; empty while pending.
	WebhookGID string `json:"webhook_gid,omitempty"`
	// Resource is the watched resource (gid, type and name when known).
	Resource asana.Compact `json:"resource"`
	// WorkspaceGID is the workspace the webhook was created in.
	WorkspaceGID string `json:"workspace_gid,omitempty"`
	// Target is the full target URL given to Asana.
	Target string `json:"target"`
	// Filters are the filters the webhook was created with.
	Filters []asana.Filter `json:"filters,omitempty"`
	// State is the webhook's state.
	State HookState `json:"state"`
	// Note says why a webhook failed or was deleted, for people.
	Note string `json:"note,omitempty"`
	// RunID is the inspector run that created the webhook.
	RunID string `json:"run_id"`
	// LastRunID is the last run that created or reused the webhook.
	LastRunID string `json:"last_run_id"`
	// Keep is set when the webhook must survive the end of its run.
	Keep bool `json:"keep"`
	// HasSecret reports whether a handshake secret is stored for the webhook.
	HasSecret bool `json:"has_secret"`
	// CreatedAt and UpdatedAt are the times of the record's creation and last
	// change.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// LastHeartbeatAt is when the last heartbeat was received; zero if none.
	LastHeartbeatAt time.Time `json:"last_heartbeat_at,omitzero"`
	// LastDeliveryAt is when the last delivery of any kind was received; zero
	// if none.
	LastDeliveryAt time.Time `json:"last_delivery_at,omitzero"`
}

// HookIDLen is the length of a hook id: 128 bits in hex.
const HookIDLen = 32

// NewHookID returns a fresh hook id: 128 bits from crypto/rand, lowercase hex.
func NewHookID() string {
	var b [HookIDLen / 2]byte
	// crypto/rand.Read never returns an error (it crashes the program
	// instead, since Go 1.24).
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidHookID reports whether id has the shape of a hook id (32 lowercase hex
// digits). The receiver answers 404 to any other path without touching the
// store.
func ValidHookID(id string) bool {
	if len(id) != HookIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Run is one execution of the inspector.
type Run struct {
	// ID identifies the run (NewHookID makes a good one).
	ID string `json:"id"`
	// StartedAt is when the run started.
	StartedAt time.Time `json:"started_at"`
	// EndedAt is when the run ended; zero while it runs or if it crashed.
	EndedAt time.Time `json:"ended_at,omitzero"`
	// PublicURL is the public base URL the run's targets are built on.
	PublicURL string `json:"public_url"`
}

// PrepareNewHook checks a hook about to be created and fills its defaults
// (LastRunID from RunID, CreatedAt from now). It returns the hook and its
// filters encoded as JSON (an empty list, never null), as every Store keeps
// them, so the stores share one definition of a valid new hook.
func PrepareNewHook(h Hook, now time.Time) (Hook, []byte, error) {
	switch {
	case !ValidHookID(h.ID):
		return h, nil, fmt.Errorf("create hook %q: bad id: %w", h.ID, ErrInvalid)
	case h.RunID == "" || h.Target == "" || h.Resource.GID == "":
		return h, nil, fmt.Errorf("create hook %s: run id, target and resource gid are required: %w", h.ID, ErrInvalid)
	}
	if h.LastRunID == "" {
		h.LastRunID = h.RunID
	}
	if h.CreatedAt.IsZero() {
		h.CreatedAt = now
	}
	filters := h.Filters
	if filters == nil {
		filters = []asana.Filter{}
	}
	fj, err := json.Marshal(filters)
	if err != nil {
		return h, nil, fmt.Errorf("create hook %s: encode filters: %w", h.ID, err)
	}
	return h, fj, nil
}
