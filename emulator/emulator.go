package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator/clock"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
)

// apiPrefix is where the API lives, as on app.asana.com.
const apiPrefix = "/api/1.0"

// adminPrefix is where the emulator's own admin API lives.
const adminPrefix = "/_emulator/"

// Emulator is one emulated Asana: its data, webhooks, event log and delivery
// engine. Serve it with Handler, or use Start for a listening Server.
type Emulator struct {
	cfg    Config
	clk    clock.Clock
	log    *slog.Logger
	engine *delivery.Engine
	api    *http.ServeMux
	admin  *http.ServeMux

	mu      sync.Mutex
	st      *state
	events  []*event // the /events log, oldest first
	nextSeq int64
	dropped int64 // the highest seq dropped from the log for lack of room
	syncs   map[string]*syncToken
	streams map[string]*stream
	// streamUses counts stream uses, to find the least recently used.
	streamUses int64

	setMu    sync.RWMutex
	settings settings

	limMu    sync.Mutex
	windows  map[string][]time.Time
	inflight map[string]*[2]int // token -> [reads, writes]
}

// settings are what the admin API may change at run time.
type settings struct {
	Strict    bool `json:"strict"`
	RateLimit int  `json:"rate_limit"` // per minute; <= 0 off
	MaxReads  int  `json:"max_reads"`  // <= 0 off
	MaxWrites int  `json:"max_writes"` // <= 0 off
}

// New builds an Emulator from cfg (zero fields get their defaults).
func New(cfg Config) (*Emulator, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Seed.validate(); err != nil {
		return nil, fmt.Errorf("new emulator: %w", err)
	}
	st, err := newState(cfg.Seed, cfg.Tokens, cfg.Clock.Now())
	if err != nil {
		return nil, fmt.Errorf("new emulator: %w", err)
	}
	e := &Emulator{
		cfg:      cfg,
		clk:      cfg.Clock,
		log:      cfg.Logger,
		st:       st,
		syncs:    map[string]*syncToken{},
		streams:  map[string]*stream{},
		windows:  map[string][]time.Time{},
		inflight: map[string]*[2]int{},
		settings: settings{
			Strict:    cfg.Strict,
			RateLimit: cfg.RateLimit,
			MaxReads:  cfg.MaxReads,
			MaxWrites: cfg.MaxWrites,
		},
	}
	e.engine = delivery.New(cfg.Delivery, cfg.Clock, cfg.Logger, e.onEngineDelete)
	e.api = http.NewServeMux()
	e.routes()
	e.admin = http.NewServeMux()
	e.adminRoutes()
	return e, nil
}

// Close stops the delivery engine and waits for its goroutines.
func (e *Emulator) Close() { e.engine.Close() }

// Handler returns the emulator's HTTP handler: the API under /api/1.0 and the
// admin API under /_emulator/.
func (e *Emulator) Handler() http.Handler { return http.HandlerFunc(e.serveHTTP) }

// call is the per-request context handed to API handlers.
type call struct {
	r     *http.Request
	token string
	user  string // gid of the token's user
	in    *input // POST and PUT only
}

type callKey struct{}

// apiHandler is a handler of the Asana API.
type apiHandler func(c *call) (*result, error)

// handle registers an API route; pattern is "METHOD /path" under /api/1.0.
func (e *Emulator) handle(pattern string, h apiHandler) {
	method, p, _ := strings.Cut(pattern, " ")
	e.api.HandleFunc(method+" "+apiPrefix+p, func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(callKey{}).(*call)
		if c == nil {
			writeError(w, errorf(http.StatusInternalServerError, msgServerError), false)
			return
		}
		c.r = r
		pretty := optPretty(r, c.in)
		// opt_fields are checked before the handler, so a request refused
		// for them changes nothing.
		fields, aerr := parseFieldPaths(optFields(r, c.in))
		if aerr != nil {
			writeError(w, aerr, pretty)
			return
		}
		res, err := h(c)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				e.log.Error("api handler failed", "method", r.Method, "path", r.URL.Path, "err", err)
				ae = errorf(http.StatusInternalServerError, msgServerError)
			}
			writeError(w, ae, pretty)
			return
		}
		if res.location != "" {
			w.Header().Set("Location", res.location)
		}
		status := res.status
		if status == 0 {
			status = http.StatusOK
		}
		body, err := renderBody(res, fields)
		if err != nil {
			e.log.Error("render response", "path", r.URL.Path, "err", err)
			writeError(w, errorf(http.StatusInternalServerError, msgServerError), pretty)
			return
		}
		writeJSON(w, status, body, pretty)
	})
}

// serveHTTP is the front door: panics become 500s, unknown routes 404s, then
// body checks, auth, rate and concurrency limits, then the route.
func (e *Emulator) serveHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			e.log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			writeError(w, errorf(http.StatusInternalServerError, msgServerError), false)
		}
	}()
	if strings.HasPrefix(r.URL.Path, adminPrefix) {
		e.serveAdmin(w, r)
		return
	}
	pretty := optPretty(r, nil)
	if path.Clean(r.URL.Path) != r.URL.Path || !strings.HasPrefix(r.URL.Path, apiPrefix+"/") {
		writeError(w, errorf(http.StatusNotFound, msgNoRoute), pretty)
		return
	}
	if _, pattern := e.api.Handler(r); pattern == "" {
		writeError(w, errorf(http.StatusNotFound, msgNoRoute), pretty)
		return
	}
	body, aerr := e.readBody(r)
	if aerr != nil {
		writeError(w, aerr, pretty)
		return
	}
	if r.Method == http.MethodGet && len(body) > 0 {
		writeError(w, errorf(http.StatusBadRequest, msgGetWithBody), pretty)
		return
	}
	token, ok := bearer(r)
	e.mu.Lock()
	userGID := e.st.userForToken(token)
	e.mu.Unlock()
	if !ok || userGID == "" {
		writeError(w, errorf(http.StatusUnauthorized, msgNotAuthorized), pretty)
		return
	}
	if aerr := e.rateLimit(token); aerr != nil {
		writeError(w, aerr, pretty)
		return
	}
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	release, aerr := e.acquire(token, write)
	if aerr != nil {
		writeError(w, aerr, pretty)
		return
	}
	defer release()
	c := &call{token: token, user: userGID}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		in, err := decodeInput(r, body)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = errorf(http.StatusBadRequest, "%s", err.Error())
			}
			writeError(w, ae, pretty)
			return
		}
		c.in = in
	} else {
		c.in = &input{fields: map[string]any{}, options: map[string]any{}}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	e.api.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
}

// readBody reads the whole request body up to the configured cap.
func (e *Emulator) readBody(r *http.Request) ([]byte, *apiError) {
	if r.Body == nil {
		return nil, nil
	}
	limit := e.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, msgBodyTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "Could not read the request body")
	}
	if int64(len(b)) > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, msgBodyTooLarge)
	}
	return b, nil
}

// bearer extracts the bearer token of a request.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// rateLimit applies the per-token sliding one-minute window. Rejected
// requests count too, as on Asana.
func (e *Emulator) rateLimit(token string) *apiError {
	e.setMu.RLock()
	limit := e.settings.RateLimit
	e.setMu.RUnlock()
	if limit <= 0 {
		return nil
	}
	now := e.clk.Now()
	e.limMu.Lock()
	defer e.limMu.Unlock()
	win := e.windows[token]
	cut := 0
	for cut < len(win) && now.Sub(win[cut]) >= time.Minute {
		cut++
	}
	win = win[cut:]
	allowed := len(win) < limit
	// Keep the window bounded even under a flood of rejected requests.
	if len(win) < 10*limit+1000 {
		win = append(win, now)
	}
	e.windows[token] = win
	if allowed {
		return nil
	}
	// Retry once enough of the window has slid out to fall under the limit.
	idx := len(win) - limit
	if idx < 0 {
		idx = 0
	}
	wait := win[idx].Add(time.Minute).Sub(now)
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return &apiError{status: http.StatusTooManyRequests, message: msgRateLimited, retryAfter: secs}
}

// acquire takes a read or write slot of the token's concurrency budget.
func (e *Emulator) acquire(token string, write bool) (func(), *apiError) {
	e.setMu.RLock()
	maxReads, maxWrites := e.settings.MaxReads, e.settings.MaxWrites
	e.setMu.RUnlock()
	i, limit := 0, maxReads
	if write {
		i, limit = 1, maxWrites
	}
	e.limMu.Lock()
	defer e.limMu.Unlock()
	n := e.inflight[token]
	if n == nil {
		n = &[2]int{}
		e.inflight[token] = n
	}
	if limit > 0 && n[i] >= limit {
		return nil, &apiError{status: http.StatusTooManyRequests, message: msgConcurrency, retryAfter: 1}
	}
	n[i]++
	return func() {
		e.limMu.Lock()
		n[i]--
		e.limMu.Unlock()
	}, nil
}
