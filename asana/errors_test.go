package asana

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseError(t *testing.T) {
	const syncMsg = "Sync token invalid or too old."
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		want    *APIError
		wantErr string
	}{
		{
			name: "envelope", status: 400,
			body:    `{"errors":[{"message":"workspace: Missing input","help":"For more information..."}]}`,
			want:    &APIError{StatusCode: 400, Errors: []ErrorDetail{{Message: "workspace: Missing input", Help: "For more information..."}}},
			wantErr: "asana: 400 Bad Request: workspace: Missing input",
		},
		{
			name: "500 with phrase", status: 500,
			body:    `{"errors":[{"message":"Server Error","phrase":"6 sad squid snuggle softly"}]}`,
			want:    &APIError{StatusCode: 500, Errors: []ErrorDetail{{Message: "Server Error", Phrase: "6 sad squid snuggle softly"}}},
			wantErr: "asana: 500 Internal Server Error: Server Error (phrase: 6 sad squid snuggle softly)",
		},
		{
			name: "several errors and unknown keys", status: 400,
			body: `{"errors":[{"message":"Webhooks for larger scoped resources must have at least one filter","error":"invalid_filters_for_larger_scoped_webhooks","user_message":"x"},{"message":"second"}],"extra":true}`,
			want: &APIError{StatusCode: 400, Errors: []ErrorDetail{
				{Message: "Webhooks for larger scoped resources must have at least one filter", Error: "invalid_filters_for_larger_scoped_webhooks"},
				{Message: "second"},
			}},
			wantErr: "asana: 400 Bad Request: Webhooks for larger scoped resources must have at least one filter; second",
		},
		{
			name: "412 envelope with sync", status: 412,
			body:    `{"errors":[{"message":"` + syncMsg + `"}],"sync":"de4774f6"}`,
			want:    &APIError{StatusCode: 412, Errors: []ErrorDetail{{Message: syncMsg}}, Sync: "de4774f6"},
			wantErr: "asana: 412 Precondition Failed: " + syncMsg,
		},
		{
			name: "412 old top-level message", status: 412,
			body:    `{"message":"` + syncMsg + `","sync":"abc"}`,
			want:    &APIError{StatusCode: 412, Errors: []ErrorDetail{{Message: syncMsg}}, Sync: "abc"},
			wantErr: "asana: 412 Precondition Failed: " + syncMsg,
		},
		{
			name: "429 with Retry-After", status: 429, header: http.Header{"Retry-After": {"30"}},
			body:    `{"errors":[{"message":"rate limit"}]}`,
			want:    &APIError{StatusCode: 429, Errors: []ErrorDetail{{Message: "rate limit"}}, RetryAfter: 30 * time.Second},
			wantErr: "asana: 429 Too Many Requests: rate limit",
		},
		{
			name: "plain text body", status: 403, body: "Forbidden by proxy\n",
			want:    &APIError{StatusCode: 403, Errors: []ErrorDetail{{Message: "Forbidden by proxy"}}},
			wantErr: "asana: 403 Forbidden: Forbidden by proxy",
		},
		{
			name: "html body", status: 502, body: "<html><body>Bad Gateway</body></html>",
			want:    &APIError{StatusCode: 502, Errors: []ErrorDetail{{Message: "Bad Gateway"}}},
			wantErr: "asana: 502 Bad Gateway: Bad Gateway",
		},
		{
			name: "empty body", status: 404,
			want:    &APIError{StatusCode: 404, Errors: []ErrorDetail{{Message: "Not Found"}}},
			wantErr: "asana: 404 Not Found: Not Found",
		},
		{
			name: "empty errors array", status: 401, body: `{"errors":[]}`,
			want:    &APIError{StatusCode: 401, Errors: []ErrorDetail{{Message: "Unauthorized"}}},
			wantErr: "asana: 401 Unauthorized: Unauthorized",
		},
		{
			name: "truncated json", status: 500, body: `{"errors":[{"mess`,
			want:    &APIError{StatusCode: 500, Errors: []ErrorDetail{{Message: "Internal Server Error"}}},
			wantErr: "asana: 500 Internal Server Error: Internal Server Error",
		},
		{
			name: "errors of the wrong type", status: 400, body: `{"errors":"oops"}`,
			want:    &APIError{StatusCode: 400, Errors: []ErrorDetail{{Message: "Bad Request"}}},
			wantErr: "asana: 400 Bad Request: Bad Request",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			got := ParseError(tt.status, h, []byte(tt.body))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseError (-want +got):\n%s", diff)
			}
			if got.Error() != tt.wantErr {
				t.Errorf("Error() = %q, want %q", got.Error(), tt.wantErr)
			}
		})
	}
}

func TestAPIErrorAccessors(t *testing.T) {
	tests := []struct {
		name        string
		err         *APIError
		wantMessage string
		wantCode    string
		wantText    string
	}{
		{"no errors", &APIError{StatusCode: 404}, "", "", "asana: 404 Not Found"},
		{"message only", &APIError{StatusCode: 403, Errors: []ErrorDetail{{Message: "Duplicated webhook."}}}, "Duplicated webhook.", "", "asana: 403 Forbidden: Duplicated webhook."},
		{"code on second entry", &APIError{StatusCode: 400, Errors: []ErrorDetail{{Message: "a"}, {Message: "b", Error: "invalid_filters_for_larger_scoped_webhooks"}}},
			"a", "invalid_filters_for_larger_scoped_webhooks", "asana: 400 Bad Request: a; b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Message(); got != tt.wantMessage {
				t.Errorf("Message() = %q, want %q", got, tt.wantMessage)
			}
			if got := tt.err.Code(); got != tt.wantCode {
				t.Errorf("Code() = %q, want %q", got, tt.wantCode)
			}
			if got := tt.err.Error(); got != tt.wantText {
				t.Errorf("Error() = %q, want %q", got, tt.wantText)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		name     string
		value    string
		min, max time.Duration
	}{
		{"absent", "", 0, 0},
		{"seconds", "30", 30 * time.Second, 30 * time.Second},
		{"zero", "0", 0, 0},
		{"spaces", " 7 ", 7 * time.Second, 7 * time.Second},
		{"negative", "-5", 0, 0},
		{"garbage", "soon", 0, 0},
		{"fraction", "1.5", 0, 0},
		// Seconds beyond what a Duration holds saturate instead of wrapping
		// around to a negative or arbitrary wait.
		{"wraps negative", "10000000000", 1 << 62, math.MaxInt64},
		{"huge", "99999999999", 1 << 62, math.MaxInt64},
		{"beyond int64", "99999999999999999999", 1 << 62, math.MaxInt64},
		// Generous bounds: the date is relative to the real clock.
		{"http date ahead", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 58 * time.Minute, time.Hour},
		{"http date past", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, 0},
		{"rfc850 date ahead", time.Now().Add(2 * time.Hour).UTC().Format("Monday, 02-Jan-06 15:04:05 GMT"), 118 * time.Minute, 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseError(429, http.Header{"Retry-After": {tt.value}}, nil).RetryAfter
			if got < tt.min || got > tt.max {
				t.Errorf("RetryAfter(%q) = %v, want in [%v, %v]", tt.value, got, tt.min, tt.max)
			}
		})
	}
}

func TestIsStatus(t *testing.T) {
	e404 := &APIError{StatusCode: 404, Errors: []ErrorDetail{{Message: "Unknown object"}}}
	tests := []struct {
		name   string
		err    error
		status int
		want   bool
	}{
		{"direct", e404, 404, true},
		{"other status", e404, 403, false},
		{"wrapped", fmt.Errorf("get webhook 1: %w", e404), 404, true},
		{"joined", errors.Join(errors.New("x"), e404), 404, true},
		{"uncertain create", &CreateUncertainError{Err: &APIError{StatusCode: 500}}, 500, true},
		{"plain error", errors.New("404"), 404, false},
		{"nil", nil, 404, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsStatus(tt.err, tt.status); got != tt.want {
				t.Errorf("IsStatus = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestErrorTypes(t *testing.T) {
	first := &SyncError{Sync: "a"}
	expired := &SyncError{Sync: "b", HadToken: true}
	if !errors.Is(first, ErrSyncTokenInvalid) || !errors.Is(expired, ErrSyncTokenInvalid) {
		t.Error("SyncError does not wrap ErrSyncTokenInvalid")
	}
	if diff := cmp.Diff([]string{"events: first call: got a sync token", "events: sync token expired: resync needed"},
		[]string{first.Error(), expired.Error()}); diff != "" {
		t.Errorf("SyncError texts (-want +got):\n%s", diff)
	}
	cause := errors.New("timeout")
	tests := []struct {
		name string
		err  *CreateUncertainError
		want string
	}{
		{"found", &CreateUncertainError{Err: cause, Existing: &Webhook{GID: "12"}},
			"create webhook: outcome unknown: timeout; found existing webhook 12 with the same target"},
		{"none", &CreateUncertainError{Err: cause},
			"create webhook: outcome unknown: timeout; no webhook with the same target exists"},
		{"lookup failed", &CreateUncertainError{Err: cause, LookupErr: errors.New("list webhooks: 403")},
			"create webhook: outcome unknown: timeout; could not check for a created webhook: list webhooks: 403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if !errors.Is(tt.err, cause) {
				t.Error("does not unwrap to its cause")
			}
		})
	}
}
