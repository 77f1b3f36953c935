// Package delivery is the emulator's webhook delivery engine: per-webhook
// queues, batching, signed POSTs, retries with backoff, heartbeats and
// auto-deletion, all timed by an injectable clock, plus the encoder that
// writes bodies byte for byte as Asana (and JavaScript's JSON.stringify) does.
package delivery

import (
	"net/http"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// Config holds the delivery settings. Zero fields take the defaults of
// DefaultConfig when passed to New or SetConfig.
type Config struct {
	Deadline         time.Duration // per attempt; default 10s
	AcceptAny2xx     bool          // default false: only 200 and 204 succeed
	BatchWindow      time.Duration // default 0
	MaxBatch         int           // events per body; default 100
	BackoffBase      time.Duration // default 30s
	BackoffMax       time.Duration // default 1h
	DeleteAfter      time.Duration // default 24h without success -> webhook deleted
	HeartbeatEvery   time.Duration // default 8h
	HandshakeTimeout time.Duration // default 10s
}

// DefaultConfig returns the settings the emulator starts with (reference §6).
func DefaultConfig() Config {
	return Config{
		Deadline:         10 * time.Second,
		BatchWindow:      0,
		MaxBatch:         100,
		BackoffBase:      30 * time.Second,
		BackoffMax:       time.Hour,
		DeleteAfter:      24 * time.Hour,
		HeartbeatEvery:   8 * time.Hour,
		HandshakeTimeout: 10 * time.Second,
	}
}

// withDefaults fills zero (or negative) fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Deadline <= 0 {
		c.Deadline = d.Deadline
	}
	if c.BatchWindow < 0 {
		c.BatchWindow = 0
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = d.BackoffBase
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = d.BackoffMax
	}
	if c.DeleteAfter <= 0 {
		c.DeleteAfter = d.DeleteAfter
	}
	if c.HeartbeatEvery <= 0 {
		c.HeartbeatEvery = d.HeartbeatEvery
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	return c
}

// Faults are optional misbehaviours for testing receivers; all are off by
// default and deterministic for a given Seed.
type Faults struct {
	DropRate             float64       // 0..1: chance an event is silently dropped
	DuplicateRate        float64       // 0..1: chance a delivered batch is sent twice
	ReorderRate          float64       // 0..1: chance a batch's events are shuffled
	CorruptSignatureRate float64       // 0..1: chance a body's signature is flipped
	Delay                time.Duration // added before each attempt (real time, not clock)
	DeliverAfterDelete   bool          // a webhook removed while events are queued still gets one more delivery
	Seed                 int64
}

// Target is a webhook to deliver to.
type Target struct {
	GID    string
	URL    string
	Secret asana.Secret
}

// Health is a webhook's delivery state, the fields of Asana's webhook object
// (last_success_at, last_failure_at, next_attempt_after,
// failure_deletion_timestamp, last_failure_content, delivery_retry_count).
// Nil times are unset. LastHeartbeatAt (not an Asana field) is when the last
// heartbeat was sent. LastFailureContent keeps the last failure's text after
// a success, as Asana's last_failure_content does.
type Health struct {
	LastSuccessAt, LastFailureAt, NextAttemptAfter, FailureDeletionAt, LastHeartbeatAt *time.Time
	LastFailureContent                                                                 string
	RetryCount                                                                         int
}

// Record kinds.
const (
	KindHandshake = "handshake"
	KindHeartbeat = "heartbeat"
	KindEvents    = "events"
)

// Record is one HTTP attempt, handshake or delivery.
type Record struct {
	ID             int64
	WebhookGID     string
	URL            string
	Kind           string // "handshake" | "heartbeat" | "events"
	EventCount     int
	Attempt        int
	RequestHeader  http.Header
	RequestBody    []byte // exact bytes sent
	Status         int
	ResponseHeader http.Header
	ResponseBody   string // excerpt
	Err            string
	Success        bool
	StartedAt      time.Time     // clock time
	Duration       time.Duration // real
}
