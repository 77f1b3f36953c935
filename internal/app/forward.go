package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/asana-webhooks/asana-webhooks/internal/gateway"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// ParseForwardURL checks the URL of the user's app (http or https, a host,
// no credentials, no fragment) and returns it as given.
func ParseForwardURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("forward URL %q: not a valid URL", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("forward URL %q: want an http:// or https:// URL, such as http://localhost:3000/asana/webhook", raw)
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("forward URL %q: want an absolute URL, such as http://localhost:3000/asana/webhook", raw)
	case u.User != nil:
		return "", fmt.Errorf("forward URL %q: credentials are not allowed", u.Redacted())
	case u.Fragment != "":
		return "", fmt.Errorf("forward URL %q: want no fragment", raw)
	}
	return raw, nil
}

// startGateway prepares the gateway to cfg.ForwardTo (the handshake with the
// app, the first time) and starts forwarding.
func (in *Inspector) startGateway(ctx context.Context) error {
	st, ok := in.store.(gateway.Store)
	if !ok {
		return fmt.Errorf("--forward-to: this store (%T) cannot keep the gateway's state", in.store)
	}
	gw, err := gateway.New(gateway.Config{
		Store:      st,
		URL:        in.cfg.ForwardTo,
		HTTPClient: in.cfg.ForwardClient,
		UserAgent:  "asana-webhooks gateway",
		Logger:     in.log,
		OnEvent:    in.printer.forwarded,
	})
	if err != nil {
		return err
	}
	// One gateway per app and database: two would both forward every
	// delivery, and their first handshakes would race.
	if l, ok := in.store.(inspector.RunLocker); ok {
		lockID := lockName("forward", in.cfg.ForwardTo)
		alive, err := l.RunAlive(ctx, lockID)
		if err != nil {
			return fmt.Errorf("--forward-to: %w", err)
		}
		if alive {
			return fmt.Errorf("--forward-to: another inspector on this database is already forwarding to %s; run the gateway in one of them", in.cfg.ForwardTo)
		}
		if in.gwUnlock, err = l.LockRun(ctx, lockID); err != nil {
			return fmt.Errorf("--forward-to: %w", err)
		}
	}
	resumed, err := gw.Prepare(ctx)
	switch {
	case errors.Is(err, gateway.ErrHandshake):
		// The app may not be running yet: the gateway keeps trying.
		in.printer.info("warning: forwarding to %s: %v; trying again until it does, deliveries wait in the database",
			in.cfg.ForwardTo, err)
	case err != nil:
		return fmt.Errorf("--forward-to: %w", err)
	case resumed:
		in.printer.info("forwarding every delivery to %s (handshake done: the app has its new secret; what an earlier run left is forwarded first)", in.cfg.ForwardTo)
	default:
		in.printer.info("forwarding every delivery to %s (handshake done: the app has its secret)", in.cfg.ForwardTo)
	}
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.gwCancel, in.gwDone = cancel, make(chan struct{})
	in.fwd.Store(gw)
	go func() {
		defer close(in.gwDone)
		_ = gw.Run(gctx)
	}()
	return nil
}
