// Package emulatortest starts an Asana emulator inside a Go test and stops it
// when the test ends.
//
//	srv := emulatortest.New(t)
//	client := asana.NewClient(srv.Token(), asana.WithBaseURL(srv.BaseURL())) // or any Asana client
package emulatortest

import (
	"log/slog"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/clock"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
)

// Option changes the emulator's Config before it starts.
type Option func(*emulator.Config)

// WithConfig lets the caller change any Config field.
func WithConfig(f func(*emulator.Config)) Option { return Option(f) }

// WithFakeClock runs the emulator on clk, so the test moves time with
// clk.Advance or Server.AdvanceClock.
func WithFakeClock(clk *clock.Fake) Option { return func(c *emulator.Config) { c.Clock = clk } }

// WithTokens sets the accepted tokens (each a user).
func WithTokens(tokens ...string) Option { return func(c *emulator.Config) { c.Tokens = tokens } }

// WithSeed sets the seed data.
func WithSeed(s *emulator.Seed) Option { return func(c *emulator.Config) { c.Seed = s } }

// WithStrict turns on strict target checks (no localhost, https only).
func WithStrict() Option { return func(c *emulator.Config) { c.Strict = true } }

// WithRateLimit sets the per-token requests per minute (negative: off).
func WithRateLimit(perMinute int) Option { return func(c *emulator.Config) { c.RateLimit = perMinute } }

// WithDelivery sets the delivery engine's config.
func WithDelivery(d delivery.Config) Option { return func(c *emulator.Config) { c.Delivery = d } }

// WithLogger sends the emulator's logs to l.
func WithLogger(l *slog.Logger) Option { return func(c *emulator.Config) { c.Logger = l } }

// New starts an emulator on a free loopback port and closes it when tb ends.
// It fails the test if the emulator cannot start.
func New(tb testing.TB, opts ...Option) *emulator.Server {
	tb.Helper()
	var cfg emulator.Config
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := emulator.Start(cfg)
	if err != nil {
		tb.Fatalf("start emulator: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("close emulator: %v", err)
		}
	})
	return srv
}

// Start is New with a fake clock starting at start, which it also returns.
func Start(tb testing.TB, start time.Time, opts ...Option) (*emulator.Server, *clock.Fake) {
	tb.Helper()
	clk := clock.NewFake(start)
	return New(tb, append([]Option{WithFakeClock(clk)}, opts...)...), clk
}
