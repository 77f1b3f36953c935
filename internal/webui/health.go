package webui

import (
	"fmt"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// HealthLevel is the badge of a webhook.
type HealthLevel string

// The health levels, from best to worst.
const (
	// HealthHealthy: Asana delivers and nothing is wrong.
	HealthHealthy HealthLevel = "healthy"
	// HealthWarning: something needs a look (a retry, a missed heartbeat).
	HealthWarning HealthLevel = "warning"
	// HealthFailing: deliveries fail, or Asana stopped or will delete it.
	HealthFailing HealthLevel = "failing"
)

// Health is a webhook's badge and the reasons for it, in words.
type Health struct {
	Level   HealthLevel
	Reasons []string
}

// worsen raises h to level (if worse) and adds the reason.
func (h *Health) worsen(level HealthLevel, reason string) {
	rank := map[HealthLevel]int{HealthHealthy: 0, HealthWarning: 1, HealthFailing: 2}
	if rank[level] > rank[h.Level] {
		h.Level = level
	}
	h.Reasons = append(h.Reasons, reason)
}

// WebhookHealth judges a webhook from Asana's record and, for ours, from the
// heartbeats we received (hook may be nil): failing when Asana marks it
// inactive, plans to delete it, or its last delivery failed; warning when
// Asana is retrying, or when no heartbeat came for heartbeatWarning (Asana
// sends one every 8 hours) although the webhook is older than that.
func WebhookHealth(w asana.Webhook, hook *inspector.Hook, now time.Time, heartbeatWarning time.Duration) Health {
	h := Health{Level: HealthHealthy}
	if !w.Active {
		h.worsen(HealthFailing, "Asana marks it inactive: it sends no events")
	}
	if w.FailureDeletionTimestamp != nil && !w.FailureDeletionTimestamp.IsZero() {
		h.worsen(HealthFailing, "Asana will delete it at "+utc(w.FailureDeletionTimestamp.Time)+" unless a delivery succeeds")
	}
	lastFail, lastOK := timeOf(w.LastFailureAt), timeOf(w.LastSuccessAt)
	switch {
	case !lastFail.IsZero() && lastFail.After(lastOK):
		h.worsen(HealthFailing, "its last delivery failed ("+utc(lastFail)+")")
	case !lastFail.IsZero():
		h.Reasons = append(h.Reasons, "recovered from a failure at "+utc(lastFail))
	}
	if w.DeliveryRetryCount > 0 {
		h.worsen(HealthWarning, fmt.Sprintf("Asana is retrying (%d retries)", w.DeliveryRetryCount))
	}
	if hook != nil {
		since := hook.LastHeartbeatAt
		if since.IsZero() {
			since = timeOf(w.CreatedAt)
			if since.IsZero() {
				since = hook.CreatedAt
			}
		}
		if !since.IsZero() && now.Sub(since) > heartbeatWarning {
			h.worsen(HealthWarning, "no heartbeat since "+utc(since))
		}
	}
	return h
}

func timeOf(t *asana.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// utc formats t for people, in UTC.
func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
