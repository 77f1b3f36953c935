package asana

import "context"

// CallTrace hooks into the attempts of a Client call, in the manner of
// net/http/httptrace. The client retries some calls (a 429 after its
// Retry-After), and a caller may need to know when a request is really in
// flight: the inspector accepts a webhook's handshake only while the request
// that creates it is, and not while the client waits to retry it.
//
// The hooks run on the calling goroutine. They apply to the attempts of the
// call itself, not to the requests a CreateWebhook makes afterwards to find
// out whether a webhook was created after all.
type CallTrace struct {
	// AttemptStart, if set, is called before each attempt's request is
	// sent.
	AttemptStart func()
	// AttemptDone, if set, is called when that attempt has ended: with nil
	// once its response (whatever its status) has been read, or with the
	// error that ended it.
	AttemptDone func(err error)
}

type callTraceKey struct{}

// WithCallTrace returns a context carrying t for the calls made with it; a
// nil t removes any trace ctx carried.
func WithCallTrace(ctx context.Context, t *CallTrace) context.Context {
	return context.WithValue(ctx, callTraceKey{}, t)
}

// ContextCallTrace returns the CallTrace ctx carries, or nil.
func ContextCallTrace(ctx context.Context) *CallTrace {
	t, _ := ctx.Value(callTraceKey{}).(*CallTrace)
	return t
}
