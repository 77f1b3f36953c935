package asana

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is what a Secret prints as, whatever the verb or encoder.
const Redacted = "[REDACTED]"

// Secret holds a webhook's X-Hook-Secret. Printing it, logging it with slog or
// encoding it as JSON yields [Redacted]; the value comes out only through
// Reveal, so code that stores or uses it has to ask for it on purpose.
type Secret struct {
	value string
}

// NewSecret wraps a secret value.
func NewSecret(value string) Secret { return Secret{value: value} }

// Reveal returns the secret's value. Call it only to sign, verify, store or
// echo the secret, never to display it.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

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
