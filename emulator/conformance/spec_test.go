package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specFile is Asana's OpenAPI spec, vendored (see testdata/README.md).
const specFile = "testdata/asana-openapi.yaml"

// departure is one place where Asana's observed behaviour departs from its
// own OpenAPI spec. apply changes the loaded spec so that it describes what
// Asana really sends; nothing else about the spec is relaxed.
type departure struct {
	name   string
	reason string
	source string // section of /work/shared/reference/asana-api.md
	apply  change
}

// change edits a loaded spec and returns how to undo the edit.
type change func(doc *openapi3.T) (undo func(), err error)

// departures is the complete list. TestResponsesConformToSpec fails if any
// entry is no longer needed by the recorded traffic, so the list cannot grow
// stale.
var departures = []departure{
	{
		name: "429 on every operation",
		reason: "the spec declares no 429 anywhere, yet every endpoint answers 429 with Retry-After when " +
			"the per-token rate or concurrency limit is hit; the body is Asana's error envelope, so it is " +
			"checked against the spec's ErrorResponse schema",
		source: "asana-api.md §1.3 (status table: 429) and §1.4 (rate limits)",
		apply:  undeclaredStatus(http.StatusTooManyRequests, "", ""),
	},
	{
		name: "412 on GET /workspaces/{workspace_gid}/events",
		reason: "the spec declares the 412 (first call or expired sync token, with a new sync) only on " +
			"GET /events, but the workspace events endpoint follows the same protocol; checked against " +
			"the 412 response the spec gives GET /events",
		source: "asana-api.md §5.2 (\"Its 412 behaviour is described the same way\") and §5.1",
		apply:  undeclaredStatus(http.StatusPreconditionFailed, "GET /workspaces/{workspace_gid}/events", "GET /events"),
	},
	{
		name: "EventResponse.parent is null",
		reason: "events other than added/removed carry \"parent\": null (present as null), which the spec's " +
			"non-nullable AsanaNamedResource does not allow",
		source: "asana-api.md §4.2 (parent: \"Otherwise null (present as null) [D][O]\")",
		apply:  nullable("EventResponse", "parent"),
	},
	{
		name: "webhook failure and retry timestamps are null",
		reason: "a healthy webhook has last_failure_at, next_attempt_after and failure_deletion_timestamp " +
			"null (the reference types them date-time | null and shows a real create response with them null); " +
			"the spec types them as plain date-time strings",
		source: "asana-api.md §2.6 (the webhook object table and the real create response)",
		apply: all(
			nullable("WebhookResponse", "last_failure_at"),
			nullable("WebhookResponse", "next_attempt_after"),
			nullable("WebhookResponse", "failure_deletion_timestamp"),
		),
	},
	{
		name: "webhook filter subfields are null",
		reason: "filters are echoed back with unset subfields as null, e.g. " +
			"{\"resource_type\":\"task\",\"resource_subtype\":null,\"action\":\"changed\",\"fields\":null}; " +
			"the spec's WebhookFilter fields are not nullable",
		source: "asana-api.md §2.6 (filters row) and §6 (Create: \"unset filter subfields as null\")",
		apply: all(
			nullable("WebhookFilter", "resource_subtype"),
			nullable("WebhookFilter", "action"),
			nullable("WebhookFilter", "fields"),
		),
	},
}

// readings are how these tests read constructs of Asana's spec that
// kin-openapi, applying OpenAPI 3.0 to the letter, reads otherwise. They are
// not departures of Asana from its spec: the spec says what is applied.
// Like departures, each must be needed by the recorded traffic.
var readings = []departure{
	{
		name: "nullable inside allOf",
		reason: "the spec marks nullable references as allOf [$ref X, {nullable: true}] (e.g. " +
			"TaskResponse.assignee, TaskBase.completed_by, TaskResponse.parent); under OpenAPI 3.0 the " +
			"non-nullable $ref member still rejects null, so kin-openapi refuses the null the spec allows. " +
			"A schema whose allOf has an inline nullable member is read as nullable; nothing else changes",
		source: "testdata/asana-openapi.yaml (TaskBase, TaskResponse)",
		apply:  hoistNullable,
	},
}

// hoistNullable marks nullable every schema of doc with an inline nullable
// member in its allOf.
func hoistNullable(doc *openapi3.T) (func(), error) {
	seen := map[*openapi3.Schema]bool{}
	var changed []*openapi3.Schema
	var walk func(ref *openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		for _, m := range s.AllOf {
			if m.Ref == "" && m.Value != nil && m.Value.Nullable && !s.Nullable {
				s.Nullable = true
				changed = append(changed, s)
			}
		}
		for _, group := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, m := range group {
				walk(m)
			}
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.AdditionalProperties.Schema)
		walk(s.Not)
	}
	for _, ref := range doc.Components.Schemas {
		walk(ref)
	}
	for _, item := range doc.Paths.Map() {
		for _, o := range item.Operations() {
			for _, r := range o.Responses.Map() {
				if r.Value == nil {
					continue
				}
				for _, mt := range r.Value.Content {
					walk(mt.Schema)
				}
			}
		}
	}
	if len(changed) == 0 {
		return nil, fmt.Errorf("hoist nullable: no allOf with a nullable member; drop the reading")
	}
	return func() {
		for _, s := range changed {
			s.Nullable = false
		}
	}, nil
}

// all applies several spec changes as one departure.
func all(cs ...change) change {
	return func(doc *openapi3.T) (func(), error) {
		var undos []func()
		undo := func() {
			for _, u := range slices.Backward(undos) {
				u()
			}
		}
		for _, c := range cs {
			u, err := c(doc)
			if err != nil {
				undo()
				return nil, err
			}
			undos = append(undos, u)
		}
		return undo, nil
	}
}

// nullable marks one property of a component schema as nullable. A property
// given by $ref is wrapped (nullable + allOf the ref), so the shared
// component itself is left alone.
func nullable(schemaName, prop string) change {
	return func(doc *openapi3.T) (func(), error) {
		ref := doc.Components.Schemas[schemaName]
		if ref == nil || ref.Value == nil {
			return nil, fmt.Errorf("nullable %s.%s: no schema %s", schemaName, prop, schemaName)
		}
		// The property may sit in the schema or in an inline part of its allOf.
		candidates := append([]*openapi3.SchemaRef{ref}, ref.Value.AllOf...)
		for _, c := range candidates {
			if c.Value == nil || (c != ref && c.Ref != "") {
				continue
			}
			p, ok := c.Value.Properties[prop]
			if !ok {
				continue
			}
			if p.Ref != "" {
				props := c.Value.Properties
				props[prop] = &openapi3.SchemaRef{Value: &openapi3.Schema{Nullable: true, AllOf: openapi3.SchemaRefs{p}}}
				return func() { props[prop] = p }, nil
			}
			if p.Value.Nullable {
				return nil, fmt.Errorf("nullable %s.%s: the spec marks it nullable already; drop the departure", schemaName, prop)
			}
			p.Value.Nullable = true
			return func() { p.Value.Nullable = false }, nil
		}
		return nil, fmt.Errorf("nullable %s.%s: no such property", schemaName, prop)
	}
}

// undeclaredStatus declares status on the operation op ("METHOD /path", ""
// for every operation). The response is copied from operation like when
// given, and is the spec's ErrorResponse otherwise.
func undeclaredStatus(status int, op, like string) change {
	return func(doc *openapi3.T) (func(), error) {
		code := strconv.Itoa(status)
		resp := &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription(http.StatusText(status) + " (departure: not declared by the spec)").
			WithJSONSchemaRef(&openapi3.SchemaRef{Ref: "#/components/schemas/ErrorResponse",
				Value: doc.Components.Schemas["ErrorResponse"].Value})}
		if like != "" {
			o, err := operation(doc, like)
			if err != nil {
				return nil, fmt.Errorf("undeclared %d: %w", status, err)
			}
			resp = o.Responses.Status(status)
			if resp == nil {
				return nil, fmt.Errorf("undeclared %d: %s does not declare it either", status, like)
			}
		}
		var added []*openapi3.Operation
		for path, item := range doc.Paths.Map() {
			for method, o := range item.Operations() {
				if op != "" && op != method+" "+path {
					continue
				}
				if o.Responses.Status(status) != nil {
					return nil, fmt.Errorf("undeclared %d: %s %s declares it already; drop the departure", status, method, path)
				}
				o.Responses.Set(code, resp)
				added = append(added, o)
			}
		}
		if len(added) == 0 {
			return nil, fmt.Errorf("undeclared %d: no operation %q", status, op)
		}
		return func() {
			for _, o := range added {
				o.Responses.Delete(code)
			}
		}, nil
	}
}

// operation finds "METHOD /path" in doc.
func operation(doc *openapi3.T, op string) (*openapi3.Operation, error) {
	method, path, _ := strings.Cut(op, " ")
	item := doc.Paths.Find(path)
	if item == nil {
		return nil, fmt.Errorf("no path %s", path)
	}
	o := item.GetOperation(method)
	if o == nil {
		return nil, fmt.Errorf("no operation %s", op)
	}
	return o, nil
}

// spec is the loaded spec with a router for the emulators' base URLs.
type spec struct {
	doc    *openapi3.T
	router routers.Router
	undo   map[string]func() // of each applied reading and departure
}

// loadSpec loads the vendored spec, applies the readings and departures
// whose names are not in skip, and routes requests to the baseURLs (the
// emulators' http://127.0.0.1:PORT/api/1.0) as the spec's servers entry
// does to https://app.asana.com/api/1.0.
func loadSpec(t *testing.T, baseURLs []string) *spec {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(specFile)
	if err != nil {
		t.Fatalf("load %s: %v", specFile, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate %s: %v", specFile, err)
	}
	undo := map[string]func(){}
	for _, d := range slices.Concat(readings, departures) {
		u, err := d.apply(doc)
		if err != nil {
			t.Fatalf("apply %q: %v", d.name, err)
		}
		undo[d.name] = u
	}
	doc.Servers = nil
	for _, u := range baseURLs {
		doc.Servers = append(doc.Servers, &openapi3.Server{URL: u})
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("route %s: %v", specFile, err)
	}
	return &spec{doc: doc, router: router, undo: undo}
}

// without runs f with the reading or departure d undone, then applies it
// again.
func (s *spec) without(t *testing.T, d departure, f func()) {
	t.Helper()
	s.undo[d.name]()
	defer func() {
		u, err := d.apply(s.doc)
		if err != nil {
			t.Fatalf("apply %q again: %v", d.name, err)
		}
		s.undo[d.name] = u
	}()
	f()
}

// exchange is one recorded response (of the API, or a webhook delivery).
type exchange struct {
	name     string
	req      *http.Request // nil for a delivery
	status   int
	header   http.Header
	body     []byte
	delivery bool
}

// validate checks one exchange against the spec with kin-openapi.
func (s *spec) validate(x exchange) error {
	if x.delivery {
		return s.validateDelivery(x.body)
	}
	route, params, err := s.router.FindRoute(x.req)
	if errors.Is(err, routers.ErrPathNotFound) || errors.Is(err, routers.ErrMethodNotAllowed) {
		// No operation to check against: an unknown route answers the spec's
		// NotFound response ("the request method and path supplied do not
		// specify a known action in the API").
		if x.status != http.StatusNotFound {
			return fmt.Errorf("%s %s is no route of the spec, yet answered %d", x.req.Method, x.req.URL.Path, x.status)
		}
		nf := s.doc.Components.Responses["NotFound"].Value.Content.Get("application/json").Schema.Value
		return visit(nf, x.body)
	}
	if err != nil {
		return fmt.Errorf("find route of %s %s: %w", x.req.Method, x.req.URL, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: x.req, PathParams: params, Route: route},
		Status:                 x.status,
		Header:                 x.header,
		Body:                   io.NopCloser(bytes.NewReader(x.body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()}},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s: %w", route.Method, route.Path, err)
	}
	return nil
}

// validateDelivery checks a webhook delivery body: {"events":[EventResponse…]}.
func (s *spec) validateDelivery(body []byte) error {
	var v struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("delivery body: %w", err)
	}
	ev := s.doc.Components.Schemas["EventResponse"].Value
	for i, raw := range v.Events {
		if err := visit(ev, raw); err != nil {
			return fmt.Errorf("delivery event %d: %w", i, err)
		}
	}
	return nil
}

// visit validates a JSON document against a response schema.
func visit(schema *openapi3.Schema, body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return schema.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails())
}

// eventForm is one of the two forms of an event in the reference.
type eventForm struct {
	name   string
	fields []string // besides "change", which comes iff action is "changed"
	// named: user, resource, parent and change values are compact records
	// with a name (/events, §5.1); otherwise they carry no name (webhooks,
	// §4.2: user is {gid, resource_type}, resource adds resource_subtype).
	named bool
}

var (
	webhookForm  = eventForm{name: "webhook", fields: []string{"action", "created_at", "parent", "resource", "user"}}
	eventsForm   = eventForm{name: "/events", fields: []string{"action", "created_at", "parent", "resource", "type", "user"}, named: true}
	changeFields = []string{"action", "added_value", "field", "new_value", "removed_value"}
)

// checkEventFields checks that an event has exactly the reference's field
// set: the base fields always (parent present even when null), "change" iff
// action is "changed", no key the spec's EventResponse lacks, and compact
// records of the form's shape.
func checkEventFields(raw json.RawMessage, form eventForm) error {
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ev); err != nil {
		return fmt.Errorf("event: %w", err)
	}
	want := slices.Clone(form.fields)
	var action string
	if err := json.Unmarshal(ev["action"], &action); err != nil {
		return fmt.Errorf("event action: %w", err)
	}
	if action == "changed" {
		want = append(want, "change")
	}
	slices.Sort(want)
	got := keys(ev)
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s event fields %v, want %v (action %q)", form.name, got, want, action)
	}
	for _, f := range []struct {
		key     string
		allowed []string // webhook form: the only keys allowed (nil: any but name)
	}{
		{"user", []string{"gid", "resource_type"}},
		{"resource", []string{"gid", "resource_subtype", "resource_type"}},
		{"parent", []string{"gid", "resource_subtype", "resource_type"}},
	} {
		if err := checkCompact(f.key, ev[f.key], form, f.allowed); err != nil {
			return err
		}
	}
	if action != "changed" {
		return nil
	}
	var ch map[string]json.RawMessage
	if err := json.Unmarshal(ev["change"], &ch); err != nil {
		return fmt.Errorf("event change: %w", err)
	}
	for _, k := range keys(ch) {
		if !slices.Contains(changeFields, k) {
			return fmt.Errorf("event change has field %q, not in EventResponse.change", k)
		}
	}
	if _, ok := ch["field"]; !ok {
		return fmt.Errorf("event change has no field")
	}
	if _, ok := ch["action"]; !ok {
		return fmt.Errorf("event change has no action")
	}
	for _, k := range []string{"new_value", "added_value", "removed_value"} {
		if v, ok := ch[k]; ok {
			if err := checkCompact("change."+k, v, form, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkCompact checks a compact record of an event (null is left to the
// spec check): gid and resource_type always; a name in the /events form and
// none in the webhook form, where allowed (if not nil) lists every key.
func checkCompact(key string, raw json.RawMessage, form eventForm, allowed []string) error {
	if raw == nil || string(raw) == "null" {
		return nil
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rec); err != nil {
		return fmt.Errorf("%s event %s is not an object: %s", form.name, key, raw)
	}
	for _, k := range []string{"gid", "resource_type"} {
		if _, ok := rec[k]; !ok {
			return fmt.Errorf("%s event %s has no %s: %s", form.name, key, k, raw)
		}
	}
	_, hasName := rec["name"]
	switch {
	case form.named && !hasName:
		return fmt.Errorf("%s event %s has no name (§5.1: compact records with name): %s", form.name, key, raw)
	case !form.named && hasName:
		return fmt.Errorf("%s event %s has a name (§4.2: not included in webhook events): %s", form.name, key, raw)
	}
	if !form.named && allowed != nil {
		for _, k := range keys(rec) {
			if !slices.Contains(allowed, k) {
				return fmt.Errorf("%s event %s has key %q, want only %v (§4.2): %s", form.name, key, k, allowed, raw)
			}
		}
	}
	return nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkWire checks what the spec cannot express but the reference states for
// every response: JSON content type, the error envelope with a message on
// every error, Location on 201, an integer Retry-After on 429, a sync token
// on 412.
func checkWire(x exchange) error {
	mt, _, err := mime.ParseMediaType(x.header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return fmt.Errorf("content type %q, want application/json", x.header.Get("Content-Type"))
	}
	var env struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
		Sync string `json:"sync"`
	}
	if err := json.Unmarshal(x.body, &env); err != nil {
		return fmt.Errorf("body is not a JSON object: %w", err)
	}
	switch {
	case x.status >= 400:
		// §1.3: {"errors":[{"message":…}]}, at least one entry.
		if len(env.Errors) == 0 {
			return fmt.Errorf("%d without an errors array: %s", x.status, x.body)
		}
		for i, e := range env.Errors {
			if e.Message == "" {
				return fmt.Errorf("errors[%d] has no message: %s", i, x.body)
			}
		}
	case x.status == http.StatusCreated:
		if err := checkCreated(x); err != nil {
			return err
		}
	case x.status == http.StatusOK && x.req != nil:
		if err := checkOptions(x); err != nil {
			return err
		}
	}
	switch x.status {
	case http.StatusTooManyRequests:
		// §1.4: Retry-After in whole seconds.
		if n, err := strconv.Atoi(x.header.Get("Retry-After")); err != nil || n < 1 {
			return fmt.Errorf("429 Retry-After %q, want a positive integer", x.header.Get("Retry-After"))
		}
	case http.StatusPreconditionFailed:
		// §5.1: the 412 carries a fresh sync token.
		if env.Sync == "" {
			return fmt.Errorf("412 without a sync token: %s", x.body)
		}
	}
	return nil
}

// checkCreated checks a 201: a Location header with the object's API URL
// (§1.2), and on POST /webhooks the top-level X-Hook-Secret (§3.4).
func checkCreated(x exchange) error {
	var body struct {
		Data struct {
			GID string `json:"gid"`
		} `json:"data"`
		Secret *string `json:"X-Hook-Secret"`
	}
	if err := json.Unmarshal(x.body, &body); err != nil {
		return fmt.Errorf("201 body: %w", err)
	}
	loc := x.header.Get("Location")
	u, err := url.Parse(loc)
	if loc == "" || err != nil || !u.IsAbs() || !strings.HasSuffix(u.Path, "/"+body.Data.GID) || body.Data.GID == "" {
		return fmt.Errorf("201 Location %q, want the API URL of object %q", loc, body.Data.GID)
	}
	if x.req != nil && strings.HasSuffix(x.req.URL.Path, "/webhooks") && (body.Secret == nil || *body.Secret == "") {
		return fmt.Errorf("201 of POST /webhooks without a top-level X-Hook-Secret")
	}
	return nil
}

// checkOptions checks a 200 against the request's options: next_page iff
// limit was sent (§1.5), indented JSON with opt_pretty, and with opt_fields
// only the named top-level fields, plus gid on every resource (§1.2).
func checkOptions(x exchange) error {
	q := x.req.URL.Query()
	var body map[string]json.RawMessage
	if err := json.Unmarshal(x.body, &body); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	data := body["data"]
	isList := len(data) > 0 && data[0] == '['
	isEvents := strings.HasSuffix(x.req.URL.Path, "/events")
	if isList && !isEvents {
		_, hasNext := body["next_page"]
		if hasNext != q.Has("limit") {
			return fmt.Errorf("next_page present: %v, limit sent: %v; want both or neither (§1.5)", hasNext, q.Has("limit"))
		}
	}
	if q.Has("opt_pretty") && q.Get("opt_pretty") != "false" && !bytes.Contains(x.body, []byte("\n  ")) {
		return fmt.Errorf("opt_pretty sent, body not indented: %s", x.body)
	}
	if !q.Has("opt_fields") {
		return nil
	}
	allowed := []string{"gid"}
	for _, f := range strings.Split(q.Get("opt_fields"), ",") {
		top, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(f), "this."), ".")
		allowed = append(allowed, top)
	}
	var objs []map[string]json.RawMessage
	if isList {
		if err := json.Unmarshal(data, &objs); err != nil {
			return fmt.Errorf("data: %w", err)
		}
	} else {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(data, &o); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		objs = append(objs, o)
	}
	for i, o := range objs {
		for _, k := range keys(o) {
			if !slices.Contains(allowed, k) {
				return fmt.Errorf("opt_fields=%s: data[%d] has %q", q.Get("opt_fields"), i, k)
			}
		}
		if _, ok := o["gid"]; !ok && !isEvents {
			return fmt.Errorf("opt_fields=%s: data[%d] has no gid, which is always returned (§1.2)", q.Get("opt_fields"), i)
		}
	}
	return nil
}
