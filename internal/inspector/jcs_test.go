package inspector

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestCanonicalizeRFC8785Examples(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			// RFC 8785 §3.2.2: the sample with every kind of value.
			name: "rfc 3.2.2",
			in: `{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
			want: `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{
			// RFC 8785 §3.2.3: sorting by UTF-16 code units.
			name: "rfc 3.2.3 sorting",
			in: `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
			want: "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\"," +
				"\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
		{
			name: "nested and arrays keep order",
			in:   `[56, {"d": true, "10": null, "1": [ ]}]`,
			want: `[56,{"1":[],"10":null,"d":true}]`,
		},
		{
			name: "asana event with reordered keys",
			in:   `{"user":{"resource_type":"user","gid":"111"},"action":"changed","parent":null}`,
			want: `{"action":"changed","parent":null,"user":{"gid":"111","resource_type":"user"}}`,
		},
		{
			name: "control characters and slash",
			in:   `"\u0001\u001f\/\u007f\u2028"`,
			want: "\"\\u0001\\u001f/\u007f\u2028\"",
		},
		{name: "minus zero", in: `-0.0`, want: `0`},
		{name: "integer with exponent", in: `1E2`, want: `100`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tt.in))
			if err != nil {
				t.Fatalf("Canonicalize: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("Canonicalize =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestES6NumbersRFC8785AppendixB checks every sample of RFC 8785 Appendix B,
// both through appendES6Number and through a JSON text.
func TestES6NumbersRFC8785AppendixB(t *testing.T) {
	tests := []struct{ bits, want string }{
		{"0000000000000000", "0"},
		{"8000000000000000", "0"},
		{"0000000000000001", "5e-324"},
		{"8000000000000001", "-5e-324"},
		{"7fefffffffffffff", "1.7976931348623157e+308"},
		{"ffefffffffffffff", "-1.7976931348623157e+308"},
		{"4340000000000000", "9007199254740992"},
		{"c340000000000000", "-9007199254740992"},
		{"4430000000000000", "295147905179352830000"},
		{"44b52d02c7e14af5", "9.999999999999997e+22"},
		{"44b52d02c7e14af6", "1e+23"},
		{"44b52d02c7e14af7", "1.0000000000000001e+23"},
		{"444b1ae4d6e2ef4e", "999999999999999700000"},
		{"444b1ae4d6e2ef4f", "999999999999999900000"},
		{"444b1ae4d6e2ef50", "1e+21"},
		{"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
		{"3eb0c6f7a0b5ed8d", "0.000001"},
		{"41b3de4355555553", "333333333.3333332"},
		{"41b3de4355555554", "333333333.33333325"},
		{"41b3de4355555555", "333333333.3333333"},
		{"41b3de4355555556", "333333333.3333334"},
		{"41b3de4355555557", "333333333.33333343"},
		{"becbf647612f3696", "-0.0000033333333333333333"},
		{"43143ff3c1cb0959", "1424953923781206.2"},
	}
	for _, tt := range tests {
		t.Run(tt.bits, func(t *testing.T) {
			u, err := strconv.ParseUint(tt.bits, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			f := math.Float64frombits(u)
			got, err := appendES6Number(nil, f)
			if err != nil {
				t.Fatalf("appendES6Number: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("appendES6Number(%s) = %s, want %s", tt.bits, got, tt.want)
			}
			text := strconv.FormatFloat(f, 'g', -1, 64)
			got, err = Canonicalize([]byte(text))
			if err != nil {
				t.Fatalf("Canonicalize(%s): %v", text, err)
			}
			if string(got) != tt.want {
				t.Errorf("Canonicalize(%s) = %s, want %s", text, got, tt.want)
			}
		})
	}
	for _, bits := range []string{"7fffffffffffffff", "7ff0000000000000"} {
		u, _ := strconv.ParseUint(bits, 16, 64)
		if _, err := appendES6Number(nil, math.Float64frombits(u)); err == nil {
			t.Errorf("appendES6Number(%s) succeeded, want an error", bits)
		}
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ``},
		{"trailing data", `{} {}`},
		{"duplicate names", `{"a":1,"a":2}`},
		{"duplicate names after unescaping", `{"a":1,"\u0061":2}`},
		{"lone high surrogate", `"\ud800"`},
		{"lone low surrogate", `"\udc00"`},
		{"high surrogate then letter", `"\ud800\u0041"`},
		{"number beyond float64", `1e400`},
		{"leading zero", `01`},
		{"bare dot", `1.`},
		{"plus sign", `+1`},
		{"NaN", `NaN`},
		{"invalid utf-8", "\"\xff\""},
		{"raw control character", "\"a\nb\""},
		{"unterminated", `{"a":`},
		{"single quotes", `{'a':1}`},
		{"trailing comma", `[1,]`},
		{"too deep", strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Canonicalize([]byte(tt.in)); err == nil {
				t.Errorf("Canonicalize(%q) = %q, want an error", tt.in, got)
			}
		})
	}
}

func TestEventKeyIgnoresFormatting(t *testing.T) {
	a := `{"user":{"gid":"111","resource_type":"user"},"created_at":"2021-10-29T02:44:21.987Z","action":"changed","parent":null,"change":{"field":"completed","action":"changed"},"resource":{"gid":"222","resource_type":"task","resource_subtype":"default_task"}}`
	b := "{ \"resource\": {\"resource_subtype\":\"default_task\",\"gid\":\"222\",\"resource_type\":\"task\"},\n \"change\":{\"action\":\"changed\",\"field\":\"completed\"}, \"parent\":null, \"action\":\"\\u0063hanged\",\"created_at\":\"2021-10-29T02:44:21.987Z\",\"user\":{\"resource_type\":\"user\",\"gid\":\"111\"}}"
	c := strings.Replace(a, "completed", "completed_at", 1)
	ka, err := EventKey(json.RawMessage(a))
	if err != nil {
		t.Fatal(err)
	}
	kb, err := EventKey(json.RawMessage(b))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := EventKey(json.RawMessage(c))
	if err != nil {
		t.Fatal(err)
	}
	if ka != kb {
		t.Errorf("same event, different keys: %s and %s", ka, kb)
	}
	if ka == kc {
		t.Errorf("different events share key %s", ka)
	}
	if len(ka) != 64 || strings.ToLower(ka) != ka {
		t.Errorf("key %q is not 64 lowercase hex digits", ka)
	}
}

func TestCompareUTF16(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"a", "a", 0},
		{"a", "b", -1},
		{"ab", "a", 1},
		{"", "a", -1},
		// U+1F600 is D83D DE00 in UTF-16, below U+FB33; in code points it is above.
		{"\U0001F600", "\ufb33", -1},
		{"\ufb33", "\U0001F600", 1},
		{"\U0001F600", "\U0001F601", -1},
	}
	for _, tt := range tests {
		if got := compareUTF16(tt.a, tt.b); got != tt.want {
			t.Errorf("compareUTF16(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzCanonicalize checks that canonicalization never panics, is idempotent,
// and yields valid JSON that means the same as its input.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1.5,"x",null]}`, `"\ud83d\ude00"`, `1e21`, `[{"":{}}]`, `-0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Canonicalize(data)
		if err != nil {
			return
		}
		if !json.Valid(c) {
			t.Fatalf("Canonicalize(%q) = %q, not valid JSON", data, c)
		}
		again, err := Canonicalize(c)
		if err != nil {
			t.Fatalf("Canonicalize of canonical %q: %v", c, err)
		}
		if string(again) != string(c) {
			t.Fatalf("not idempotent: %q then %q", c, again)
		}
		var before, after any
		if err := json.Unmarshal(data, &before); err != nil {
			t.Fatalf("Canonicalize accepted %q, which encoding/json rejects: %v", data, err)
		}
		if err := json.Unmarshal(c, &after); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("meaning changed: %q became %q", data, c)
		}
	})
}
