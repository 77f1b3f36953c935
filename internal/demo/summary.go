package demo

import (
	"fmt"
	"io"
	"strings"

	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// SummaryPrefix starts the last line of the demo's output, followed by the
// Summary as one JSON object, for scripts and tests.
const SummaryPrefix = "summary (JSON): "

// Summary is what a demo run did, counted from the two sides: the emulator's
// own record of every HTTP attempt it made, and the inspector's store.
// Nothing in it is counted by the scene itself.
type Summary struct {
	// EmulatorDeliveries and EmulatorEvents count the event deliveries the
	// emulator made that were acknowledged, and the events in them.
	EmulatorDeliveries int `json:"emulator_deliveries"`
	EmulatorEvents     int `json:"emulator_events"`
	// EmulatorHeartbeats counts acknowledged heartbeats.
	EmulatorHeartbeats int `json:"emulator_heartbeats"`
	// EmulatorFailedAttempts counts attempts (of any kind, handshakes
	// included) that were not acknowledged.
	EmulatorFailedAttempts int `json:"emulator_failed_attempts"`
	// StoredDeliveries counts the event deliveries in the inspector's store
	// (heartbeats and malformed bodies apart), StoredEvents every event
	// receipt in them and DistinctEvents the events stored once each.
	StoredDeliveries int64 `json:"stored_deliveries"`
	StoredEvents     int64 `json:"stored_events"`
	DistinctEvents   int64 `json:"distinct_events"`
	// StoredHeartbeats counts the heartbeats in the store.
	StoredHeartbeats int64 `json:"stored_heartbeats"`
	// StoredMalformed counts verified bodies that were not {"events":[...]}.
	StoredMalformed int64 `json:"stored_malformed"`
	// Rejected counts the requests the receiver refused with 401
	// (signature), 403 (handshake outside a create) or 409 (a second
	// secret), as its log reports them; in the demo only the forgeries.
	Rejected int `json:"forgeries_rejected"`
	// ForgeriesSent is how many forged requests the demo sent.
	ForgeriesSent int `json:"forgeries_sent"`
	// SignatureFailures counts the emulator's (genuine) deliveries that the
	// receiver answered with 401.
	SignatureFailures int `json:"signature_failures"`
	// WebhooksLeft is the number of webhooks in the emulator after the
	// inspector deleted its own.
	WebhooksLeft int `json:"webhooks_left"`
	// EventsLogged counts the events Asana's /events log holds for the
	// project since the webhook was created: every change, whether or not
	// it passes the webhook's filters. It is -1 when not read.
	EventsLogged int `json:"events_logged"`
	// Completed reports whether the scene ran to its end.
	Completed bool `json:"scene_completed"`
}

// OK reports whether the two sides agree: every event the emulator delivered
// is in the store, no genuine delivery failed its signature, every forgery
// was refused, and no webhook is left behind.
func (s Summary) OK() bool {
	return s.Mismatch() == ""
}

// Mismatch says in words what does not add up; "" when all does.
func (s Summary) Mismatch() string {
	var p []string
	if int64(s.EmulatorDeliveries) != s.StoredDeliveries {
		p = append(p, fmt.Sprintf("the emulator delivered %d event deliveries but the store holds %d", s.EmulatorDeliveries, s.StoredDeliveries))
	}
	if int64(s.EmulatorEvents) != s.StoredEvents {
		p = append(p, fmt.Sprintf("the emulator delivered %d events but the store holds %d", s.EmulatorEvents, s.StoredEvents))
	}
	if int64(s.EmulatorHeartbeats) != s.StoredHeartbeats {
		p = append(p, fmt.Sprintf("the emulator delivered %d heartbeats but the store holds %d", s.EmulatorHeartbeats, s.StoredHeartbeats))
	}
	if s.SignatureFailures != 0 {
		p = append(p, fmt.Sprintf("%d genuine deliveries failed their signature check", s.SignatureFailures))
	}
	if s.Rejected != s.ForgeriesSent {
		p = append(p, fmt.Sprintf("%d forged requests were sent but %d were rejected", s.ForgeriesSent, s.Rejected))
	}
	if s.WebhooksLeft != 0 {
		p = append(p, fmt.Sprintf("%d webhooks are left in the emulator", s.WebhooksLeft))
	}
	return strings.Join(p, "; ")
}

// summarize counts the emulator's records and reads the store's stats.
func summarize(records []delivery.Record, stats inspector.Stats, rejected map[int]int) Summary {
	var s Summary
	for _, r := range records {
		if !r.Success {
			s.EmulatorFailedAttempts++
			if r.Kind != delivery.KindHandshake && r.Status == 401 {
				s.SignatureFailures++
			}
			continue
		}
		switch r.Kind {
		case delivery.KindEvents:
			s.EmulatorDeliveries++
			s.EmulatorEvents += r.EventCount
		case delivery.KindHeartbeat:
			s.EmulatorHeartbeats++
		}
	}
	s.StoredDeliveries = stats.Deliveries - stats.Heartbeats - stats.Malformed
	s.StoredEvents = stats.Receipts
	s.DistinctEvents = stats.Events
	s.StoredHeartbeats = stats.Heartbeats
	s.StoredMalformed = stats.Malformed
	for _, n := range rejected {
		s.Rejected += n
	}
	return s
}

// print writes the summary in words.
func (s Summary) print(w io.Writer) {
	fmt.Fprintln(w, "Summary (counted by the emulator and read from the inspector's store):")
	fmt.Fprintf(w, "  deliveries:          %d sent by Asana (the emulator), %d verified and stored\n", s.EmulatorDeliveries, s.StoredDeliveries)
	fmt.Fprintf(w, "  events:              %d sent, %d stored (%d distinct)\n", s.EmulatorEvents, s.StoredEvents, s.DistinctEvents)
	if s.EventsLogged >= 0 {
		fmt.Fprintf(w, "  left out by filter:  %d of the %d events in Asana's /events log were outside the webhook's filter\n",
			max(0, s.EventsLogged-s.EmulatorEvents), s.EventsLogged)
	}
	fmt.Fprintf(w, "  heartbeats:          %d sent, %d stored\n", s.EmulatorHeartbeats, s.StoredHeartbeats)
	fmt.Fprintf(w, "  rejected forgeries:  %d of %d\n", s.Rejected, s.ForgeriesSent)
	fmt.Fprintf(w, "  signature failures:  %d\n", s.SignatureFailures)
	fmt.Fprintf(w, "  webhooks left:       %d\n", s.WebhooksLeft)
	if m := s.Mismatch(); m != "" {
		fmt.Fprintf(w, "Something does not add up: %s.\n", m)
	} else {
		fmt.Fprintln(w, s.verdict())
	}
}

// verdict is the closing sentence of a summary that adds up; it claims only
// what the run did (an interrupted scene may have sent no forgery).
func (s Summary) verdict() string {
	var b strings.Builder
	if !s.Completed {
		b.WriteString("The scene was stopped before its end. ")
	}
	b.WriteString("Everything Asana sent was verified and stored exactly once")
	switch {
	case s.ForgeriesSent == 1:
		b.WriteString("; the forgery was refused")
	case s.ForgeriesSent > 1:
		b.WriteString("; the forgeries were refused")
	}
	b.WriteString("; the webhook is gone.")
	return b.String()
}
