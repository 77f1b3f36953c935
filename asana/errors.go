package asana

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrorDetail is one entry of Asana's error envelope.
type ErrorDetail struct {
	Message string `json:"message"`
	Help    string `json:"help,omitempty"`
	// Phrase is set on 500 errors only, for Asana's support.
	Phrase string `json:"phrase,omitempty"`
	// Error is a machine-readable code some errors carry, such as
	// "invalid_filters_for_larger_scoped_webhooks".
	Error string `json:"error,omitempty"`
}

// ErrorEnvelope is the body of every Asana error response. Sync is set on the
// 412 of the events endpoints.
type ErrorEnvelope struct {
	Errors []ErrorDetail `json:"errors"`
	Sync   string        `json:"sync,omitempty"`
}

// APIError is an error response from the Asana API.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Errors are the envelope's entries; at least one, synthesised from the
	// status when the body had none.
	Errors []ErrorDetail
	// RetryAfter is the Retry-After header of a 429 or 503, zero otherwise.
	RetryAfter time.Duration
	// Sync is the new sync token of an events 412.
	Sync string
}

// Error implements error.
func (e *APIError) Error() string {
	msgs := make([]string, 0, len(e.Errors))
	for _, d := range e.Errors {
		m := d.Message
		if d.Phrase != "" {
			m += " (phrase: " + d.Phrase + ")"
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return fmt.Sprintf("asana: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("asana: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), strings.Join(msgs, "; "))
}

// Message returns the first error message.
func (e *APIError) Message() string {
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Message
}

// Code returns the first machine-readable error code, if any.
func (e *APIError) Code() string {
	for _, d := range e.Errors {
		if d.Error != "" {
			return d.Error
		}
	}
	return ""
}

// IsStatus reports whether err is an *APIError with the given status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == status
}

// ParseError builds an *APIError from an error response. It understands the
// envelope {"errors":[...]} and the older form with a top-level "message"
// (seen on 412s), and falls back to the status text for any other body.
func ParseError(status int, header http.Header, body []byte) *APIError {
	e := &APIError{StatusCode: status, RetryAfter: parseRetryAfter(header.Get("Retry-After"))}
	var env struct {
		Errors  []ErrorDetail `json:"errors"`
		Message string        `json:"message"`
		Sync    string        `json:"sync"`
	}
	if json.Unmarshal(body, &env) == nil {
		e.Errors = env.Errors
		e.Sync = env.Sync
		if len(e.Errors) == 0 && env.Message != "" {
			e.Errors = []ErrorDetail{{Message: env.Message}}
		}
	}
	if len(e.Errors) == 0 {
		msg := http.StatusText(status)
		if s := strings.TrimSpace(string(body)); s != "" && len(s) < 200 && !strings.ContainsAny(s, "{<") {
			msg = s
		}
		e.Errors = []ErrorDetail{{Message: msg}}
	}
	return e
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date; zero when
// absent or unreadable. Seconds beyond what a Duration holds saturate.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	// On overflow ParseInt returns MaxInt64 with ErrRange.
	if n, err := strconv.ParseInt(v, 10, 64); (err == nil || errors.Is(err, strconv.ErrRange)) && n >= 0 {
		if n > int64(math.MaxInt64/time.Second) {
			return math.MaxInt64
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
