package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"time"
)

// syncToken is an /events cursor. Its first response is cached, so that
// replaying the current token returns the same result.
type syncToken struct {
	resource string
	stream   string
	cursor   int64 // events with a greater seq are after the token
	issued   time.Time
	cached   *result
	// prev is the token this one was issued for; it is dropped once this
	// one is used, as Asana does not promise older tokens work.
	prev string
}

// stream is one /events subscription; live streams count toward the
// per-resource webhook limit.
type stream struct {
	resource   string
	lastActive time.Time
	used       int64 // Emulator.streamUses when last used: orders streams on any clock
}

// randomHex returns n random bytes as hex. crypto/rand.Read does not fail
// (since Go 1.24 it never returns an error).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// liveStreamsLocked counts the unexpired /events streams on a resource.
func (e *Emulator) liveStreamsLocked(resource string) int {
	cutoff := e.clk.Now().Add(-e.cfg.EventsTTL)
	n := 0
	for _, s := range e.streams {
		if s.resource == resource && s.lastActive.After(cutoff) {
			n++
		}
	}
	return n
}

// pruneSyncLocked drops expired tokens and streams.
func (e *Emulator) pruneSyncLocked() {
	cutoff := e.clk.Now().Add(-e.cfg.EventsTTL)
	for k, t := range e.syncs {
		if !t.issued.After(cutoff) {
			delete(e.syncs, k)
		}
	}
	for k, s := range e.streams {
		if !s.lastActive.After(cutoff) {
			delete(e.streams, k)
		}
	}
}

// newTokenLocked issues a token on a stream at cursor.
func (e *Emulator) newTokenLocked(resource, streamID string, cursor int64, prev string) string {
	tok := randomHex(16)
	now := e.clk.Now()
	e.syncs[tok] = &syncToken{resource: resource, stream: streamID, cursor: cursor, issued: now, prev: prev}
	e.streamUses++
	if s, ok := e.streams[streamID]; ok {
		s.lastActive, s.used = now, e.streamUses
	} else {
		e.streams[streamID] = &stream{resource: resource, lastActive: now, used: e.streamUses}
	}
	return tok
}

// resyncLocked opens a new stream on resource at the log head and returns
// the 412 carrying its first token. The resource's least recently used
// streams (and their tokens) make room first: streams count toward the
// per-resource webhook limit, so more than that are never live.
func (e *Emulator) resyncLocked(resource string) *apiError {
	for {
		n, oldestID := 0, ""
		var oldest *stream
		for id, s := range e.streams {
			if s.resource != resource {
				continue
			}
			n++
			if oldest == nil || s.used < oldest.used {
				oldestID, oldest = id, s
			}
		}
		if n < e.cfg.WebhooksPerResource {
			break
		}
		delete(e.streams, oldestID)
		for k, t := range e.syncs {
			if t.stream == oldestID {
				delete(e.syncs, k)
			}
		}
	}
	fresh := e.newTokenLocked(resource, randomHex(8), e.nextSeq, "")
	return &apiError{status: http.StatusPreconditionFailed, message: msgSyncInvalid, sync: fresh}
}

// serveEvents answers /events for resource with at most pageSize events.
func (e *Emulator) serveEvents(c *call, resource string, pageSize int) (*result, error) {
	sync := c.r.URL.Query().Get("sync")
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pruneSyncLocked()
	e.pruneEventsLocked()
	now := e.clk.Now()
	tok, ok := e.syncs[sync]
	if sync == "" || !ok || tok.resource != resource || now.Sub(tok.issued) >= e.cfg.EventsTTL {
		return nil, e.resyncLocked(resource)
	}
	if tok.cached != nil {
		return tok.cached, nil
	}
	if tok.cursor < e.dropped {
		// Events after the token were dropped for room: too old now.
		delete(e.syncs, sync)
		return nil, e.resyncLocked(resource)
	}
	data := []namedEvent{}
	cursor := e.nextSeq
	hasMore := false
	for _, ev := range e.events {
		if ev.seq <= tok.cursor || !slices.Contains(ev.scope, resource) {
			continue
		}
		if len(data) == pageSize {
			hasMore = true
			break
		}
		data = append(data, ev.eventsForm())
		cursor = ev.seq
	}
	if !hasMore {
		cursor = e.nextSeq
	}
	// Only the current token and the one before it stay valid: replaying
	// the current one is safe, going further back is not promised.
	if tok.prev != "" {
		delete(e.syncs, tok.prev)
	}
	next := e.newTokenLocked(resource, tok.stream, cursor, sync)
	res := &result{data: data, extra: []kv{{"sync", next}, {"has_more", hasMore}}}
	tok.cached = res
	return res, nil
}

func (e *Emulator) getEvents(c *call) (*result, error) {
	resource, err := queryGID(c.r, "resource")
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	_, kind := e.st.kind(resource)
	e.mu.Unlock()
	if kind == "" || kind == typeWebhook || kind == typeUser {
		return nil, notFound(resource)
	}
	return e.serveEvents(c, resource, 100)
}

func (e *Emulator) getWorkspaceEvents(c *call) (*result, error) {
	ws, err := pathGID(c.r, "workspace_gid")
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	_, ok := e.st.workspaces[ws]
	e.mu.Unlock()
	if !ok {
		return nil, notFound(ws)
	}
	return e.serveEvents(c, ws, 1000)
}
