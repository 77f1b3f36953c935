// Package asana is the Asana webhooks protocol for Go programs: the wire types
// of webhooks and events, the X-Hook-Signature scheme, a Secret type that
// refuses to be printed, Asana's error envelope as a Go error, and an API
// client for the webhooks, events and lookup endpoints.
//
// A receiver verifies a delivery over the raw request body, before decoding it:
//
//	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
//	if !asana.Verify(secret, body, r.Header.Get(asana.HeaderSignature)) {
//		http.Error(w, "bad signature", http.StatusUnauthorized)
//		return
//	}
package asana
