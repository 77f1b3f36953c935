package delivery

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// EncodeEvent encodes v as compact JSON exactly as Asana writes it: Go's
// encoding/json does the struct work, then Canonicalize rewrites the bytes
// the way JavaScript's JSON.stringify would (no HTML escaping, U+2028 and
// U+2029 left raw), so receivers that hash JSON.stringify(JSON.parse(body))
// compute the same bytes.
func EncodeEvent(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	out, err := Canonicalize(b)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return out, nil
}

// EncodeBody returns the delivery body {"events":[...]} holding events,
// which must each be encoded JSON (an empty one is written as null).
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

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 10000

// errSyntax is wrapped by every Canonicalize parse error.
var errSyntax = errors.New("invalid json")

// Canonicalize re-encodes arbitrary JSON (such as injected events) into the
// bytes JavaScript's JSON.stringify(JSON.parse(raw)) produces:
//   - compact, no whitespace;
//   - strings escape only '"', '\\', control characters (\b \f \n \r \t, others
//     as lowercase \u00xx) and lone surrogates; '<', '&', '/', U+2028 and
//     non-ASCII text stay raw;
//   - numbers are IEEE doubles printed like Number#toString (1e21, 1.5e-7,
//     -0 as 0, out-of-range as null);
//   - object keys keep their order, except that, like a JS object, keys that
//     are array indices ("0".."4294967294") come first in ascending order and
//     a repeated key keeps its first position with its last value.
//
// Invalid JSON or invalid UTF-8 is an error.
func Canonicalize(raw []byte) (json.RawMessage, error) {
	p := parser{src: raw}
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return nil, fmt.Errorf("canonicalize: %w", err)
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("canonicalize: %w: unexpected %q after top-level value at offset %d", errSyntax, p.src[p.pos], p.pos)
	}
	out := make([]byte, 0, len(raw))
	return json.RawMessage(v.appendTo(out)), nil
}

// node is a parsed JSON value, already in its output form where possible.
type node struct {
	kind    byte   // 'o' object, 'a' array, 's' scalar (already encoded)
	scalar  []byte // encoded scalar
	keys    []string
	members map[string]*node // object members by encoded key
	items   []*node
}

func (n *node) appendTo(b []byte) []byte {
	switch n.kind {
	case 'o':
		b = append(b, '{')
		for i, k := range n.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, k...)
			b = append(b, ':')
			b = n.members[k].appendTo(b)
		}
		return append(b, '}')
	case 'a':
		b = append(b, '[')
		for i, it := range n.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = it.appendTo(b)
		}
		return append(b, ']')
	default:
		return append(b, n.scalar...)
	}
}

type parser struct {
	src []byte
	pos int
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", errSyntax, fmt.Sprintf(format, args...), p.pos)
}

func (p *parser) value(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, p.errorf("nesting deeper than %d", maxDepth)
	}
	if p.pos >= len(p.src) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &node{kind: 's', scalar: s}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if strings.HasPrefix(string(p.src[p.pos:min(len(p.src), p.pos+len(lit))]), lit) {
				p.pos += len(lit)
				return &node{kind: 's', scalar: []byte(lit)}, nil
			}
		}
		return nil, p.errorf("unexpected character %q", c)
	}
}

func (p *parser) object(depth int) (*node, error) {
	p.pos++ // {
	n := &node{kind: 'o', members: map[string]*node{}}
	var indexKeys []string // array-index keys, ordered first like a JS object
	var indexVals []uint32
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		return n, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != '"' {
			return nil, p.errorf("expected object key")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return nil, p.errorf("expected ':' after object key")
		}
		p.pos++
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		key := string(k)
		if _, dup := n.members[key]; !dup {
			if idx, ok := arrayIndex(k); ok {
				indexKeys = append(indexKeys, key)
				indexVals = append(indexVals, idx)
			} else {
				n.keys = append(n.keys, key)
			}
		}
		n.members[key] = v
		p.skipSpace()
		if p.pos >= len(p.src) {
			return nil, p.errorf("unexpected end of input in object")
		}
		if p.src[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.src[p.pos] == '}' {
			p.pos++
			break
		}
		return nil, p.errorf("expected ',' or '}' in object")
	}
	if len(indexKeys) > 0 {
		sortIndexKeys(indexKeys, indexVals)
		n.keys = append(indexKeys, n.keys...)
	}
	return n, nil
}

// arrayIndex reports whether the encoded key enc is a JS array index: the
// canonical decimal form of an integer in [0, 2^32-2].
func arrayIndex(enc []byte) (uint32, bool) {
	if len(enc) < 3 || len(enc) > 12 {
		return 0, false
	}
	digits := enc[1 : len(enc)-1]
	if len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	var v uint64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false
		}
		v = v*10 + uint64(d-'0')
	}
	if v > math.MaxUint32-1 {
		return 0, false
	}
	return uint32(v), true
}

func sortIndexKeys(keys []string, vals []uint32) {
	// Insertion sort: objects with many numeric keys are rare.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && vals[j] < vals[j-1]; j-- {
			vals[j], vals[j-1] = vals[j-1], vals[j]
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}

func (p *parser) array(depth int) (*node, error) {
	p.pos++ // [
	n := &node{kind: 'a'}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		return n, nil
	}
	for {
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, v)
		p.skipSpace()
		if p.pos >= len(p.src) {
			return nil, p.errorf("unexpected end of input in array")
		}
		if p.src[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.src[p.pos] == ']' {
			p.pos++
			return n, nil
		}
		return nil, p.errorf("expected ',' or ']' in array")
	}
}

// str parses a JSON string at p.pos and returns it re-encoded like
// JSON.stringify.
func (p *parser) str() ([]byte, error) {
	p.pos++ // opening quote
	out := []byte{'"'}
	for {
		if p.pos >= len(p.src) {
			return nil, p.errorf("unterminated string")
		}
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			return append(out, '"'), nil
		case c == '\\':
			if p.pos+1 >= len(p.src) {
				return nil, p.errorf("unterminated escape")
			}
			e := p.src[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				out = appendUnit(out, rune(e))
			case 'b':
				out = appendUnit(out, '\b')
			case 'f':
				out = appendUnit(out, '\f')
			case 'n':
				out = appendUnit(out, '\n')
			case 'r':
				out = appendUnit(out, '\r')
			case 't':
				out = appendUnit(out, '\t')
			case 'u':
				u, err := p.hex4()
				if err != nil {
					return nil, err
				}
				if u >= 0xD800 && u < 0xDC00 && p.pos+1 < len(p.src) && p.src[p.pos] == '\\' && p.src[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					lo, err := p.hex4()
					if err == nil && lo >= 0xDC00 && lo < 0xE000 {
						out = appendUnit(out, 0x10000+(u-0xD800)<<10+(lo-0xDC00))
						continue
					}
					p.pos = save
				}
				out = appendUnit(out, u)
			default:
				p.pos -= 2
				return nil, p.errorf("invalid escape \\%c", e)
			}
		case c < 0x20:
			return nil, p.errorf("control character %#x in string", c)
		case c < utf8.RuneSelf:
			out = appendUnit(out, rune(c))
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.src[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, p.errorf("invalid UTF-8")
			}
			out = append(out, p.src[p.pos:p.pos+size]...)
			p.pos += size
		}
	}
}

func (p *parser) hex4() (rune, error) {
	if p.pos+4 > len(p.src) {
		return 0, p.errorf("short \\u escape")
	}
	var r rune
	for _, h := range p.src[p.pos : p.pos+4] {
		var d byte
		switch {
		case h >= '0' && h <= '9':
			d = h - '0'
		case h >= 'a' && h <= 'f':
			d = h - 'a' + 10
		case h >= 'A' && h <= 'F':
			d = h - 'A' + 10
		default:
			return 0, p.errorf("invalid \\u escape")
		}
		r = r<<4 | rune(d)
	}
	p.pos += 4
	return r, nil
}

const hexDigits = "0123456789abcdef"

// appendUnit appends r as JSON.stringify writes it inside a string; r may be
// a lone surrogate.
func appendUnit(b []byte, r rune) []byte {
	switch r {
	case '"':
		return append(b, '\\', '"')
	case '\\':
		return append(b, '\\', '\\')
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	if r < 0x20 || (r >= 0xD800 && r < 0xE000) {
		return append(b, '\\', 'u', hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
	}
	return utf8.AppendRune(b, r)
}

// number parses a JSON number and writes it as JavaScript's Number#toString
// would after JSON.parse.
func (p *parser) number() (*node, error) {
	start := p.pos
	if p.src[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.pos < len(p.src) && p.src[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return nil, p.errorf("invalid number")
	}
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.errorf("invalid number: no digits after '.'")
		}
	}
	if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errorf("invalid number: no digits in exponent")
		}
	}
	f, err := strconv.ParseFloat(string(p.src[start:p.pos]), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, p.errorf("invalid number: %v", err)
	}
	return &node{kind: 's', scalar: appendJSNumber(nil, f)}, nil
}

// appendJSNumber formats f like ECMAScript Number::toString (radix 10), and
// like JSON.stringify for non-finite values (null).
func appendJSNumber(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	if f == 0 {
		return append(b, '0') // also -0
	}
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// Shortest round-trip digits, as d.ddddde±x.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	ds := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k := len(ds)
	n := x + 1
	switch {
	case k <= n && n <= 21:
		b = append(b, ds...)
		for range n - k {
			b = append(b, '0')
		}
	case 0 < n && n <= 21:
		b = append(b, ds[:n]...)
		b = append(b, '.')
		b = append(b, ds[n:]...)
	case -6 < n && n <= 0:
		b = append(b, '0', '.')
		for range -n {
			b = append(b, '0')
		}
		b = append(b, ds...)
	default:
		b = append(b, ds[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, ds[1:]...)
		}
		b = append(b, 'e')
		if n-1 >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(n-1), 10)
	}
	return b
}
