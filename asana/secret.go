package asana

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"unique"
)

// Redacted is what a Secret prints as, whatever the verb or encoder.
const Redacted = "[REDACTED]"

// Secret holds a webhook's X-Hook-Secret. Printing it, logging it with slog or
// encoding it as JSON yields [Redacted]; the value comes out only through
// Reveal, so code that stores or uses it has to ask for it on purpose.
//
// Secrets compare with == by value, and the zero Secret equals NewSecret("").
type Secret struct {
	// The value sits behind a pointer (a unique.Handle) rather than in a
	// string field: when a Secret is an unexported field of another struct,
	// fmt cannot call its methods and prints its fields by reflection, and
	// a pointer then prints as an address, never as the value. A handle
	// also keeps == comparing values.
	h unique.Handle[string]
}

// NewSecret wraps a secret value.
func NewSecret(value string) Secret {
	if value == "" {
		return Secret{}
	}
	return Secret{h: unique.Make(value)}
}

// Reveal returns the secret's value. Call it only to sign, verify, store or
// echo the secret, never to display it.
func (s Secret) Reveal() string {
	if s.IsZero() {
		return ""
	}
	return s.h.Value()
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.h == unique.Handle[string]{} }

// Equal reports whether two secrets hold the same value, in constant time.
// go-cmp uses it, so structs holding a Secret compare without reflection.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

// String implements fmt.Stringer.
func (s Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer, so %#v redacts too.
func (s Secret) GoString() string { return Redacted }

// Format implements fmt.Formatter, so that every verb (%s, %v, %x, %q, %d...)
// prints [Redacted] instead of the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", Redacted)
		return
	}
	_, _ = f.Write([]byte(Redacted))
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(Redacted) }

// MarshalText implements encoding.TextMarshaler, for encoders (and slog's
// handlers) that prefer text.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
