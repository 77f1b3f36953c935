package asana

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// DefaultBaseURL is the production API.
const DefaultBaseURL = "https://app.asana.com/api/1.0"

// Defaults of a Client built without options.
const (
	// DefaultUserAgent is sent when WithUserAgent is not given.
	DefaultUserAgent = "asana-webhooks"
	// DefaultCallTimeout bounds each attempt of every call but CreateWebhook.
	DefaultCallTimeout = 30 * time.Second
	// DefaultCreateTimeout bounds CreateWebhook, which Asana holds open while
	// it runs the handshake against the target.
	DefaultCreateTimeout = 60 * time.Second
	// DefaultMaxRetries is how many times a call is retried after a 429, or
	// an idempotent one after a 5xx or a network error.
	DefaultMaxRetries = 4
	// PageSize is the limit sent on every paginated list (Asana's maximum).
	PageSize = 100
)

const (
	// maxResponseBytes bounds how much of a response body is read.
	maxResponseBytes = 32 << 20
	// maxBackoff caps the exponential backoff between retries.
	maxBackoff = 30 * time.Second
	// maxRetryAfter is the longest Retry-After a call waits for; a longer
	// one ends the call with the 429 (or 5xx) and its RetryAfter.
	maxRetryAfter = 10 * time.Minute
	// maxPages guards list calls against a server that never ends a listing.
	maxPages   = 10000
	modulePath = "github.com/asana-webhooks/asana-webhooks"
)

// Client calls the Asana API with a bearer token. It is safe for concurrent use.
//
// Each attempt of a call is bounded by the call timeout (CreateWebhook by the
// longer create timeout). A 429 is retried after its Retry-After for every
// call; a 5xx or a network error is retried with exponential backoff (1, 2, 4,
// 8 s...) only for GET, PUT and DELETE. A Retry-After over ten minutes is
// not waited for: the call returns the *APIError, whose RetryAfter says it.
// Errors name the operation and never contain the token.
type Client struct {
	baseURL       string
	token         string
	userAgent     string
	clientLib     string
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
// which Asana holds open during the handshake. A value of zero or less keeps
// the default.
func WithTimeouts(call, create time.Duration) Option {
	return func(c *Client) { c.callTimeout, c.createTimeout = call, create }
}

// WithMaxRetries sets how many times an idempotent call is retried after a
// 429, a 5xx or a network error (and any call after a 429). Zero disables
// retries.
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = n } }

// WithSleep replaces the function that waits between retries (tests inject a
// fake clock here). It must return early with ctx.Err() when ctx is done.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}

// WithClientLib sets the X-Asana-Client-Lib header, Asana's client telemetry.
// The default describes this module, Go's version and the OS; an empty value
// sends no header.
func WithClientLib(v string) Option { return func(c *Client) { c.clientLib = v } }

// NewClient returns a client for token.
func NewClient(token string, opts ...Option) *Client {
	c := &Client{
		baseURL:       DefaultBaseURL,
		token:         token,
		userAgent:     DefaultUserAgent,
		clientLib:     defaultClientLib(),
		callTimeout:   DefaultCallTimeout,
		createTimeout: DefaultCreateTimeout,
		maxRetries:    DefaultMaxRetries,
	}
	for _, o := range opts {
		o(c)
	}
	c.baseURL = strings.TrimRight(c.baseURL, "/")
	if c.baseURL == "" {
		c.baseURL = DefaultBaseURL
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.httpClient == nil {
		c.httpClient = &http.Client{}
	}
	if c.callTimeout <= 0 {
		c.callTimeout = DefaultCallTimeout
	}
	if c.createTimeout <= 0 {
		c.createTimeout = DefaultCreateTimeout
	}
	if c.maxRetries < 0 {
		c.maxRetries = 0
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	return c
}

// defaultClientLib builds the X-Asana-Client-Lib value the official SDKs send.
func defaultClientLib() string {
	version := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == modulePath && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == modulePath && d.Version != "" {
				version = d.Version
			}
		}
	}
	return "language=Go&version=" + url.QueryEscape(version) +
		"&language_version=" + url.QueryEscape(runtime.Version()) +
		"&os=" + url.QueryEscape(runtime.GOOS)
}

// sleepCtx waits d on a real timer, returning early when ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// CreateWebhookRequest is the body of POST /webhooks.
type CreateWebhookRequest struct {
	Resource string   `json:"resource"`
	Target   string   `json:"target"`
	Filters  []Filter `json:"filters,omitempty"`
	// Workspace is an optional hint, never sent: the workspace of Resource.
	// CreateWebhook needs it only to list webhooks after an uncertain
	// outcome; without it the client looks the resource up.
	Workspace string `json:"-"`
}

// CreatedWebhook is the result of a successful create: the webhook and the
// top-level X-Hook-Secret of the 201 body.
type CreatedWebhook struct {
	Webhook Webhook
	// Secret is zero if the 201 body lacked X-Hook-Secret; the handshake's
	// copy is then the only one.
	Secret Secret
}

// CreateUncertainError is returned by CreateWebhook when the outcome is
// unknown (timeout, 5xx, network error). The client listed the resource's
// webhooks afterwards: Existing is the one with the same target, or nil.
// The caller decides whether to trust it.
type CreateUncertainError struct {
	Existing *Webhook
	Err      error
	// LookupErr is why the listing afterwards failed or was skipped; when it
	// is set, a nil Existing says nothing.
	LookupErr error
}

// Error implements error.
func (e *CreateUncertainError) Error() string {
	msg := "create webhook: outcome unknown: " + e.Err.Error()
	switch {
	case e.Existing != nil:
		msg += "; found existing webhook " + e.Existing.GID + " with the same target"
	case e.LookupErr != nil:
		msg += "; could not check for a created webhook: " + e.LookupErr.Error()
	default:
		msg += "; no webhook with the same target exists"
	}
	return msg
}

// Unwrap returns the error of the create call.
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

// Error implements error.
func (e *SyncError) Error() string {
	if e.HadToken {
		return "events: sync token expired: resync needed"
	}
	return "events: first call: got a sync token"
}

// Unwrap returns ErrSyncTokenInvalid.
func (e *SyncError) Unwrap() error { return ErrSyncTokenInvalid }

// EventsPage is one 200 answer of GET /events.
type EventsPage struct {
	Events  []Event
	Sync    string
	HasMore bool
}

// call is one API operation.
type call struct {
	method     string
	path       string // relative to the base URL, already escaped
	query      url.Values
	body       any // sent as {"data": body} when non-nil
	idempotent bool
	timeout    time.Duration
}

// response is a read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
	// uncertainBefore is set when an earlier attempt may have reached the
	// server (a network error or a 5xx), so a 404 may be our own doing.
	uncertainBefore bool
}

// transientError marks a failure after which the request may or may not
// have been processed: a network error, a timeout or a 5xx.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// do runs a call with retries. It returns the final response when the server
// answered with a non-retryable status or retries ran out on a 429 or a 5xx
// (status >= 400 is then turned into an *APIError by the caller through
// check), and an error for transport failures.
func (c *Client) do(ctx context.Context, cl call) (*response, error) {
	var reqBody []byte
	if cl.body != nil {
		b, err := json.Marshal(struct {
			Data any `json:"data"`
		}{cl.body})
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		reqBody = b
	}
	u := c.baseURL + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return nil, fmt.Errorf("invalid base URL %q", c.baseURL)
	}
	uncertain := false
	trace := ContextCallTrace(ctx)
	for attempt := 0; ; attempt++ {
		if trace != nil && trace.AttemptStart != nil {
			trace.AttemptStart()
		}
		resp, err := c.attempt(ctx, cl, u, reqBody)
		if trace != nil && trace.AttemptDone != nil {
			trace.AttemptDone(err)
		}
		var wait time.Duration
		retryable := false
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, &transientError{err}
			}
			if permanent(err) {
				// The request was never sent and never can be: an invalid
				// header value (a token with a newline), a bad URL, a
				// certificate that does not verify. Retrying cannot help.
				return nil, err
			}
			uncertain = true
			retryable = cl.idempotent
			wait = backoff(attempt)
			err = &transientError{err}
		case resp.status == http.StatusTooManyRequests:
			// Not processed: every call may retry.
			retryable = true
			wait = parseRetryAfter(resp.header.Get("Retry-After"))
			if wait <= 0 {
				wait = backoff(attempt)
			}
		case resp.status >= 500:
			uncertain = true
			retryable = cl.idempotent
			wait = parseRetryAfter(resp.header.Get("Retry-After"))
			if wait <= 0 {
				wait = backoff(attempt)
			}
		}
		if !retryable || attempt >= c.maxRetries || wait > maxRetryAfter {
			if err != nil {
				return nil, err
			}
			resp.uncertainBefore = uncertain && resp.status < 500
			return resp, nil
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			if err == nil {
				err = ParseError(resp.status, resp.header, resp.body)
			}
			return nil, fmt.Errorf("waiting to retry: %w (last: %w)", serr, err)
		}
	}
}

// attempt sends one request and reads the whole response within the call's
// timeout.
func (c *Client) attempt(ctx context.Context, cl call, u string, body []byte) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, cl.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, rd)
	if err != nil {
		return nil, &buildError{err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if c.clientLib != "" {
		req.Header.Set("X-Asana-Client-Lib", c.clientLib)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if len(b) > maxResponseBytes {
		return nil, fmt.Errorf("response larger than %d bytes", maxResponseBytes)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// permanent reports whether a transport error is one that no retry can
// cure, because the request was rejected before it was sent: building it
// failed (a header field value net/http refuses, a malformed URL or an
// unsupported scheme) or the server's certificate does not verify.
func permanent(err error) bool {
	var (
		unknownCA *x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		verify    *tls.CertificateVerificationError
		rhe       tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &invalid), errors.As(err, &hostname), errors.As(err, &verify):
		return true
	case errors.As(err, &rhe):
		// An https client talking to a plain-http server.
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		var ne net.Error
		if !errors.As(ue.Err, &ne) && !errors.Is(ue.Err, io.EOF) && !errors.Is(ue.Err, io.ErrUnexpectedEOF) {
			msg := ue.Err.Error()
			for _, s := range []string{"invalid header field", "invalid URL", "unsupported protocol scheme", "no Host in request URL", "invalid method", "server gave HTTP response to HTTPS client"} {
				if strings.Contains(msg, s) {
					return true
				}
			}
		}
	}
	var be *buildError
	return errors.As(err, &be)
}

// buildError is a request that could not even be built.
type buildError struct{ err error }

func (e *buildError) Error() string { return "build request: " + e.err.Error() }
func (e *buildError) Unwrap() error { return e.err }

// backoff is the wait before retry attempt+1: 1, 2, 4, 8... seconds.
func backoff(attempt int) time.Duration {
	if attempt > 5 {
		return maxBackoff
	}
	return min(time.Second<<attempt, maxBackoff)
}

// decode unmarshals a success body into v, naming the endpoint on failure.
func decode(cl call, resp *response, v any) error {
	if err := json.Unmarshal(resp.body, v); err != nil {
		return fmt.Errorf("malformed response of %s %s (status %d): %w", cl.method, cl.path, resp.status, err)
	}
	return nil
}

// run does a call and decodes the "data" of a 2xx into out (if non-nil).
func (c *Client) run(ctx context.Context, cl call, out any) error {
	resp, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	if resp.status < 200 || resp.status > 299 {
		return ParseError(resp.status, resp.header, resp.body)
	}
	if out == nil {
		return nil
	}
	env := struct {
		Data json.RawMessage `json:"data"`
	}{}
	if err := decode(cl, resp, &env); err != nil {
		return err
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return fmt.Errorf("malformed response of %s %s (status %d): no data", cl.method, cl.path, resp.status)
	}
	return decode(cl, &response{status: resp.status, body: env.Data}, out)
}

// list follows every page of a list call, appending each page's data to out.
func list[T any](ctx context.Context, c *Client, cl call) ([]T, error) {
	var all []T
	q := cl.query
	if q == nil {
		q = url.Values{}
	}
	q.Set("limit", fmt.Sprint(PageSize))
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page >= maxPages {
			return nil, fmt.Errorf("more than %d pages", maxPages)
		}
		cl.query = q
		resp, err := c.do(ctx, cl)
		if err != nil {
			return nil, err
		}
		if resp.status < 200 || resp.status > 299 {
			return nil, ParseError(resp.status, resp.header, resp.body)
		}
		var env struct {
			Data     []T       `json:"data"`
			NextPage *NextPage `json:"next_page"`
		}
		if err := decode(cl, resp, &env); err != nil {
			return nil, err
		}
		all = append(all, env.Data...)
		if env.NextPage == nil || env.NextPage.Offset == "" {
			return all, nil
		}
		if seen[env.NextPage.Offset] {
			return nil, fmt.Errorf("page offset %q repeated", env.NextPage.Offset)
		}
		seen[env.NextPage.Offset] = true
		q = cloneValues(q)
		q.Set("offset", env.NextPage.Offset)
	}
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// gidPath returns prefix/gid with gid escaped, or an error for an empty gid.
func gidPath(prefix, gid string) (string, error) {
	if strings.TrimSpace(gid) == "" {
		return "", errors.New("empty gid")
	}
	return prefix + "/" + url.PathEscape(gid), nil
}

func (c *Client) get(path string, q url.Values) call {
	return call{method: http.MethodGet, path: path, query: q, idempotent: true, timeout: c.callTimeout}
}

// Me returns the token's user (GET /users/me).
func (c *Client) Me(ctx context.Context) (*User, error) {
	var u User
	if err := c.run(ctx, c.get("/users/me", nil), &u); err != nil {
		return nil, fmt.Errorf("me: %w", err)
	}
	return &u, nil
}

// Workspaces lists the user's workspaces.
func (c *Client) Workspaces(ctx context.Context) ([]Workspace, error) {
	ws, err := list[Workspace](ctx, c, c.get("/workspaces", nil))
	if err != nil {
		return nil, fmt.Errorf("workspaces: %w", err)
	}
	return ws, nil
}

// Project returns one project.
func (c *Client) Project(ctx context.Context, gid string) (*Project, error) {
	p, err := gidPath("/projects", gid)
	if err != nil {
		return nil, fmt.Errorf("project: %w", err)
	}
	var pr Project
	if err := c.run(ctx, c.get(p, nil), &pr); err != nil {
		return nil, fmt.Errorf("project %s: %w", gid, err)
	}
	return &pr, nil
}

// Projects lists a workspace's projects, following every page.
func (c *Client) Projects(ctx context.Context, workspace string) ([]Project, error) {
	if strings.TrimSpace(workspace) == "" {
		return nil, errors.New("list projects: workspace is required")
	}
	ps, err := list[Project](ctx, c, c.get("/projects", url.Values{"workspace": {workspace}}))
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return ps, nil
}

// CreateWebhook creates a webhook; Asana runs the handshake against
// req.Target before it answers. It is never retried blindly: a 429 (not
// processed) is retried after Retry-After, but after a timeout, a 5xx or a
// network error it lists the resource's webhooks and returns a
// *CreateUncertainError. If ctx itself is done, the listing is skipped.
func (c *Client) CreateWebhook(ctx context.Context, req CreateWebhookRequest) (*CreatedWebhook, error) {
	if strings.TrimSpace(req.Resource) == "" || strings.TrimSpace(req.Target) == "" {
		return nil, errors.New("create webhook: resource and target are required")
	}
	cl := call{method: http.MethodPost, path: "/webhooks", body: req, timeout: c.createTimeout}
	resp, err := c.do(ctx, cl)
	if err == nil && resp.status >= 500 {
		err = &transientError{ParseError(resp.status, resp.header, resp.body)}
	}
	// The lookups that settle an uncertain create are not its attempts.
	lookupCtx := WithCallTrace(ctx, nil)
	var te *transientError
	if errors.As(err, &te) {
		return nil, c.uncertain(lookupCtx, req, te.err)
	}
	if err != nil {
		return nil, fmt.Errorf("create webhook: %w", err)
	}
	if resp.status < 200 || resp.status > 299 {
		return nil, fmt.Errorf("create webhook: %w", ParseError(resp.status, resp.header, resp.body))
	}
	var env struct {
		Data   *Webhook `json:"data"`
		Secret string   `json:"X-Hook-Secret"`
	}
	err = decode(cl, resp, &env)
	if err == nil && env.Data == nil {
		err = fmt.Errorf("malformed response of POST /webhooks (status %d): no data", resp.status)
	}
	if err != nil {
		// The server said yes but we cannot read what it created.
		return nil, c.uncertain(lookupCtx, req, err)
	}
	return &CreatedWebhook{Webhook: *env.Data, Secret: NewSecret(env.Secret)}, nil
}

// uncertain looks for a webhook that the failed create may have made.
func (c *Client) uncertain(ctx context.Context, req CreateWebhookRequest, cause error) error {
	e := &CreateUncertainError{Err: cause}
	if ctx.Err() != nil {
		e.LookupErr = fmt.Errorf("skipped: %w", ctx.Err())
		return e
	}
	ws := req.Workspace
	if ws == "" {
		var err error
		if ws, err = c.workspaceOf(ctx, req.Resource); err != nil {
			e.LookupErr = err
			return e
		}
	}
	hooks, err := c.ListWebhooks(ctx, ws, req.Resource)
	if err != nil {
		e.LookupErr = err
		return e
	}
	for i := range hooks {
		if hooks[i].Target == req.Target && (hooks[i].Resource.GID == "" || hooks[i].Resource.GID == req.Resource) {
			e.Existing = &hooks[i]
			break
		}
	}
	return e
}

// workspaceOf finds the workspace a resource lives in. Asana has no generic
// lookup by gid, so it tries the kinds of resource webhooks accept, most
// common first, moving on when one answers 404 (or 400, 403: not that kind).
func (c *Client) workspaceOf(ctx context.Context, gid string) (string, error) {
	kinds := []string{"/projects", "/tasks", "/portfolios", "/goals", "/teams", "/workspaces"}
	var lastErr error
	for _, k := range kinds {
		p, err := gidPath(k, gid)
		if err != nil {
			return "", fmt.Errorf("find workspace of %s: %w", gid, err)
		}
		var r struct {
			GID          string   `json:"gid"`
			ResourceType string   `json:"resource_type"`
			Workspace    *Compact `json:"workspace"`
			Organization *Compact `json:"organization"`
		}
		err = c.run(ctx, c.get(p, nil), &r)
		if err != nil {
			var ae *APIError
			if errors.As(err, &ae) && (ae.StatusCode == 404 || ae.StatusCode == 400 || ae.StatusCode == 403) {
				lastErr = err
				continue
			}
			return "", fmt.Errorf("find workspace of %s: %w", gid, err)
		}
		switch {
		case r.Workspace != nil && r.Workspace.GID != "":
			return r.Workspace.GID, nil
		case r.Organization != nil && r.Organization.GID != "":
			return r.Organization.GID, nil
		case k == "/workspaces" && r.GID != "":
			return r.GID, nil
		}
	}
	if lastErr == nil {
		lastErr = errors.New("no workspace in any lookup")
	}
	return "", fmt.Errorf("find workspace of %s: %w", gid, lastErr)
}

// ListWebhooks lists the token's webhooks in workspace, optionally only those
// on resource, following every page.
func (c *Client) ListWebhooks(ctx context.Context, workspace, resource string) ([]Webhook, error) {
	if strings.TrimSpace(workspace) == "" {
		return nil, errors.New("list webhooks: workspace is required")
	}
	q := url.Values{"workspace": {workspace}}
	if resource != "" {
		q.Set("resource", resource)
	}
	hs, err := list[Webhook](ctx, c, c.get("/webhooks", q))
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return hs, nil
}

// GetWebhook returns one webhook.
func (c *Client) GetWebhook(ctx context.Context, gid string) (*Webhook, error) {
	p, err := gidPath("/webhooks", gid)
	if err != nil {
		return nil, fmt.Errorf("get webhook: %w", err)
	}
	var w Webhook
	if err := c.run(ctx, c.get(p, nil), &w); err != nil {
		return nil, fmt.Errorf("get webhook %s: %w", gid, err)
	}
	return &w, nil
}

// UpdateWebhook replaces a webhook's filters.
func (c *Client) UpdateWebhook(ctx context.Context, gid string, filters []Filter) (*Webhook, error) {
	p, err := gidPath("/webhooks", gid)
	if err != nil {
		return nil, fmt.Errorf("update webhook: %w", err)
	}
	if filters == nil {
		filters = []Filter{}
	}
	body := struct {
		Filters []Filter `json:"filters"`
	}{filters}
	cl := call{method: http.MethodPut, path: p, body: body, idempotent: true, timeout: c.callTimeout}
	var w Webhook
	if err := c.run(ctx, cl, &w); err != nil {
		return nil, fmt.Errorf("update webhook %s: %w", gid, err)
	}
	return &w, nil
}

// DeleteWebhook deletes a webhook. A 404 after a retry counts as success: the
// earlier attempt deleted it.
func (c *Client) DeleteWebhook(ctx context.Context, gid string) error {
	p, err := gidPath("/webhooks", gid)
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	cl := call{method: http.MethodDelete, path: p, idempotent: true, timeout: c.callTimeout}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", gid, err)
	}
	if resp.status == http.StatusNotFound && resp.uncertainBefore {
		return nil
	}
	if resp.status < 200 || resp.status > 299 {
		return fmt.Errorf("delete webhook %s: %w", gid, ParseError(resp.status, resp.header, resp.body))
	}
	return nil
}

// Events reads one page of events on resource after sync. With no token, or an
// expired one, it returns a *SyncError carrying the new token.
func (c *Client) Events(ctx context.Context, resource, sync string) (*EventsPage, error) {
	if strings.TrimSpace(resource) == "" {
		return nil, errors.New("events: resource is required")
	}
	q := url.Values{"resource": {resource}}
	if sync != "" {
		q.Set("sync", sync)
	}
	cl := c.get("/events", q)
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if resp.status == http.StatusPreconditionFailed {
		ae := ParseError(resp.status, resp.header, resp.body)
		if ae.Sync == "" {
			return nil, fmt.Errorf("events: 412 without a new sync token: %w", ae)
		}
		return nil, &SyncError{Sync: ae.Sync, HadToken: sync != ""}
	}
	if resp.status < 200 || resp.status > 299 {
		return nil, fmt.Errorf("events: %w", ParseError(resp.status, resp.header, resp.body))
	}
	var env struct {
		Data    []Event `json:"data"`
		Sync    string  `json:"sync"`
		HasMore bool    `json:"has_more"`
	}
	if err := decode(cl, resp, &env); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if env.Sync == "" {
		return nil, fmt.Errorf("events: malformed response of GET /events (status %d): no sync token", resp.status)
	}
	return &EventsPage{Events: env.Data, Sync: env.Sync, HasMore: env.HasMore}, nil
}

// PollEvents streams the events on resource from sync, calling fn with every
// page (empty pages included, so fn can persist each new token). It asks
// again at once while a page has more, otherwise after pollEvery. A first
// 412 just yields the starting token; an expired token is returned as a
// *SyncError so the caller can resync. It returns when ctx is done (with
// ctx.Err()), or with fn's error.
func (c *Client) PollEvents(ctx context.Context, resource, sync string, pollEvery time.Duration, fn func(EventsPage) error) error {
	for {
		page, err := c.Events(ctx, resource, sync)
		var se *SyncError
		switch {
		case errors.As(err, &se) && !se.HadToken:
			sync = se.Sync
			continue
		case err != nil:
			return err
		}
		if err := fn(*page); err != nil {
			return err
		}
		sync = page.Sync
		if !page.HasMore {
			if err := c.sleep(ctx, pollEvery); err != nil {
				return err
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
	}
}
