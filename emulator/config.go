// Package emulator is a local, in-process emulation of Asana's REST API as
// far as webhooks and events need it: users, workspaces, projects, sections,
// tasks and stories whose mutations emit Asana's events; webhooks with the
// handshake, signed deliveries, heartbeats and automatic deletion (through
// package emulator/delivery); the /events polling endpoints with sync tokens;
// Asana's error envelope, rate and concurrency limits; and an admin API under
// /_emulator/ that moves the clock, injects events and lists every delivery.
//
// Other people's Go tests start one with Start (or emulatortest.New) and point
// their Asana client at Server.BaseURL with Server.Token.
package emulator

import (
	"log/slog"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator/clock"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
)

// DefaultToken is the bearer token an emulator accepts when Config.Tokens is
// empty.
const DefaultToken = "emulator-token"

// Defaults of Config, used for every zero field.
const (
	DefaultRateLimit            = 1500
	DefaultMaxReads             = 50
	DefaultMaxWrites            = 15
	DefaultEventsTTL            = 24 * time.Hour
	DefaultMaxEvents            = 100000
	DefaultMaxBodyBytes         = 1 << 20
	DefaultWebhooksPerResource  = 1000
	DefaultWebhooksPerToken     = 10000
	DefaultSecretBytes          = 32
	DefaultHandshakeFailureCode = 400
)

// Config configures an Emulator. The zero value is usable: one token
// (DefaultToken), the built-in seed, the real clock and Asana's limits.
type Config struct {
	// Addr is the listen address of Start; "" picks a free loopback port.
	Addr string
	// Tokens are the accepted bearer tokens. Each is a user, a member of every
	// seeded workspace and project: the i-th token is the i-th seeded user,
	// and tokens beyond the seeded users get users of their own.
	Tokens []string
	// Seed is the initial data; nil means DefaultSeed().
	Seed *Seed
	// Clock drives timestamps, sync-token expiry, the rate limiter and the
	// delivery engine; nil means the real clock.
	Clock clock.Clock
	// Strict rejects webhook targets on localhost or loopback addresses and
	// plain-http targets with 403, as production Asana does.
	Strict bool
	// RateLimit is the requests per minute allowed per token; 0 means
	// DefaultRateLimit, a negative value turns the limiter off.
	RateLimit int
	// MaxReads and MaxWrites are the concurrent GETs and mutations allowed
	// per token; 0 means the default (50 and 15), negative means no limit.
	MaxReads, MaxWrites int
	// Delivery configures the delivery engine (zero fields get its defaults).
	Delivery delivery.Config
	// EventsTTL is how long sync tokens and /events events live; 0 means 24h.
	EventsTTL time.Duration
	// MaxEvents is how many events the /events log keeps, oldest dropped
	// first; a sync token whose next events were dropped gets a 412, as
	// Asana's tokens expire sooner under load. 0 means 100,000.
	MaxEvents int
	// MaxBodyBytes caps request bodies; 0 means 1 MiB.
	MaxBodyBytes int64
	// WebhooksPerResource limits webhooks (and /events streams) per
	// resource; 0 means 1,000.
	WebhooksPerResource int
	// WebhooksPerToken limits webhooks per token; 0 means 10,000.
	WebhooksPerToken int
	// HandshakeFailureStatus is the status of a create whose handshake
	// failed; 0 means 400.
	HandshakeFailureStatus int
	// Logger receives the emulator's logs; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if len(c.Tokens) == 0 {
		c.Tokens = []string{DefaultToken}
	}
	if c.Seed == nil {
		c.Seed = DefaultSeed()
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.MaxReads == 0 {
		c.MaxReads = DefaultMaxReads
	}
	if c.MaxWrites == 0 {
		c.MaxWrites = DefaultMaxWrites
	}
	if c.EventsTTL <= 0 {
		c.EventsTTL = DefaultEventsTTL
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = DefaultMaxEvents
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.WebhooksPerResource <= 0 {
		c.WebhooksPerResource = DefaultWebhooksPerResource
	}
	if c.WebhooksPerToken <= 0 {
		c.WebhooksPerToken = DefaultWebhooksPerToken
	}
	if c.HandshakeFailureStatus == 0 {
		c.HandshakeFailureStatus = DefaultHandshakeFailureCode
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
