package webui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// Actions a webhook filter may name.
var filterActions = []string{"added", "changed", "deleted", "removed", "undeleted"}

// resourceTypes are the resource types Asana documents events for, offered
// as suggestions in the form (others are accepted: the list is not
// exhaustive).
var resourceTypes = []string{"task", "story", "section", "project", "tag", "attachment", "project_membership",
	"portfolio", "team", "team_membership", "workspace", "workspace_membership"}

// largerScopes are the resource kinds whose webhooks need allowlisted
// filters, and largerScopeFilters that allowlist.
var (
	largerScopes       = []string{"workspace", "team", "portfolio"}
	largerScopeFilters = map[string][]string{
		"project":              {"added", "removed", "deleted", "undeleted", "changed"},
		"team_membership":      {"added", "removed"},
		"workspace_membership": {"added", "removed"},
	}
)

// FilterProblem is one reason a set of filters would be refused.
type FilterProblem struct {
	// Index is the filter's position (0-based), or -1 for the whole set.
	Index int
	// Message says what is wrong, for people.
	Message string
}

// String implements fmt.Stringer.
func (p FilterProblem) String() string {
	if p.Index < 0 {
		return p.Message
	}
	return fmt.Sprintf("filter %d: %s", p.Index+1, p.Message)
}

// ValidateFilters checks filters against Asana's rules before a create, for a
// resource of kind resourceType ("" when unknown): every filter names a
// resource type or an action; the action is one Asana knows; fields go only
// with "changed"; and webhooks on a workspace, team or portfolio need at least
// one filter, each allowlisted (project added/removed/deleted/undeleted/
// changed, team_membership and workspace_membership added/removed), with no
// fields. It returns nil when every rule holds.
func ValidateFilters(resourceType string, filters []asana.Filter) []FilterProblem {
	var probs []FilterProblem
	add := func(i int, format string, args ...any) {
		probs = append(probs, FilterProblem{Index: i, Message: fmt.Sprintf(format, args...)})
	}
	larger := slices.Contains(largerScopes, resourceType)
	if larger && len(filters) == 0 {
		add(-1, "a webhook on a %s needs at least one filter (Asana refuses it otherwise)", resourceType)
	}
	for i, f := range filters {
		if f.ResourceType == "" && f.Action == "" {
			add(i, "name a resource type, an action or both")
			continue
		}
		if f.ResourceType != "" && !isIdentifier(f.ResourceType) {
			add(i, "resource type %q: use lowercase letters and _ (task, story, project...)", f.ResourceType)
		}
		if f.Action != "" && !slices.Contains(filterActions, f.Action) {
			add(i, "unknown action %q: use one of %s", f.Action, strings.Join(filterActions, ", "))
		}
		if len(f.Fields) > 0 && f.Action != "changed" {
			add(i, "fields are only allowed with the action changed")
		}
		for _, fl := range f.Fields {
			if !isIdentifier(fl) {
				add(i, "field %q: use lowercase letters, digits and _ (name, due_on, assignee...)", fl)
			}
		}
		if larger {
			allowed, ok := largerScopeFilters[f.ResourceType]
			switch {
			case !ok:
				add(i, "a %s webhook accepts only filters on project, team_membership or workspace_membership, not %q", resourceType, f.ResourceType)
			case f.Action == "" || !slices.Contains(allowed, f.Action):
				add(i, "a %s webhook accepts %s filters only with the action %s", resourceType, f.ResourceType, strings.Join(allowed, ", "))
			}
			if len(f.Fields) > 0 {
				add(i, "a %s webhook does not support fields", resourceType)
			}
		}
	}
	return probs
}

// isIdentifier reports whether s is made of lowercase letters, digits and _,
// and starts with a letter.
func isIdentifier(s string) bool {
	if s == "" || len(s) > 100 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// isGID reports whether s looks like an Asana gid: 1 to 30 digits.
func isGID(s string) bool {
	if s == "" || len(s) > 30 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// splitFields reads a comma- or space-separated list of field names.
func splitFields(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
		out = append(out, strings.ToLower(f))
	}
	return out
}
