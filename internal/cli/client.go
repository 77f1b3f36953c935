package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// UserAgent is the User-Agent the API client sends.
func (a *App) UserAgent() string { return "asana-webhooks/" + a.Version }

// Client returns an API client built from the configuration. The token is
// checked first: when it is missing the error is a one-line configuration
// error naming --token and ASANA_PAT (exit 2). An invalid API URL is also a
// configuration error. Every wait before a retry is announced on Stderr with
// the failure that caused it, so a call to an API that does not answer shows
// progress instead of silence.
func (a *App) Client() (*asana.Client, error) {
	cfg, err := a.Config()
	if err != nil {
		return nil, err
	}
	if err := cfg.RequireToken(); err != nil {
		return nil, &configError{err: err}
	}
	base, err := cfg.BaseURL()
	if err != nil {
		return nil, &configError{err: err}
	}
	rt := &failureRecorder{next: http.DefaultTransport}
	return asana.NewClient(cfg.Token,
		asana.WithBaseURL(base),
		asana.WithUserAgent(a.UserAgent()),
		asana.WithHTTPClient(&http.Client{Transport: rt}),
		asana.WithSleep(func(ctx context.Context, d time.Duration) error {
			fmt.Fprintf(a.Stderr, "asana-webhooks: warning: %s; retrying in %s (Ctrl+C to stop)\n", rt.last(), d.Round(time.Millisecond))
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}),
	), nil
}

// failureRecorder remembers the last failed API request (a transport error
// or a 429 or 5xx status) so that the retry notice can say why it waits.
// Concurrent calls share it: the notice then names one of the recent
// failures.
type failureRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	msg  string // guarded by mu
}

// RoundTrip implements http.RoundTripper.
func (f *failureRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := f.next.RoundTrip(req)
	switch {
	case err != nil:
		f.set(fmt.Sprintf("%s %s: %s", req.Method, req.URL.Redacted(), transportReason(err)))
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		f.set(fmt.Sprintf("%s %s: %s", req.Method, req.URL.Redacted(), res.Status))
	}
	return res, err
}

func (f *failureRecorder) set(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msg = msg
}

// last is the latest failure, or a generic phrase before any.
func (f *failureRecorder) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.msg == "" {
		return "the API call failed"
	}
	return f.msg
}

// transportReason is the end of a transport error's chain: "connection
// refused" rather than the whole "dial tcp 127.0.0.1:1: connect: ...".
func transportReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		return msg[i+2:]
	}
	return msg
}

// explainAPIError adds a hint to an error the API answered with 401: the
// token was refused, and where the token came from.
func (a *App) explainAPIError(err error) string {
	msg := oneLine(err.Error())
	var ae *asana.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized || a.cfg == nil {
		return msg
	}
	return fmt.Sprintf("%s (the token from %s was refused by %s: check it)", msg, a.cfg.TokenSource, a.cfg.APIURL)
}
