// Package receiver is the inspector's public http.Handler: the target of every
// webhook we own. It accepts a handshake only inside the window of a create in
// flight, verifies every delivery over its raw bytes with that webhook's own
// secret, and stores the delivery before it answers 200, so an acknowledged
// delivery survives a crash.
//
// Routes:
//
//	POST /hooks/{hookID}      handshake (X-Hook-Secret) or delivery (X-Hook-Signature)
//	GET  /_preflight/{nonce}  echoes nonce, so the inspector can check its public URL reaches it
//
// Anything else is 404 (or 405 for a known path with another method).
//
// A POST with X-Hook-Secret is a handshake. Any other POST is a delivery and
// needs a valid X-Hook-Signature (401 otherwise), except that a POST with
// neither header and no body gets 400: it is not a delivery at all.
package receiver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// Defaults of Config.
const (
	// DefaultMaxBodyBytes caps a delivery body; larger ones get 413.
	DefaultMaxBodyBytes = 8 << 20
	// DefaultCommitTimeout bounds the wait for the store: past it the
	// delivery gets 503, so Asana retries well inside its 10 s deadline.
	DefaultCommitTimeout = 5 * time.Second
	// DefaultRetryAfter is the Retry-After sent with 503.
	DefaultRetryAfter = time.Second
)

// HeaderRequestID carries the request id in responses; it is on every log line
// of the request too.
const HeaderRequestID = "X-Request-Id"

// Config configures a Handler.
type Config struct {
	// Store keeps secrets and deliveries. Required.
	Store inspector.Store
	// Windows says which hooks may take a handshake now. Required.
	Windows *inspector.HandshakeWindows
	// Logger receives one line per rejected or failed request (with its
	// request id) and, at debug level, one per accepted one. Nil discards.
	Logger *slog.Logger
	// MaxBodyBytes, CommitTimeout and RetryAfter default to the constants
	// above.
	MaxBodyBytes  int64
	CommitTimeout time.Duration
	RetryAfter    time.Duration
	// Now is the clock of ReceivedAt; nil is time.Now.
	Now func() time.Time
	// OnDelivery, if set, is called with every stored delivery after its
	// 200 has been written. It runs on the request's goroutine: it must not
	// block (hand the value to a buffered channel, dropping when full).
	OnDelivery func(inspector.RecordResult)
	// OnHandshake, if set, is called after a handshake was accepted and
	// echoed, with the hook's id. Same rules as OnDelivery.
	OnHandshake func(hookID string)
}

// Handler is the public receiver. Build it with New.
type Handler struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Windows == nil {
		return nil, errors.New("new receiver: a store and handshake windows are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = DefaultCommitTimeout
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /hooks/{hookID}", h.wrap(h.serveHook))
	h.mux.HandleFunc("GET /_preflight/{nonce}", h.wrap(h.servePreflight))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := requestID(r.Context())
	if id == "" {
		id = newRequestID()
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	}
	w.Header().Set(HeaderRequestID, id)
	h.mux.ServeHTTP(w, r)
}

// handlerFunc is a route that returns its failure instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request, log *requestLog) error

// requestLog logs for one request, every line with the request's fields. It
// adds them per line rather than through slog.Logger.With, so that a request
// that logs nothing at the enabled levels (nearly every delivery) costs no
// allocation for them.
type requestLog struct {
	base  *slog.Logger
	attrs []any
}

// with adds fields to every later line.
func (l *requestLog) with(args ...any) { l.attrs = append(l.attrs, args...) }

// enabled reports whether a line at level would be written.
func (l *requestLog) enabled(level slog.Level) bool {
	return l.base.Enabled(context.Background(), level)
}

// log writes a line at level, if enabled, with the request's fields first.
func (l *requestLog) log(level slog.Level, msg string, args ...any) {
	if !l.enabled(level) {
		return
	}
	all := make([]any, 0, len(l.attrs)+len(args))
	l.base.Log(context.Background(), level, msg, append(append(all, l.attrs...), args...)...)
}

// wrap turns a handlerFunc into an http.HandlerFunc: it gives the route a
// logger carrying the request id and writes any error through respondError.
func (h *Handler) wrap(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		log := &requestLog{base: h.log, attrs: make([]any, 0, 8)}
		log.with("request_id", requestID(r.Context()), "method", r.Method, "path", r.URL.Path)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				// The panic value may hold request data; log only its type.
				log.log(slog.LevelError, "receiver panic", "panic_type", fmt.Sprintf("%T", p))
				respondError(w, log, &httpError{status: http.StatusInternalServerError, msg: "internal error"})
			}
		}()
		if err := fn(w, r, log); err != nil {
			respondError(w, log, err)
		}
	}
}

// httpError is a failure with the status and the short message the client
// gets; logMsg and attrs are for our log only. Neither ever holds a secret or
// an expected signature.
type httpError struct {
	status     int
	msg        string // for the client
	logMsg     string // for the log; defaults to msg
	level      slog.Level
	retryAfter time.Duration
	err        error // cause, logged
	attrs      []any
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

// respondError is the one place that turns an error into a response.
func respondError(w http.ResponseWriter, log *requestLog, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{status: http.StatusInternalServerError, msg: "internal error", level: slog.LevelError, err: err}
	}
	msg := he.logMsg
	if msg == "" {
		msg = he.msg
	}
	attrs := append([]any{"status", he.status}, he.attrs...)
	if he.err != nil {
		attrs = append(attrs, "err", he.err.Error())
	}
	log.log(he.level, msg, attrs...)
	if he.retryAfter > 0 {
		secs := int((he.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeText(w, he.status, he.msg+"\n")
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// serveHook is POST /hooks/{hookID}.
func (h *Handler) serveHook(w http.ResponseWriter, r *http.Request, log *requestLog) error {
	received := h.cfg.Now()
	hookID := r.PathValue("hookID")
	if !inspector.ValidHookID(hookID) {
		return &httpError{status: http.StatusNotFound, msg: "not found", logMsg: "post to a malformed hook path", level: slog.LevelWarn}
	}
	log.with("hook_id", hookID)
	ctx, cancel := context.WithDeadline(r.Context(), received.Add(h.cfg.CommitTimeout))
	defer cancel()
	_, hasSecret := r.Header[asana.HeaderSecret]
	if hasSecret {
		return h.handshake(ctx, w, r, hookID, log)
	}
	return h.delivery(ctx, w, r, hookID, received, log)
}

// handshake answers Asana's X-Hook-Secret request for a webhook being
// created. It never logs the value.
func (h *Handler) handshake(ctx context.Context, w http.ResponseWriter, r *http.Request, hookID string, log *requestLog) error {
	values := r.Header.Values(asana.HeaderSecret)
	if len(values) != 1 {
		return &httpError{status: http.StatusBadRequest, msg: "exactly one X-Hook-Secret header is required",
			logMsg: "handshake rejected: several X-Hook-Secret headers", level: slog.LevelWarn}
	}
	value := values[0]
	if value == "" {
		return &httpError{status: http.StatusBadRequest, msg: "empty X-Hook-Secret",
			logMsg: "handshake rejected: empty X-Hook-Secret", level: slog.LevelWarn}
	}
	open, err := h.windowOpen(ctx, hookID)
	if err != nil {
		return &httpError{status: http.StatusServiceUnavailable, msg: "storage unavailable, try again",
			logMsg: "handshake not checked: shared windows unavailable", level: slog.LevelError, retryAfter: h.cfg.RetryAfter, err: err}
	}
	if !open {
		return &httpError{status: http.StatusForbidden, msg: "no webhook creation is in progress for this path",
			logMsg: "handshake rejected: no create in flight for this hook", level: slog.LevelWarn}
	}
	err = h.cfg.Store.SaveHandshake(ctx, hookID, asana.NewSecret(value))
	switch {
	case err == nil:
	case errors.Is(err, inspector.ErrSecretConflict):
		return &httpError{status: http.StatusConflict, msg: "a different secret was already received for this webhook",
			logMsg: "handshake rejected: a different secret is already stored", level: slog.LevelWarn}
	case errors.Is(err, inspector.ErrNotFound), errors.Is(err, inspector.ErrInvalidState):
		return &httpError{status: http.StatusForbidden, msg: "no webhook creation is in progress for this path",
			logMsg: "handshake rejected: hook unknown or deleted", level: slog.LevelWarn, err: err}
	case errors.Is(err, inspector.ErrInvalid):
		return &httpError{status: http.StatusBadRequest, msg: "invalid X-Hook-Secret",
			logMsg: "handshake rejected: invalid secret", level: slog.LevelWarn}
	default:
		return &httpError{status: http.StatusServiceUnavailable, msg: "storage unavailable, try again",
			logMsg: "handshake not stored", level: slog.LevelError, retryAfter: h.cfg.RetryAfter, err: err}
	}
	w.Header().Set(asana.HeaderSecret, value)
	writeText(w, http.StatusOK, "ok\n")
	log.log(slog.LevelInfo, "handshake accepted")
	if h.cfg.OnHandshake != nil {
		flush(w)
		h.cfg.OnHandshake(hookID)
	}
	return nil
}

// windowOpen reports whether a hook's handshake window is open: in this
// process, or, with a store that replicas share, in any of them.
func (h *Handler) windowOpen(ctx context.Context, hookID string) (bool, error) {
	if h.cfg.Windows.IsOpen(hookID) {
		return true, nil
	}
	if shared, ok := h.cfg.Store.(inspector.SharedWindows); ok {
		return shared.HandshakeWindowOpen(ctx, hookID)
	}
	return false, nil
}

// delivery verifies, stores and acknowledges a delivery.
func (h *Handler) delivery(ctx context.Context, w http.ResponseWriter, r *http.Request, hookID string, received time.Time, log *requestLog) error {
	if r.ContentLength > h.cfg.MaxBodyBytes {
		return &httpError{status: http.StatusRequestEntityTooLarge, msg: "body too large",
			level: slog.LevelWarn, attrs: []any{"content_length", r.ContentLength}}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &httpError{status: http.StatusRequestEntityTooLarge, msg: "body too large", level: slog.LevelWarn}
		}
		return &httpError{status: http.StatusBadRequest, msg: "could not read the body", level: slog.LevelWarn, err: err}
	}
	sigs, hasSig := r.Header[asana.HeaderSignature]
	if !hasSig && len(body) == 0 {
		return &httpError{status: http.StatusBadRequest, msg: "neither X-Hook-Secret nor X-Hook-Signature",
			logMsg: "request rejected: neither X-Hook-Secret nor X-Hook-Signature", level: slog.LevelWarn}
	}
	unauthorized := func(reason string, err error) error {
		// One message for every reason, so the client learns nothing.
		return &httpError{status: http.StatusUnauthorized, msg: "invalid signature",
			logMsg: "delivery rejected: " + reason, level: slog.LevelWarn, err: err, attrs: []any{"bytes", len(body)}}
	}
	if !hasSig {
		return unauthorized("missing X-Hook-Signature", nil)
	}
	if len(sigs) != 1 {
		return unauthorized("several X-Hook-Signature headers", nil)
	}
	secret, err := h.cfg.Store.Secret(ctx, hookID)
	switch {
	case errors.Is(err, inspector.ErrNotFound), errors.Is(err, inspector.ErrNoSecret):
		return unauthorized("no secret for this hook", nil)
	case err != nil:
		return &httpError{status: http.StatusServiceUnavailable, msg: "storage unavailable, try again",
			logMsg: "delivery not verified: secret unavailable", level: slog.LevelError, retryAfter: h.cfg.RetryAfter, err: err}
	}
	if !asana.Verify(secret, body, sigs[0]) {
		return unauthorized("signature does not match", nil)
	}

	parsed := inspector.ParseDeliveryBody(body)
	d := inspector.Delivery{
		HookID:     hookID,
		ReceivedAt: received,
		RequestID:  requestID(r.Context()),
		RemoteAddr: r.RemoteAddr,
		Query:      r.URL.RawQuery,
		Headers:    inspector.RedactHeaders(r.Header),
		Body:       body,
		Kind:       parsed.Kind,
		Problem:    parsed.Problem,
	}
	res, err := h.cfg.Store.RecordDelivery(ctx, d, parsed.Events)
	if err != nil {
		return &httpError{status: http.StatusServiceUnavailable, msg: "not stored, try again",
			logMsg: "delivery not stored", level: slog.LevelError, retryAfter: h.cfg.RetryAfter, err: err}
	}
	reply := appendReply(make([]byte, 0, 96), res.Delivery)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(reply)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(reply)

	level, msg := slog.LevelDebug, "delivery stored"
	if parsed.Kind == inspector.KindMalformed {
		level, msg = slog.LevelWarn, "malformed delivery stored and acknowledged"
	}
	if log.enabled(level) {
		attrs := []any{"delivery_id", res.Delivery.ID, "kind", string(res.Delivery.Kind),
			"events", res.Delivery.EventCount, "new_events", res.Delivery.NewEventCount}
		if parsed.Kind == inspector.KindMalformed {
			attrs = append(attrs, "problem", parsed.Problem)
		}
		log.log(level, msg, attrs...)
	}
	if h.cfg.OnDelivery != nil {
		flush(w)
		h.cfg.OnDelivery(res)
	}
	return nil
}

// appendReply appends the body of a delivery's 200: its id, kind and counts,
// as one line of JSON.
func appendReply(b []byte, d inspector.Delivery) []byte {
	b = append(b, `{"delivery_id":`...)
	b = strconv.AppendInt(b, d.ID, 10)
	b = append(b, `,"kind":`...)
	b = strconv.AppendQuote(b, string(d.Kind)) // one of three plain words
	b = append(b, `,"events":`...)
	b = strconv.AppendInt(b, int64(d.EventCount), 10)
	b = append(b, `,"new_events":`...)
	b = strconv.AppendInt(b, int64(d.NewEventCount), 10)
	return append(b, "}\n"...)
}

// maxNonce bounds the pre-flight nonce.
const maxNonce = 128

// servePreflight is GET /_preflight/{nonce}: it echoes a nonce of letters,
// digits, '-' and '_', so the orchestration can check that its public URL
// reaches this process.
func (h *Handler) servePreflight(w http.ResponseWriter, r *http.Request, log *requestLog) error {
	nonce := r.PathValue("nonce")
	if nonce == "" || len(nonce) > maxNonce {
		return &httpError{status: http.StatusNotFound, msg: "not found", level: slog.LevelDebug}
	}
	for i := 0; i < len(nonce); i++ {
		c := nonce[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return &httpError{status: http.StatusNotFound, msg: "not found", level: slog.LevelDebug}
		}
	}
	writeText(w, http.StatusOK, nonce)
	log.log(slog.LevelDebug, "pre-flight answered")
	return nil
}

// PreflightPath returns the path of the pre-flight request for nonce.
func PreflightPath(nonce string) string { return "/_preflight/" + nonce }

// HookPath returns the target path of a hook.
func HookPath(hookID string) string { return "/hooks/" + hookID }

func flush(w http.ResponseWriter) {
	_ = http.NewResponseController(w).Flush()
}

type requestIDKey struct{}

// requestID returns the request id in ctx, or "".
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// newRequestID returns 64 random bits in hex.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
