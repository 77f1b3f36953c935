package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// writeJSONLine writes v as one line of JSON (the --json output format).
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// newTable returns a tabwriter for the human-readable tables.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// formatTime prints an optional timestamp in UTC to the second; "-" if nil.
func formatTime(t *asana.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// formatCompact prints a compact resource as `type gid "name"`.
func formatCompact(c asana.Compact) string {
	var parts []string
	if c.ResourceType != "" {
		t := c.ResourceType
		if c.ResourceSubtype != "" && c.ResourceSubtype != "default_task" {
			t += "/" + c.ResourceSubtype
		}
		parts = append(parts, clean(t))
	}
	parts = append(parts, clean(orDash(c.GID)))
	if c.Name != "" {
		parts = append(parts, fmt.Sprintf("%q", c.Name))
	}
	return strings.Join(parts, " ")
}

// clean replaces control characters (and tabs, which break the tables) so
// that text from the API, which other Asana users may write, cannot drive
// the terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, s)
}

// webhookTable prints webhooks as a table with a header.
func webhookTable(w io.Writer, hooks []asana.Webhook) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "GID\tACTIVE\tRESOURCE\tTARGET\tFILTERS\tLAST SUCCESS\tLAST FAILURE")
	for _, h := range hooks {
		fmt.Fprintf(tw, "%s\t%t\t%s\t%s\t%s\t%s\t%s\n",
			clean(h.GID), h.Active, formatCompact(h.Resource), clean(h.Target),
			clean(FormatFilters(h.Filters)), formatTime(h.LastSuccessAt), formatTime(h.LastFailureAt))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// webhookDetails prints one webhook as aligned "key: value" lines.
func webhookDetails(w io.Writer, h *asana.Webhook) error {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("gid", clean(h.GID))
	row("active", fmt.Sprint(h.Active))
	row("resource", formatCompact(h.Resource))
	row("target", clean(h.Target))
	row("filters", clean(FormatFilters(h.Filters)))
	row("workspace webhook", fmt.Sprint(h.IsWorkspaceWebhook))
	row("created", formatTime(h.CreatedAt))
	row("last success", formatTime(h.LastSuccessAt))
	failure := formatTime(h.LastFailureAt)
	if h.LastFailureContent != "" {
		failure += "  " + fmt.Sprintf("%q", h.LastFailureContent)
	}
	row("last failure", failure)
	row("delivery retries", fmt.Sprint(h.DeliveryRetryCount))
	row("next attempt", formatTime(h.NextAttemptAfter))
	row("deleted after", formatTime(h.FailureDeletionTimestamp))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write webhook: %w", err)
	}
	return nil
}

// formatEvent prints an event as one line:
// time, action, resource, then the changed field, parent and user when known.
func formatEvent(e asana.Event) string {
	var b strings.Builder
	if e.CreatedAt.IsZero() {
		b.WriteString("-")
	} else {
		b.WriteString(e.CreatedAt.UTC().Format(asana.TimeLayout))
	}
	b.WriteString("  " + clean(orDash(e.Action)))
	b.WriteString("  " + formatCompact(e.Resource))
	if e.Change != nil && e.Change.Field != "" {
		b.WriteString("  field=" + clean(e.Change.Field))
		if e.Change.Action != "" {
			b.WriteString(" (" + clean(e.Change.Action) + ")")
		}
	}
	if e.Parent != nil {
		b.WriteString("  parent=" + formatCompact(*e.Parent))
	}
	if e.User != nil {
		b.WriteString("  by=" + formatCompact(*e.User))
	}
	return b.String()
}
