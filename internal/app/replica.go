package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// lockName names a lock beside the run locks (inspector.RunLocker), for what
// one process at a time may do: kind ("lead" for the replica that manages
// the webhooks on a public URL, "forward" for the gateway to an app) and a
// digest of key, which may be any string.
func lockName(kind, key string) string {
	sum := sha256.Sum256([]byte(key))
	return kind + "-" + hex.EncodeToString(sum[:16])
}

// tryLead takes the lock of the replica that manages the webhooks, unless
// another replica holds it; it never waits for it.
func (in *Inspector) tryLead(ctx context.Context) (bool, error) {
	l, ok := in.store.(inspector.RunLocker)
	if !ok {
		return false, fmt.Errorf("--replica: this store (%T) cannot tell replicas apart", in.store)
	}
	id := lockName("lead", in.publicURL)
	alive, err := l.RunAlive(ctx, id)
	if err != nil || alive {
		return false, err
	}
	// Another replica may take it between the two calls: give up quickly
	// rather than wait for it.
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	unlock, err := l.LockRun(lctx, id)
	if err != nil {
		return false, nil
	}
	in.mu.Lock()
	in.leadUnlock = unlock
	in.mu.Unlock()
	return true, nil
}

// follow tries, every ReplicaPoll, to take over the webhooks from the
// replica that manages them, until it does or the inspector closes.
func (in *Inspector) follow(ctx context.Context, specs []inspector.HookSpec) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.followCancel = cancel
	in.followDone = make(chan struct{})
	go func() {
		defer close(in.followDone)
		tick := time.NewTicker(in.cfg.ReplicaPoll)
		defer tick.Stop()
		for {
			select {
			case <-fctx.Done():
				return
			case <-tick.C:
			}
			leading, err := in.tryLead(fctx)
			if err != nil {
				in.log.Warn("replica: cannot take over the webhooks", "err", err)
				continue
			}
			if !leading {
				continue
			}
			in.printer.info("replica: the inspector that managed the webhooks on %s stopped; this one takes over", in.publicURL)
			if err := in.lead(fctx, specs); err != nil && fctx.Err() == nil {
				in.printer.info("warning: replica: taking over the webhooks failed: %v", err)
			}
			return
		}
	}()
}
