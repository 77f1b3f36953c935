package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
)

// webhookResourceTypes are the resource types a webhook may watch.
var webhookResourceTypes = []string{typeProject, typeTask, typeWorkspace, typeSection, typeTeam, typePortfolio}

// eventActions are the values of an event's action.
var eventActions = []string{"changed", "added", "removed", "deleted", "undeleted"}

type filterJSON struct {
	ResourceType    *string  `json:"resource_type"`
	ResourceSubtype *string  `json:"resource_subtype"`
	Action          *string  `json:"action"`
	Fields          []string `json:"fields"`
}

type webhookJSON struct {
	GID                      string       `json:"gid"`
	ResourceType             string       `json:"resource_type"`
	Active                   bool         `json:"active"`
	Resource                 compact      `json:"resource"`
	Target                   string       `json:"target"`
	CreatedAt                asana.Time   `json:"created_at"`
	LastFailureAt            *asana.Time  `json:"last_failure_at"`
	LastFailureContent       string       `json:"last_failure_content"`
	LastSuccessAt            *asana.Time  `json:"last_success_at"`
	DeliveryRetryCount       int          `json:"delivery_retry_count"`
	NextAttemptAfter         *asana.Time  `json:"next_attempt_after"`
	FailureDeletionTimestamp *asana.Time  `json:"failure_deletion_timestamp"`
	Filters                  []filterJSON `json:"filters"`
	IsWorkspaceWebhook       bool         `json:"is_workspace_webhook"`
}

func timePtr(t *time.Time) *asana.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	return asana.TimePtr(*t)
}

// renderWebhook renders a webhook with its health from the engine. It may
// be called with e.mu held: the engine never calls back into the emulator
// while holding its own locks.
func (e *Emulator) renderWebhook(h *hook) webhookJSON {
	j := webhookJSON{
		GID: h.gid, ResourceType: typeWebhook, Active: true,
		Resource: compact{GID: h.resource, ResourceType: h.resType, Name: e.st.nameOf(h.resource)},
		Target:   h.target, CreatedAt: asana.NewTime(h.createdAt), Filters: []filterJSON{},
		IsWorkspaceWebhook: h.resType == typeWorkspace,
	}
	if j.Resource.Name == "" {
		j.Resource.Name = h.resName
	}
	if hl, ok := e.engine.Health(h.gid); ok {
		j.LastFailureAt = timePtr(hl.LastFailureAt)
		j.LastFailureContent = hl.LastFailureContent
		j.LastSuccessAt = timePtr(hl.LastSuccessAt)
		if j.LastSuccessAt == nil && j.LastFailureAt == nil {
			// The handshake counts as a success until the initial
			// heartbeat lands, as on Asana.
			j.LastSuccessAt = asana.TimePtr(h.handshakeAt)
		}
		j.DeliveryRetryCount = hl.RetryCount
		j.NextAttemptAfter = timePtr(hl.NextAttemptAfter)
		j.FailureDeletionTimestamp = timePtr(hl.FailureDeletionAt)
	}
	for _, f := range h.filters {
		j.Filters = append(j.Filters, filterJSON{ResourceType: strPtr(f.ResourceType),
			ResourceSubtype: strPtr(f.ResourceSubtype), Action: strPtr(f.Action), Fields: f.Fields})
	}
	return j
}

// checkTarget validates a webhook target URL; strict mode also refuses
// loopback hosts and plain http, as production Asana does.
func checkTarget(target string, strict bool) error {
	u, err := url.Parse(target)
	if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return errorf(http.StatusBadRequest, "target: Must be an absolute http or https URL")
	}
	if !strict {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || host == "0.0.0.0" {
		return errorf(http.StatusForbidden, "target: Invalid hostname: %s. The target must be a publicly reachable host", host)
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified() || ip.IsPrivate() || ip.IsLinkLocalUnicast()) {
		return errorf(http.StatusForbidden, "target: Invalid hostname: %s. The target must be a publicly reachable host", host)
	}
	if u.Scheme != "https" {
		return errorf(http.StatusForbidden, "target: The target must use https")
	}
	return nil
}

// checkFilters applies §2.7: fields only with action changed, and on
// workspace, team and portfolio webhooks only whitelisted filters (at least
// one, without fields).
func checkFilters(filters []asana.Filter, resType string) error {
	for i, f := range filters {
		if f.Action != "" && !slices.Contains(eventActions, f.Action) {
			return errorf(http.StatusBadRequest, "filters[%d].action: must be one of %s", i, strings.Join(eventActions, ", "))
		}
		if len(f.Fields) > 0 && f.Action != "changed" {
			return errorf(http.StatusBadRequest, "filters[%d].fields: Fields may only be given with the action \"changed\"", i)
		}
	}
	if !slices.Contains(higherLevelTypes, resType) {
		return nil
	}
	bad := &apiError{status: http.StatusBadRequest, message: msgLargerScoped, code: codeLargerScoped, userMessage: msgLargerScoped}
	if len(filters) == 0 {
		return bad
	}
	for _, f := range filters {
		actions, ok := higherLevelAllowed[f.ResourceType]
		if !ok || len(f.Fields) > 0 || f.ResourceSubtype != "" {
			return bad
		}
		if f.Action != "" && !slices.Contains(actions, f.Action) {
			return bad
		}
	}
	return nil
}

// newSecret returns 32 random bytes as hex.
func newSecret() (asana.Secret, error) {
	b := make([]byte, DefaultSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return asana.Secret{}, fmt.Errorf("generate webhook secret: %w", err)
	}
	return asana.NewSecret(hex.EncodeToString(b)), nil
}

// checkCreateLocked runs the checks that need the state: resource, duplicate,
// limits. It returns the resource type.
func (e *Emulator) checkCreateLocked(token, resource, target string) (string, error) {
	s := e.st
	_, kind := s.kind(resource)
	if kind == "" {
		return "", errorf(http.StatusNotFound, "resource: Unknown object: %s", resource)
	}
	if !slices.Contains(webhookResourceTypes, kind) {
		return "", errorf(http.StatusBadRequest, "resource: Webhooks are not supported on resources of type %s", kind)
	}
	perResource, perToken := 0, 0
	for _, hg := range s.hookOrder {
		h := s.hooks[hg]
		if h.resource == resource {
			perResource++
			if h.token == token && h.target == target {
				return "", errorf(http.StatusForbidden, msgDuplicate)
			}
		}
		if h.token == token {
			perToken++
		}
	}
	perResource += e.liveStreamsLocked(resource)
	if perResource >= e.cfg.WebhooksPerResource {
		return "", errorf(http.StatusForbidden, "resource: This resource already has the maximum number of webhooks (%d)", e.cfg.WebhooksPerResource)
	}
	if perToken >= e.cfg.WebhooksPerToken {
		return "", errorf(http.StatusForbidden, "You have reached the maximum number of webhooks (%d) for this user and app", e.cfg.WebhooksPerToken)
	}
	return kind, nil
}

func (e *Emulator) createWebhook(c *call) (*result, error) {
	resource, err := c.in.requiredStr("resource")
	if err != nil {
		return nil, err
	}
	target, err := c.in.requiredStr("target")
	if err != nil {
		return nil, err
	}
	filters, _, err := c.in.filters()
	if err != nil {
		return nil, err
	}
	if !isGID(resource) {
		return nil, notRecognized("resource", resource)
	}
	e.setMu.RLock()
	strict := e.settings.Strict
	e.setMu.RUnlock()
	if err := checkTarget(target, strict); err != nil {
		return nil, err
	}
	e.mu.Lock()
	kind, err := e.checkCreateLocked(c.token, resource, target)
	if err == nil {
		err = checkFilters(filters, kind)
	}
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	gid := e.st.newGID()
	e.mu.Unlock()

	created := e.clk.Now()
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	// The handshake runs while the create request is open, without locks:
	// the receiver may well call the API while answering it.
	if err := e.engine.Handshake(c.r.Context(), gid, target, secret); err != nil {
		// The engine, which ran the handshake, has logged the failure.
		return nil, errorf(e.cfg.HandshakeFailureStatus, "The remote server did not respond to the handshake request correctly: %v", err)
	}

	e.mu.Lock()
	// Re-check: a concurrent create for the same pair may have won.
	if _, err := e.checkCreateLocked(c.token, resource, target); err != nil {
		e.mu.Unlock()
		return nil, err
	}
	h := &hook{gid: gid, token: c.token, resource: resource, resType: kind, resName: e.st.nameOf(resource),
		workspace: e.st.workspaceOf(resource), target: target, secret: secret, filters: filters,
		createdAt: created, handshakeAt: e.clk.Now()}
	e.st.hooks[gid] = h
	e.st.hookOrder = append(e.st.hookOrder, gid)
	// Added under the state lock, so no event fanned out to this webhook
	// can reach the engine before its worker exists. The engine never
	// calls back while holding its own lock, so this cannot deadlock.
	e.engine.Add(delivery.Target{GID: gid, URL: target, Secret: secret})
	data := e.renderWebhook(h)
	e.mu.Unlock()
	e.log.Info("webhook created", "webhook", gid, "resource", resource, "target", target)
	return &result{status: http.StatusCreated, data: data,
		extra:    []kv{{"X-Hook-Secret", secret.Reveal()}},
		location: c.location("webhooks", gid)}, nil
}

// ownHook returns the calling token's webhook gid, 404 otherwise.
func (e *Emulator) ownHookLocked(c *call) (*hook, error) {
	gid, err := pathGID(c.r, "webhook_gid")
	if err != nil {
		return nil, err
	}
	h, ok := e.st.hooks[gid]
	if !ok || h.token != c.token {
		return nil, notFound(gid)
	}
	return h, nil
}

func (e *Emulator) listWebhooks(c *call) (*result, error) {
	ws, err := queryGID(c.r, "workspace")
	if err != nil {
		return nil, err
	}
	q := c.r.URL.Query()
	resource := q.Get("resource")
	if q.Has("resource") && !isGID(resource) {
		return nil, notRecognized("resource", resource)
	}
	p, err := parsePaging(c.r)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.st.workspaces[ws]; !ok {
		return nil, notRecognized("workspace", ws)
	}
	out := []webhookJSON{}
	for _, hg := range e.st.hookOrder {
		h := e.st.hooks[hg]
		if h.token != c.token || h.workspace != ws || (resource != "" && h.resource != resource) {
			continue
		}
		out = append(out, e.renderWebhook(h))
	}
	return pageResult(c.r, p, out), nil
}

func (e *Emulator) getWebhook(c *call) (*result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, err := e.ownHookLocked(c)
	if err != nil {
		return nil, err
	}
	return &result{data: e.renderWebhook(h)}, nil
}

func (e *Emulator) updateWebhook(c *call) (*result, error) {
	filters, present, err := c.in.filters()
	if err != nil {
		return nil, err
	}
	if !present {
		return nil, missingInput("filters")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	h, err := e.ownHookLocked(c)
	if err != nil {
		return nil, err
	}
	if err := checkFilters(filters, h.resType); err != nil {
		return nil, err
	}
	h.filters = filters
	return &result{data: e.renderWebhook(h)}, nil
}

func (e *Emulator) deleteWebhook(c *call) (*result, error) {
	e.mu.Lock()
	h, err := e.ownHookLocked(c)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	e.removeHookLocked(h.gid)
	e.mu.Unlock()
	e.engine.Remove(h.gid)
	e.log.Info("webhook deleted", "webhook", h.gid)
	return &result{data: struct{}{}}, nil
}

func (e *Emulator) removeHookLocked(gid string) {
	delete(e.st.hooks, gid)
	e.st.hookOrder = slices.DeleteFunc(e.st.hookOrder, func(g string) bool { return g == gid })
}

// onEngineDelete is the engine's callback when a webhook failed for too
// long: Asana deletes it, so it is gone from the API too.
func (e *Emulator) onEngineDelete(gid, reason string) {
	e.mu.Lock()
	e.removeHookLocked(gid)
	e.mu.Unlock()
	e.log.Info("webhook deleted by the delivery engine", "webhook", gid, "reason", reason)
}
