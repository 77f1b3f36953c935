package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator/clock"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
)

// MaxEmit caps the events one Emit call makes.
const MaxEmit = 100000

// userOf maps a token to its user, "" meaning the first token.
func (e *Emulator) userOfLocked(token string) (string, error) {
	if token == "" {
		token = e.cfg.Tokens[0]
	}
	u := e.st.userForToken(token)
	if u == "" {
		return "", fmt.Errorf("unknown token")
	}
	return u, nil
}

// Tokens returns the accepted bearer tokens, in order.
func (e *Emulator) Tokens() []string { return slices.Clone(e.cfg.Tokens) }

// Clock returns the emulator's clock.
func (e *Emulator) Clock() clock.Clock { return e.clk }

// WorkspaceGID returns the gid of the first seeded workspace.
func (e *Emulator) WorkspaceGID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st.firstWorkspace
}

// ProjectGID returns the gid of the first seeded project ("" if none).
func (e *Emulator) ProjectGID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st.firstProject
}

// UserGID returns the gid of the user behind token ("" means the first).
func (e *Emulator) UserGID(token string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.userOfLocked(token)
}

// SectionGIDs returns the gids of a project's sections, in order.
func (e *Emulator) SectionGIDs(projectGID string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.st.projects[projectGID]
	if !ok {
		return nil, fmt.Errorf("sections of project %s: no such project", projectGID)
	}
	return slices.Clone(p.sections), nil
}

// CreateTask creates a task in a project as the token's user ("" is the
// first token) and emits its events, as POST /tasks does. It returns the
// task's gid.
func (e *Emulator) CreateTask(token, projectGID, name string) (string, error) {
	var ob outbox
	e.mu.Lock()
	actor, err := e.userOfLocked(token)
	if err != nil {
		e.mu.Unlock()
		return "", fmt.Errorf("create task: %w", err)
	}
	t, err := e.newTaskLocked(&ob, actor, name, []string{projectGID}, "", TaskUpdate{})
	e.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("create task in %s: %w", projectGID, err)
	}
	e.flush(&ob)
	return t.gid, nil
}

// CreateSubtask creates a subtask of parentGID, as POST /tasks/{gid}/subtasks.
func (e *Emulator) CreateSubtask(token, parentGID, name string) (string, error) {
	var ob outbox
	e.mu.Lock()
	actor, err := e.userOfLocked(token)
	if err != nil {
		e.mu.Unlock()
		return "", fmt.Errorf("create subtask: %w", err)
	}
	t, err := e.newTaskLocked(&ob, actor, name, nil, parentGID, TaskUpdate{})
	e.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("create subtask of %s: %w", parentGID, err)
	}
	e.flush(&ob)
	return t.gid, nil
}

// UpdateTask changes a task as PUT /tasks/{gid} does and emits the events.
func (e *Emulator) UpdateTask(token, taskGID string, u TaskUpdate) error {
	var ob outbox
	e.mu.Lock()
	actor, err := e.userOfLocked(token)
	if err == nil {
		t, ok := e.st.tasks[taskGID]
		if !ok {
			err = fmt.Errorf("no such task")
		} else {
			err = e.applyTaskUpdateLocked(&ob, actor, t, u)
		}
	}
	e.mu.Unlock()
	if err != nil {
		return fmt.Errorf("update task %s: %w", taskGID, err)
	}
	e.flush(&ob)
	return nil
}

// DeleteTask deletes a task as DELETE /tasks/{gid} does.
func (e *Emulator) DeleteTask(token, taskGID string) error {
	var ob outbox
	e.mu.Lock()
	actor, err := e.userOfLocked(token)
	if err == nil {
		if t, ok := e.st.tasks[taskGID]; ok {
			e.deleteTaskLocked(&ob, actor, t)
		} else {
			err = fmt.Errorf("no such task")
		}
	}
	e.mu.Unlock()
	if err != nil {
		return fmt.Errorf("delete task %s: %w", taskGID, err)
	}
	e.flush(&ob)
	return nil
}

// AddComment adds a comment story to a task, as POST /tasks/{gid}/stories.
// It returns the story's gid.
func (e *Emulator) AddComment(token, taskGID, text string) (string, error) {
	var ob outbox
	e.mu.Lock()
	actor, err := e.userOfLocked(token)
	var st *story
	if err == nil {
		st, err = e.addCommentLocked(&ob, actor, taskGID, text)
	}
	e.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("comment on task %s: %w", taskGID, err)
	}
	e.flush(&ob)
	return st.gid, nil
}

// Emit makes n synthetic "changed" events (field "notes") on a resource: a
// task, or a project's first task, or the object itself otherwise. They go
// to /events and to webhooks like real ones, without the rate limiter.
func (e *Emulator) Emit(resource string, n int) (int, error) {
	if n < 1 || n > MaxEmit {
		return 0, errorf(http.StatusBadRequest, "count: must be between 1 and %d", MaxEmit)
	}
	var ob outbox
	e.mu.Lock()
	obj, kind := e.st.kind(resource)
	if kind == "" || kind == typeWebhook {
		e.mu.Unlock()
		return 0, errorf(http.StatusNotFound, "resource: Unknown object: %s", resource)
	}
	target := resource
	if kind == typeProject && len(obj.(*project).tasks) > 0 {
		target = obj.(*project).tasks[0]
	}
	actor := e.st.userOrder[0]
	now := e.clk.Now()
	for i := range n {
		// Each synthetic event gets its own millisecond (the last one now),
		// so they are distinct events: a receiver that deduplicates
		// redeliveries must keep every one of them.
		at := now.Add(-time.Duration(n-1-i) * time.Millisecond)
		e.emitLocked(&ob, &event{at: at, user: e.st.refOf(actor), action: "changed",
			resource: *e.st.refOf(target), change: &change{field: "notes", action: "changed"}})
	}
	e.mu.Unlock()
	e.flush(&ob)
	return n, nil
}

// injected is what filter matching reads from an injected event.
type injected struct {
	Action   string `json:"action"`
	Resource struct {
		ResourceType    string `json:"resource_type"`
		ResourceSubtype string `json:"resource_subtype"`
	} `json:"resource"`
	Change *struct {
		Field string `json:"field"`
	} `json:"change"`
}

// Inject delivers raw events, canonicalized as Asana writes JSON, to the
// webhooks on resource and its ancestors (subject to their filters). They do
// not enter /events. It returns how many webhooks got events.
func (e *Emulator) Inject(resource string, events ...json.RawMessage) (int, error) {
	if len(events) == 0 {
		return 0, errorf(http.StatusBadRequest, "events: Missing input")
	}
	canon := make([]json.RawMessage, len(events))
	meta := make([]injected, len(events))
	for i, raw := range events {
		c, err := delivery.Canonicalize(raw)
		if err != nil {
			return 0, errorf(http.StatusBadRequest, "events[%d]: %v", i, err)
		}
		canon[i] = c
		if json.Unmarshal(raw, &meta[i]) != nil {
			return 0, errorf(http.StatusBadRequest, "events[%d]: must be an object", i)
		}
	}
	e.mu.Lock()
	_, kind := e.st.kind(resource)
	if kind == "" {
		e.mu.Unlock()
		return 0, errorf(http.StatusNotFound, "resource: Unknown object: %s", resource)
	}
	scope := e.st.ancestors(resource)
	var ob outbox
	hooks := 0
	for _, hg := range e.st.hookOrder {
		h := e.st.hooks[hg]
		if !slices.Contains(scope, h.resource) {
			continue
		}
		got := false
		for i, m := range meta {
			field := ""
			if m.Change != nil {
				field = m.Change.Field
			}
			if slices.Contains(higherLevelTypes, h.resType) {
				if _, ok := higherLevelAllowed[m.Resource.ResourceType]; !ok {
					continue
				}
			}
			if !filtersPass(h.filters, m.Resource.ResourceType, m.Resource.ResourceSubtype, m.Action, field) {
				continue
			}
			ob.items = append(ob.items, outItem{hook: h.gid, raw: canon[i]})
			got = true
		}
		if got {
			hooks++
		}
	}
	e.mu.Unlock()
	e.flush(&ob)
	return hooks, nil
}

// Deliveries returns every recorded HTTP attempt (handshakes, heartbeats,
// event batches) to a webhook, or to all webhooks when webhookGID is "".
func (e *Emulator) Deliveries(webhookGID string) []delivery.Record {
	return e.engine.Records(webhookGID)
}

// Heartbeat sends a heartbeat now to a webhook ("" for all) and returns how
// many were triggered.
func (e *Emulator) Heartbeat(webhookGID string) int { return e.engine.Heartbeat(webhookGID) }

// SetFaults sets the delivery engine's fault injection.
func (e *Emulator) SetFaults(f delivery.Faults) { e.engine.SetFaults(f) }

// WebhookGIDs returns the gids of the live webhooks, oldest first.
func (e *Emulator) WebhookGIDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.st.hookOrder)
}

// StateCounts counts the emulator's objects, for GET /_emulator/state.
type StateCounts struct {
	Users      int `json:"users"`
	Workspaces int `json:"workspaces"`
	Projects   int `json:"projects"`
	Sections   int `json:"sections"`
	Tasks      int `json:"tasks"`
	Stories    int `json:"stories"`
	Webhooks   int `json:"webhooks"`
	Events     int `json:"events"`
	SyncTokens int `json:"sync_tokens"`
	Streams    int `json:"streams"`
	Deliveries int `json:"deliveries"`
	Pending    int `json:"pending"`
}

// State returns the counts of the emulator's objects.
func (e *Emulator) State() StateCounts {
	e.mu.Lock()
	s := StateCounts{Users: len(e.st.users), Workspaces: len(e.st.workspaces), Projects: len(e.st.projects),
		Sections: len(e.st.sections), Tasks: len(e.st.tasks), Stories: len(e.st.stories),
		Webhooks: len(e.st.hooks), Events: len(e.events), SyncTokens: len(e.syncs), Streams: len(e.streams)}
	hooks := slices.Clone(e.st.hookOrder)
	e.mu.Unlock()
	s.Deliveries = len(e.engine.Records(""))
	for _, h := range hooks {
		s.Pending += e.engine.Pending(h)
	}
	return s
}

// Reset restores the seed: every object, webhook, event, sync token and
// delivery record is dropped and the seed is loaded again (same gids). Gids
// handed out later are never reused: a create still in its handshake, or a
// webhook being deleted, may refer to one after the reset.
func (e *Emulator) Reset() error {
	st, err := newState(e.cfg.Seed, e.cfg.Tokens, e.clk.Now())
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	// The state goes first: a webhook created from now on is in the new
	// state. The engine's reset may stop its worker too; it gets it back
	// below, so the API and the engine agree once Reset returns.
	e.mu.Lock()
	st.nextGID = max(st.nextGID, e.st.nextGID)
	e.st = st
	e.events = nil
	e.syncs = map[string]*syncToken{}
	e.streams = map[string]*stream{}
	e.mu.Unlock()
	e.engine.Reset()
	e.mu.Lock()
	for _, g := range e.st.hookOrder {
		if _, ok := e.engine.Health(g); !ok {
			h := e.st.hooks[g]
			e.engine.Add(delivery.Target{GID: g, URL: h.target, Secret: h.secret})
		}
	}
	e.mu.Unlock()
	e.limMu.Lock()
	e.windows = map[string][]time.Time{}
	e.limMu.Unlock()
	return nil
}
