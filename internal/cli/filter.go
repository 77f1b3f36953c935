package cli

import (
	"fmt"
	"strings"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// FilterSyntax is the form of a --filter value.
const FilterSyntax = "resource_type:action[:field,...]"

// filterActions lists the actions a webhook filter may name.
const filterActions = "added, changed, deleted, removed, undeleted"

// isFilterAction reports whether a is one of filterActions.
func isFilterAction(a string) bool {
	switch a {
	case "added", "changed", "deleted", "removed", "undeleted":
		return true
	}
	return false
}

// FilterError is a --filter value that does not parse.
type FilterError struct {
	Value  string
	Reason string
}

// Error implements error.
func (e *FilterError) Error() string {
	return fmt.Sprintf("--filter %q: %s", e.Value, e.Reason)
}

// ParseFilter parses "resource_type:action[:field,field]", for example
// "task:changed:name,due_on" or "story:added". Fields are valid only with the
// action "changed", as in Asana.
func ParseFilter(s string) (asana.Filter, error) {
	bad := func(reason string) (asana.Filter, error) {
		return asana.Filter{}, &FilterError{Value: s, Reason: reason}
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return bad("want " + FilterSyntax)
	}
	rt, action := strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
	if rt == "" || action == "" {
		return bad("want " + FilterSyntax)
	}
	if !isIdentifier(rt) {
		return bad(fmt.Sprintf("resource type %q: want lowercase letters and _ (task, story, project...)", rt))
	}
	if !isFilterAction(action) {
		return bad(fmt.Sprintf("unknown action %q: want one of %s", action, filterActions))
	}
	f := asana.Filter{ResourceType: rt, Action: action}
	if len(parts) == 3 {
		if action != "changed" {
			return bad("fields are only valid with action changed")
		}
		for _, field := range strings.Split(parts[2], ",") {
			field = strings.TrimSpace(field)
			if field == "" {
				return bad("empty field name; want " + FilterSyntax)
			}
			if !isIdentifier(field) {
				return bad(fmt.Sprintf("field %q: want lowercase letters, digits and _", field))
			}
			f.Fields = append(f.Fields, field)
		}
	}
	return f, nil
}

// FormatFilter writes f in the --filter syntax (subtype, when set, after a
// slash: "task/milestone:changed").
func FormatFilter(f asana.Filter) string {
	var b strings.Builder
	b.WriteString(orDash(f.ResourceType))
	if f.ResourceSubtype != "" {
		b.WriteString("/" + f.ResourceSubtype)
	}
	b.WriteString(":" + orDash(f.Action))
	if len(f.Fields) > 0 {
		b.WriteString(":" + strings.Join(f.Fields, ","))
	}
	return b.String()
}

// FormatFilters joins filters with spaces; "-" when there are none.
func FormatFilters(fs []asana.Filter) string {
	if len(fs) == 0 {
		return "-"
	}
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = FormatFilter(f)
	}
	return strings.Join(out, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// isIdentifier reports whether s is a lowercase Asana name such as
// "task" or "custom_fields" (digits allowed after the first letter).
func isIdentifier(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// filterFlag is a repeatable --filter flag (a pflag.Value) that parses each
// value as it is given, so a bad filter is a usage error.
type filterFlag struct{ filters *[]asana.Filter }

// newFilterFlag returns a flag value appending to dst.
func newFilterFlag(dst *[]asana.Filter) *filterFlag { return &filterFlag{filters: dst} }

func (f *filterFlag) String() string {
	if f.filters == nil || len(*f.filters) == 0 {
		return ""
	}
	return FormatFilters(*f.filters)
}

func (f *filterFlag) Set(s string) error {
	flt, err := ParseFilter(s)
	if err != nil {
		return err
	}
	*f.filters = append(*f.filters, flt)
	return nil
}

func (f *filterFlag) Type() string { return "filter" }
