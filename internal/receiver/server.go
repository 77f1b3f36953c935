package receiver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Defaults of ServerOptions. WriteTimeout leaves room for DefaultCommitTimeout.
const (
	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included.
	DefaultReadTimeout = 15 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to
	// the end of the response.
	DefaultWriteTimeout = 20 * time.Second
	// DefaultIdleTimeout bounds an idle keep-alive connection.
	DefaultIdleTimeout = 90 * time.Second
	// DefaultMaxHeaderBytes caps the size of a request's headers.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxInFlight caps the requests served at once.
	DefaultMaxInFlight = 256
)

// ServerOptions harden the public server. Zero fields take the defaults above.
type ServerOptions struct {
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout and
	// MaxHeaderBytes are http.Server's settings of the same names.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// MaxInFlight caps the requests served at once; the next get 503 with
	// Retry-After.
	MaxInFlight int
	// RetryAfter is sent with those 503s; zero is DefaultRetryAfter.
	RetryAfter time.Duration
	// Logger receives the server's own errors; nil discards them.
	Logger *slog.Logger
}

// NewServer returns an http.Server for the public port serving h, with every
// timeout and the header size limit set, and h behind LimitInFlight. The
// caller runs it (Serve or ListenAndServe) and shuts it down.
func NewServer(addr string, h http.Handler, opts ServerOptions) *http.Server {
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &http.Server{
		Addr:              addr,
		Handler:           LimitInFlight(h, opts.MaxInFlight, opts.RetryAfter, opts.Logger),
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
}

// LimitInFlight serves at most max requests at once through next; the others
// get 503 with Retry-After at once, so a flood cannot queue unbounded work.
func LimitInFlight(next http.Handler, max int, retryAfter time.Duration, log *slog.Logger) http.Handler {
	if max <= 0 {
		max = DefaultMaxInFlight
	}
	if retryAfter <= 0 {
		retryAfter = DefaultRetryAfter
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sem := make(chan struct{}, max)
	secs := strconv.Itoa(int((retryAfter + time.Second - 1) / time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
			next.ServeHTTP(w, r)
		default:
			id := newRequestID()
			r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
			w.Header().Set(HeaderRequestID, id)
			w.Header().Set("Retry-After", secs)
			log.Warn("request rejected: too many in flight", "request_id", id, "method", r.Method,
				"path", r.URL.Path, "max_in_flight", max, "status", http.StatusServiceUnavailable)
			writeText(w, http.StatusServiceUnavailable, "too many requests in flight, try again\n")
		}
	})
}
