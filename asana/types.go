package asana

import (
	"encoding/json"
	"fmt"
	"time"
)

// TimeLayout is how Asana writes timestamps: RFC 3339 in UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Time is a timestamp in Asana's wire format. It decodes any RFC 3339 value and
// encodes as TimeLayout in UTC.
type Time struct{ time.Time }

// NewTime returns t as an Asana timestamp, truncated to milliseconds.
func NewTime(t time.Time) Time { return Time{t.UTC().Truncate(time.Millisecond)} }

// TimePtr returns a pointer to NewTime(t), for the nullable fields.
func TimePtr(t time.Time) *Time { v := NewTime(t); return &v }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(TimeLayout) + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("asana time: %w", err)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("asana time %q: %w", s, err)
	}
	t.Time = v.UTC()
	return nil
}

// Compact is the compact form of any Asana resource: its gid and type, and
// where the API includes them, its name and subtype.
type Compact struct {
	GID             string `json:"gid"`
	ResourceType    string `json:"resource_type"`
	Name            string `json:"name,omitempty"`
	ResourceSubtype string `json:"resource_subtype,omitempty"`
}

// User is a user as GET /users/me returns it.
type User struct {
	GID          string    `json:"gid"`
	ResourceType string    `json:"resource_type"`
	Name         string    `json:"name"`
	Email        string    `json:"email,omitempty"`
	Workspaces   []Compact `json:"workspaces,omitempty"`
}

// Workspace is a workspace or organization.
type Workspace struct {
	GID            string `json:"gid"`
	ResourceType   string `json:"resource_type"`
	Name           string `json:"name"`
	IsOrganization bool   `json:"is_organization,omitempty"`
}

// Project is the part of a project this toolkit reads.
type Project struct {
	GID          string   `json:"gid"`
	ResourceType string   `json:"resource_type"`
	Name         string   `json:"name"`
	Archived     bool     `json:"archived,omitempty"`
	Workspace    *Compact `json:"workspace,omitempty"`
	Team         *Compact `json:"team,omitempty"`
}

// Filter narrows the events a webhook receives. An event passes a webhook if
// it matches any of its filters; within a filter every set attribute must
// match. Fields is valid only with Action "changed".
type Filter struct {
	ResourceType    string   `json:"resource_type,omitempty"`
	ResourceSubtype string   `json:"resource_subtype,omitempty"`
	Action          string   `json:"action,omitempty"`
	Fields          []string `json:"fields,omitempty"`
}

// Webhook is Asana's webhook record (WebhookResponse in the OpenAPI spec), plus
// is_workspace_webhook, which the API returns though the spec omits it.
type Webhook struct {
	GID                      string   `json:"gid"`
	ResourceType             string   `json:"resource_type"`
	Active                   bool     `json:"active"`
	Resource                 Compact  `json:"resource"`
	Target                   string   `json:"target"`
	CreatedAt                *Time    `json:"created_at"`
	LastFailureAt            *Time    `json:"last_failure_at"`
	LastFailureContent       string   `json:"last_failure_content"`
	LastSuccessAt            *Time    `json:"last_success_at"`
	DeliveryRetryCount       int      `json:"delivery_retry_count"`
	NextAttemptAfter         *Time    `json:"next_attempt_after"`
	FailureDeletionTimestamp *Time    `json:"failure_deletion_timestamp"`
	Filters                  []Filter `json:"filters"`
	IsWorkspaceWebhook       bool     `json:"is_workspace_webhook"`
}

// Change describes what changed in an event whose Action is "changed". The
// values are kept as raw JSON: they are compact resources that may nest
// further parts (a custom field's enum_value, say).
type Change struct {
	Field        string          `json:"field"`
	Action       string          `json:"action"`
	NewValue     json.RawMessage `json:"new_value,omitempty"`
	AddedValue   json.RawMessage `json:"added_value,omitempty"`
	RemovedValue json.RawMessage `json:"removed_value,omitempty"`
}

// Event is one event, in its webhook form (compact resources without names)
// or its /events form (with names, and the deprecated Type).
type Event struct {
	User      *Compact `json:"user"`
	CreatedAt Time     `json:"created_at"`
	Action    string   `json:"action"`
	Resource  Compact  `json:"resource"`
	Parent    *Compact `json:"parent"`
	Change    *Change  `json:"change,omitempty"`
	// Type is the deprecated copy of Resource.ResourceType that /events
	// still returns.
	Type string `json:"type,omitempty"`
}

// Delivery is the body of a webhook delivery. An empty Events is a heartbeat.
type Delivery struct {
	Events []Event `json:"events"`
}

// NextPage is the pagination cursor of a list response.
type NextPage struct {
	Offset string `json:"offset"`
	Path   string `json:"path"`
	URI    string `json:"uri"`
}
