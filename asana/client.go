package asana

// CONTRACT SKELETON: the signatures below are the agreed API of the client.
// Bodies are being implemented; do not rely on behaviour until this comment is gone.

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// DefaultBaseURL is the production API.
const DefaultBaseURL = "https://app.asana.com/api/1.0"

var errNotImplemented = errors.New("not implemented yet")

// Client calls the Asana API with a bearer token. It is safe for concurrent use.
type Client struct {
	baseURL       string
	token         string
	userAgent     string
	httpClient    *http.Client
	callTimeout   time.Duration
	createTimeout time.Duration
	maxRetries    int
	sleep         func(ctx context.Context, d time.Duration) error
}

// Option configures a Client.
type Option func(*Client)

// WithBaseURL points the client at another server (the emulator, a proxy).
func WithBaseURL(u string) Option { return func(c *Client) { c.baseURL = u } }

// WithHTTPClient sets the HTTP client used for every call.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.httpClient = h } }

// WithUserAgent sets the User-Agent, e.g. "asana-webhooks/1.2.3".
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithTimeouts sets the per-call timeout and the longer one of CreateWebhook,
// which Asana holds open during the handshake.
func WithTimeouts(call, create time.Duration) Option {
	return func(c *Client) { c.callTimeout, c.createTimeout = call, create }
}

// WithMaxRetries sets how many times an idempotent call is retried after a
// 429, a 5xx or a network error.
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = n } }

// WithSleep replaces the function that waits between retries (tests inject a
// fake clock here).
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}

// NewClient returns a client for token.
func NewClient(token string, opts ...Option) *Client {
	c := &Client{baseURL: DefaultBaseURL, token: token}
	for _, o := range opts {
		o(c)
	}
	return c
}

// CreateWebhookRequest is the body of POST /webhooks.
type CreateWebhookRequest struct {
	Resource string   `json:"resource"`
	Target   string   `json:"target"`
	Filters  []Filter `json:"filters,omitempty"`
}

// CreatedWebhook is the result of a successful create: the webhook and the
// top-level X-Hook-Secret of the 201 body.
type CreatedWebhook struct {
	Webhook Webhook
	Secret  Secret
}

// CreateUncertainError is returned by CreateWebhook when the outcome is
// unknown (timeout, 5xx, network error). The client listed the resource's
// webhooks afterwards: Existing is the one with the same target, or nil.
// The caller decides whether to trust it.
type CreateUncertainError struct {
	Existing *Webhook
	Err      error
}

func (e *CreateUncertainError) Error() string {
	return "create webhook: outcome unknown: " + e.Err.Error()
}
func (e *CreateUncertainError) Unwrap() error { return e.Err }

// ErrSyncTokenInvalid is wrapped by *SyncError.
var ErrSyncTokenInvalid = errors.New("sync token invalid or expired")

// SyncError is the 412 of /events: on a first call (HadToken false) it is
// normal and only yields the first token; with a token it means the token
// expired and the caller must resync from the new token.
type SyncError struct {
	Sync     string
	HadToken bool
}

func (e *SyncError) Error() string {
	if e.HadToken {
		return "events: sync token expired: resync needed"
	}
	return "events: first call: got a sync token"
}
func (e *SyncError) Unwrap() error { return ErrSyncTokenInvalid }

// EventsPage is one 200 answer of GET /events.
type EventsPage struct {
	Events  []Event
	Sync    string
	HasMore bool
}

// Me returns the token's user (GET /users/me).
func (c *Client) Me(ctx context.Context) (*User, error) { return nil, errNotImplemented }

// Workspaces lists the user's workspaces.
func (c *Client) Workspaces(ctx context.Context) ([]Workspace, error) { return nil, errNotImplemented }

// Project returns one project.
func (c *Client) Project(ctx context.Context, gid string) (*Project, error) {
	return nil, errNotImplemented
}

// Projects lists a workspace's projects, following every page.
func (c *Client) Projects(ctx context.Context, workspace string) ([]Project, error) {
	return nil, errNotImplemented
}

// CreateWebhook creates a webhook; Asana runs the handshake against
// req.Target before it answers. It is never retried blindly; see
// CreateUncertainError.
func (c *Client) CreateWebhook(ctx context.Context, req CreateWebhookRequest) (*CreatedWebhook, error) {
	return nil, errNotImplemented
}

// ListWebhooks lists the token's webhooks in workspace, optionally only those
// on resource, following every page.
func (c *Client) ListWebhooks(ctx context.Context, workspace, resource string) ([]Webhook, error) {
	return nil, errNotImplemented
}

// GetWebhook returns one webhook.
func (c *Client) GetWebhook(ctx context.Context, gid string) (*Webhook, error) {
	return nil, errNotImplemented
}

// UpdateWebhook replaces a webhook's filters.
func (c *Client) UpdateWebhook(ctx context.Context, gid string, filters []Filter) (*Webhook, error) {
	return nil, errNotImplemented
}

// DeleteWebhook deletes a webhook.
func (c *Client) DeleteWebhook(ctx context.Context, gid string) error { return errNotImplemented }

// Events reads one page of events on resource after sync. With no token, or an
// expired one, it returns a *SyncError carrying the new token.
func (c *Client) Events(ctx context.Context, resource, sync string) (*EventsPage, error) {
	return nil, errNotImplemented
}
