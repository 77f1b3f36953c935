package conformance

import (
	"net/http"
	"strings"
	"testing"
)

// TestValidatorRejects shows that the checks bite: responses that break the
// spec, the wire rules or the event field set are reported, with the
// departures applied.
func TestValidatorRejects(t *testing.T) {
	const base = "http://127.0.0.1:9/api/1.0"
	sp := loadSpec(t, []string{base})
	jsonHeader := http.Header{"Content-Type": {"application/json; charset=UTF-8"}}
	webhook := `{"gid":"1","resource_type":"webhook","active":true,"resource":{"gid":"2","resource_type":"project","name":"P"},` +
		`"target":"https://example.com/h","created_at":"2026-01-02T03:04:05.678Z","last_failure_at":null,` +
		`"last_failure_content":"","last_success_at":"2026-01-02T03:04:05.900Z","delivery_retry_count":0,` +
		`"next_attempt_after":null,"failure_deletion_timestamp":null,"filters":[],"is_workspace_webhook":false}`
	event := `{"user":{"gid":"3","resource_type":"user"},"created_at":"2026-01-02T03:04:05.678Z","action":"changed",` +
		`"resource":{"gid":"4","resource_type":"task","resource_subtype":"default_task"},"parent":null,` +
		`"change":{"field":"name","action":"changed"}}`
	cases := []struct {
		name    string
		method  string
		path    string
		status  int
		header  http.Header
		body    string
		valid   bool // against the spec
		wireOK  bool
		check   func(t *testing.T, x exchange)
		deliver bool
	}{
		{name: "good webhook", method: "GET", path: "/webhooks/1", status: 200, header: jsonHeader,
			body: `{"data":` + webhook + `}`, valid: true, wireOK: true},
		{name: "active not a boolean", method: "GET", path: "/webhooks/1", status: 200, header: jsonHeader,
			body: `{"data":` + strings.Replace(webhook, `"active":true`, `"active":"yes"`, 1) + `}`, wireOK: true},
		{name: "created_at not a date-time", method: "GET", path: "/webhooks/1", status: 200, header: jsonHeader,
			body: `{"data":` + strings.Replace(webhook, `"created_at":"2026-01-02T03:04:05.678Z"`, `"created_at":"yesterday"`, 1) + `}`, wireOK: true},
		{name: "last_success_at null is no departure", method: "GET", path: "/webhooks/1", status: 200, header: jsonHeader,
			body: `{"data":` + strings.Replace(webhook, `"last_success_at":"2026-01-02T03:04:05.900Z"`, `"last_success_at":null`, 1) + `}`, wireOK: true},
		{name: "data not an array", method: "GET", path: "/webhooks?workspace=1", status: 200, header: jsonHeader,
			body: `{"data":` + webhook + `}`, wireOK: true},
		{name: "undeclared status", method: "GET", path: "/webhooks/1", status: 418, header: jsonHeader,
			body: `{"errors":[{"message":"teapot"}]}`, wireOK: true},
		{name: "429 with a bad envelope", method: "GET", path: "/webhooks/1", status: 429,
			header: http.Header{"Content-Type": {"application/json"}, "Retry-After": {"3"}},
			body:   `{"errors":"slow down"}`},
		{name: "429 without Retry-After", method: "GET", path: "/users/me", status: 429, header: jsonHeader,
			body: `{"errors":[{"message":"You've made too many requests"}]}`, valid: true},
		{name: "404 without message", method: "GET", path: "/tasks/1", status: 404, header: jsonHeader,
			body: `{"errors":[{}]}`, valid: true},
		{name: "412 without sync", method: "GET", path: "/events?resource=1", status: 412, header: jsonHeader,
			body: `{"errors":[{"message":"Sync token invalid or too old."}]}`, valid: true},
		{name: "text content type", method: "GET", path: "/users/me", status: 200,
			header: http.Header{"Content-Type": {"text/plain"}}, body: `{"data":{"gid":"1"}}`},
		{name: "201 without Location", method: "POST", path: "/tasks", status: 201, header: jsonHeader,
			body: `{"data":{"gid":"1","resource_type":"task","name":"x"}}`, valid: true},
		{name: "201 with a good Location", method: "POST", path: "/tasks", status: 201,
			header: http.Header{"Content-Type": {"application/json"}, "Location": {base + "/tasks/1"}},
			body:   `{"data":{"gid":"1","resource_type":"task","name":"x"}}`, valid: true, wireOK: true},
		{name: "201 Location of another object", method: "POST", path: "/tasks", status: 201,
			header: http.Header{"Content-Type": {"application/json"}, "Location": {base + "/tasks/2"}},
			body:   `{"data":{"gid":"1","resource_type":"task","name":"x"}}`, valid: true},
		{name: "webhook 201 without X-Hook-Secret", method: "POST", path: "/webhooks", status: 201,
			header: http.Header{"Content-Type": {"application/json"}, "Location": {base + "/webhooks/1"}},
			body:   `{"data":` + webhook + `}`, valid: true},
		{name: "list with limit without next_page", method: "GET", path: "/workspaces?limit=1", status: 200, header: jsonHeader,
			body: `{"data":[{"gid":"1","resource_type":"workspace","name":"W"}]}`, valid: true},
		{name: "list without limit with next_page", method: "GET", path: "/workspaces", status: 200, header: jsonHeader,
			body: `{"data":[{"gid":"1","resource_type":"workspace","name":"W"}],"next_page":null}`, valid: true},
		{name: "list with limit, last page", method: "GET", path: "/workspaces?limit=1", status: 200, header: jsonHeader,
			body: `{"data":[{"gid":"1","resource_type":"workspace","name":"W"}],"next_page":null}`, valid: true, wireOK: true},
		{name: "opt_pretty not indented", method: "GET", path: "/users/me?opt_pretty=true", status: 200, header: jsonHeader,
			body: `{"data":{"gid":"1","resource_type":"user","name":"A"}}`, valid: true},
		{name: "opt_fields with an extra field", method: "GET", path: "/users/me?opt_fields=name", status: 200, header: jsonHeader,
			body: `{"data":{"gid":"1","resource_type":"user","name":"A"}}`, valid: true},
		{name: "opt_fields without gid", method: "GET", path: "/users/me?opt_fields=name", status: 200, header: jsonHeader,
			body: `{"data":{"name":"A"}}`, valid: true},
		{name: "opt_fields honoured", method: "GET", path: "/users/me?opt_fields=name,workspaces.name", status: 200, header: jsonHeader,
			body: `{"data":{"gid":"1","name":"A","workspaces":[{"gid":"2","name":"W"}]}}`, valid: true, wireOK: true},
		{name: "good delivery", body: `{"events":[` + event + `]}`, valid: true, wireOK: true, deliver: true},
		{name: "event created_at not a date-time", body: `{"events":[` + strings.Replace(event, `"2026-01-02T03:04:05.678Z"`, `"now"`, 1) + `]}`,
			wireOK: true, deliver: true},
		{name: "event action not a string", body: `{"events":[` + strings.Replace(event, `"action":"changed","resource"`, `"action":1,"resource"`, 1) + `]}`,
			wireOK: true, deliver: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := exchange{name: c.name, status: c.status, header: c.header, body: []byte(c.body), delivery: c.deliver}
			if !c.deliver {
				req, err := http.NewRequest(c.method, base+c.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				x.req = req
				if err := checkWire(x); (err == nil) != c.wireOK {
					t.Errorf("checkWire: %v, want ok=%v", err, c.wireOK)
				}
			}
			if err := sp.validate(x); (err == nil) != c.valid {
				t.Errorf("validate: %v, want valid=%v", err, c.valid)
			}
		})
	}
}

// TestEventFieldSet shows checkEventFields enforcing the reference's field
// TestEventFieldSet shows checkEventFields enforcing the reference's field
// sets and compact records (§4.2 webhook form, §5.1 /events form).
func TestEventFieldSet(t *testing.T) {
	const (
		user     = `"user":{"gid":"1","resource_type":"user"}`
		userN    = `"user":{"gid":"1","resource_type":"user","name":"Ada"}`
		task     = `"resource":{"gid":"2","resource_type":"task","resource_subtype":"default_task"}`
		taskN    = `"resource":{"gid":"2","resource_type":"task","resource_subtype":"default_task","name":"T"}`
		project  = `"parent":{"gid":"3","resource_type":"project"}`
		projectN = `"parent":{"gid":"3","resource_type":"project","name":"P"}`
		changed  = `"change":{"field":"name","action":"changed"}`
	)
	ev := func(parts ...string) string { return "{" + strings.Join(parts, ",") + "}" }
	cases := []struct {
		name  string
		event string
		form  eventForm
		ok    bool
	}{
		{"webhook changed", ev(user, `"created_at":"x"`, `"action":"changed"`, task, `"parent":null`, changed), webhookForm, true},
		{"webhook added", ev(user, `"created_at":"x"`, `"action":"added"`, task, project), webhookForm, true},
		{"webhook system event", ev(`"user":null`, `"created_at":"x"`, `"action":"added"`, task, project), webhookForm, true},
		{"events added", ev(userN, `"created_at":"x"`, `"action":"added"`, taskN, projectN, `"type":"task"`), eventsForm, true},
		{"webhook form has no type", ev(user, `"created_at":"x"`, `"action":"added"`, task, project, `"type":"task"`), webhookForm, false},
		{"events form needs type", ev(userN, `"created_at":"x"`, `"action":"added"`, taskN, projectN), eventsForm, false},
		{"parent missing", ev(user, `"created_at":"x"`, `"action":"added"`, task), webhookForm, false},
		{"change on added", ev(user, `"created_at":"x"`, `"action":"added"`, task, project, changed), webhookForm, false},
		{"changed without change", ev(user, `"created_at":"x"`, `"action":"changed"`, task, `"parent":null`), webhookForm, false},
		{"unknown change key", ev(user, `"created_at":"x"`, `"action":"changed"`, task, `"parent":null`,
			`"change":{"field":"a","action":"changed","old_value":1}`), webhookForm, false},
		{"change without field", ev(user, `"created_at":"x"`, `"action":"changed"`, task, `"parent":null`,
			`"change":{"action":"changed"}`), webhookForm, false},
		{"webhook resource with a name", ev(user, `"created_at":"x"`, `"action":"added"`, taskN, project), webhookForm, false},
		{"webhook user with an email", ev(`"user":{"gid":"1","resource_type":"user","email":"a@b"}`, `"created_at":"x"`,
			`"action":"added"`, task, project), webhookForm, false},
		{"webhook new_value with a name", ev(user, `"created_at":"x"`, `"action":"changed"`, task, `"parent":null`,
			`"change":{"field":"assignee","action":"changed","new_value":{"gid":"1","resource_type":"user","name":"Ada"}}`), webhookForm, false},
		{"events resource without a name", ev(userN, `"created_at":"x"`, `"action":"added"`, task, projectN, `"type":"task"`), eventsForm, false},
		{"resource without gid", ev(user, `"created_at":"x"`, `"action":"added"`, `"resource":{"resource_type":"task"}`, project), webhookForm, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := checkEventFields([]byte(c.event), c.form); (err == nil) != c.ok {
				t.Errorf("checkEventFields: %v, want ok=%v", err, c.ok)
			}
		})
	}
}
