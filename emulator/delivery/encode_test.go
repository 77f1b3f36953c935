package delivery

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// canonVectors are inputs to Canonicalize with the bytes JavaScript's
// JSON.stringify(JSON.parse(in)) yields; TestCanonicalizeMatchesNode checks
// every want against node itself.
var canonVectors = []struct {
	name, in, want string
}{
	{"html characters stay raw", `{"a":"<b>&amp;</b>"}`, `{"a":"<b>&amp;</b>"}`},
	{"escaped html characters are unescaped", `{"a":"\u003cscript\u003e \u0026"}`, `{"a":"<script> &"}`},
	{"slash", `{"url":"https:\/\/app.asana.com/0/1/2"}`, `{"url":"https://app.asana.com/0/1/2"}`},
	{"non-ascii", `{"name":"Café déjà vu – 日本語 😀"}`, `{"name":"Café déjà vu – 日本語 😀"}`},
	{"escaped non-ascii", `{"name":"\u00e9\u65e5\ud83d\ude00"}`, `{"name":"é日😀"}`},
	{"line and paragraph separators", "{\"t\":\"a\u2028b\u2029c\\u2028\"}", "{\"t\":\"a\u2028b\u2029c\u2028\"}"},
	{"control characters", `{"c":"\b\f\n\r\t\u0000\u0001\u001f\u007f"}`, "{\"c\":\"\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f\x7f\"}"},
	{"quote and backslash", `{"q":"say \"hi\" \\ bye"}`, `{"q":"say \"hi\" \\ bye"}`},
	{"upper-case hex escapes", `{"x":"\u00C9\u001F"}`, `{"x":"É\u001f"}`},
	{"lone surrogates", `{"h":"\ud800","l":"x\uDC00y","p":"\ud83d\u0041"}`, `{"h":"\ud800","l":"x\udc00y","p":"\ud83dA"}`},
	{"whitespace removed", " {\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\" : { } , \"c\" : [ ] } ", `{"a":[1,2],"b":{},"c":[]}`},
	{"key order preserved", `{"z":1,"a":2,"m":{"y":true,"b":false,"n":null}}`, `{"z":1,"a":2,"m":{"y":true,"b":false,"n":null}}`},
	{"duplicate key keeps first position, last value", `{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
	{"array-index keys first like a JS object", `{"b":1,"10":2,"2":3,"02":4,"-1":5,"4294967295":6,"4294967294":7}`, `{"2":3,"10":2,"4294967294":7,"b":1,"02":4,"-1":5,"4294967295":6}`},
	{"nested arrays and objects", `[{"a":[{"b":[[],[{}]]}]},"s",1,null,true]`, `[{"a":[{"b":[[],[{}]]}]},"s",1,null,true]`},
	{"integers", `[0,-0,1,-1,100,1.0,1.50,9007199254740993,123456789012345678901234]`, `[0,0,1,-1,100,1,1.5,9007199254740992,1.2345678901234569e+23]`},
	{"fractions and exponents", `[0.1,-0.25,1e21,1e20,1E+2,1e-7,1e-6,0.000001234,2.5e-7,-1.25e-10,123e-20]`, `[0.1,-0.25,1e+21,100000000000000000000,100,1e-7,0.000001,0.000001234,2.5e-7,-1.25e-10,1.23e-18]`},
	{"extremes", `[1.7976931348623157e308,5e-324,1e400,-1e400,1e-400]`, `[1.7976931348623157e+308,5e-324,null,null,0]`},
	{"scalar top level", `"<&\u2028>"`, "\"<&\u2028>\""},
	{"real asana event", `{"user":{"gid":"111","resource_type":"user"},"created_at":"2021-10-29T02:44:21.987Z","action":"changed","parent":null,"change":{"field":"completed","action":"changed"},"resource":{"gid":"222","resource_type":"task","resource_subtype":"default_task"}}`,
		`{"user":{"gid":"111","resource_type":"user"},"created_at":"2021-10-29T02:44:21.987Z","action":"changed","parent":null,"change":{"field":"completed","action":"changed"},"resource":{"gid":"222","resource_type":"task","resource_subtype":"default_task"}}`},
}

func TestCanonicalize(t *testing.T) {
	for _, tc := range canonVectors {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in))
			if err != nil {
				t.Fatalf("Canonicalize(%q): %v", tc.in, err)
			}
			if string(got) != tc.want {
				t.Fatalf("Canonicalize(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			again, err := Canonicalize(got)
			if err != nil || string(again) != string(got) {
				t.Fatalf("not idempotent: %q -> %q (%v)", got, again, err)
			}
		})
	}
}

func TestCanonicalizeRejectsInvalid(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ``},
		{"only space", "  \n"},
		{"truncated object", `{"a":1`},
		{"trailing comma", `{"a":1,}`},
		{"trailing data", `{} {}`},
		{"single quotes", `{'a':1}`},
		{"unquoted key", `{a:1}`},
		{"leading zero", `[01]`},
		{"bare dot", `[1.]`},
		{"bad exponent", `[1e]`},
		{"plus sign", `[+1]`},
		{"NaN", `[NaN]`},
		{"bad escape", `["\x"]`},
		{"short unicode escape", `["\u12"]`},
		{"raw control character", "[\"a\nb\"]"},
		{"unterminated string", `["abc`},
		{"invalid utf-8", "[\"\xff\"]"},
		{"bad literal", `[tru]`},
		{"missing colon", `{"a" 1}`},
		{"byte order mark", "\ufeff{}"},
		{"too deep", strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in))
			if err == nil {
				t.Fatalf("Canonicalize(%.40q) = %q, want an error", tc.in, got)
			}
			if !errors.Is(err, errSyntax) {
				t.Fatalf("error %v does not wrap errSyntax", err)
			}
		})
	}
}

func TestEncodeEventDoesNotEscapeHTML(t *testing.T) {
	ev := asana.Event{
		User:      &asana.Compact{GID: "1", ResourceType: "user"},
		CreatedAt: asana.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 987654321, time.UTC)),
		Action:    "changed",
		Resource:  asana.Compact{GID: "2", ResourceType: "task", ResourceSubtype: "default_task"},
		Change:    &asana.Change{Field: "name", Action: "changed", NewValue: json.RawMessage(`{"text":"<a href=\"/x?a=1&b=2\">\u2028é</a>"}`)},
	}
	got, err := EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"user":{"gid":"1","resource_type":"user"},"created_at":"2026-01-02T03:04:05.987Z","action":"changed",` +
		`"resource":{"gid":"2","resource_type":"task","resource_subtype":"default_task"},"parent":null,` +
		"\"change\":{\"field\":\"name\",\"action\":\"changed\",\"new_value\":{\"text\":\"<a href=\\\"/x?a=1&b=2\\\">\u2028é</a>\"}}}"
	if string(got) != want {
		t.Fatalf("EncodeEvent\n got %s\nwant %s", got, want)
	}
	if _, err := EncodeEvent(map[string]any{"bad": make(chan int)}); err == nil {
		t.Fatal("EncodeEvent of an unencodable value returned no error")
	}
}

func TestEncodeBody(t *testing.T) {
	tests := []struct {
		name   string
		events []json.RawMessage
		want   string
	}{
		{"heartbeat nil", nil, `{"events":[]}`},
		{"heartbeat empty", []json.RawMessage{}, `{"events":[]}`},
		{"one", []json.RawMessage{json.RawMessage(`{"a":1}`)}, `{"events":[{"a":1}]}`},
		{"two", []json.RawMessage{json.RawMessage(`{"a":1}`), json.RawMessage(`{"b":"<"}`)}, `{"events":[{"a":1},{"b":"<"}]}`},
		{"empty event becomes null", []json.RawMessage{nil}, `{"events":[null]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(EncodeBody(tc.events)); got != tc.want {
				t.Fatalf("EncodeBody = %s, want %s", got, tc.want)
			}
		})
	}
}

// nodeScript writes JSON.stringify(JSON.parse(text)) of every *.in file of
// the directory given as argument to the matching *.out file, as a Node
// receiver would compute it from a body read as UTF-8.
const nodeScript = `
const fs = require('fs'), path = require('path');
const dir = process.argv[1];
for (const f of fs.readdirSync(dir)) {
  if (!f.endsWith('.in')) continue;
  const text = fs.readFileSync(path.join(dir, f), 'utf8');
  fs.writeFileSync(path.join(dir, f.slice(0, -3) + '.out'), JSON.stringify(JSON.parse(text)), 'utf8');
}`

// TestCanonicalizeMatchesNode runs node on every vector and on whole
// delivery bodies: our bytes must equal JSON.stringify(JSON.parse(body)).
// The test command installs node, so a missing node is a failure.
func TestCanonicalizeMatchesNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		node = "/usr/bin/node"
		if _, statErr := os.Stat(node); statErr != nil {
			t.Fatalf("node is required for this test and was not found: %v", err)
		}
	}
	type vec struct{ name, in, want string }
	var vecs []vec
	for _, v := range canonVectors {
		vecs = append(vecs, vec{v.name, v.in, v.want})
	}
	// Whole bodies, built the way deliveries are, from injected events.
	injected := []string{
		`{"resource":{"gid":"1","resource_type":"task","name":"<b>Tom & Jerry</b> / 50% off"},"action":"changed"}`,
		`{"text":"line\u2028sep\u2029para","emoji":"😀","ctrl":"\u0007"}`,
		`{"n":[1.0,1e21,0.1,-0]}`,
	}
	var evs []json.RawMessage
	for _, in := range injected {
		ev, err := Canonicalize([]byte(in))
		if err != nil {
			t.Fatalf("Canonicalize(%s): %v", in, err)
		}
		evs = append(evs, ev)
	}
	body := string(EncodeBody(evs))
	vecs = append(vecs, vec{"delivery body", body, body}, vec{"heartbeat", `{"events":[]}`, `{"events":[]}`})

	dir := t.TempDir()
	for i, v := range vecs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.in", i)), []byte(v.in), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(node, "-e", nodeScript, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	for i, v := range vecs {
		t.Run(v.name, func(t *testing.T) {
			js, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%03d.out", i)))
			if err != nil {
				t.Fatal(err)
			}
			ours, err := Canonicalize([]byte(v.in))
			if err != nil {
				t.Fatalf("Canonicalize: %v", err)
			}
			if string(ours) != string(js) {
				t.Fatalf("bytes differ from JSON.stringify(JSON.parse(body))\n ours %q\n node %q", ours, js)
			}
			if string(js) != v.want {
				t.Fatalf("vector's expectation is wrong\n want %q\n node %q", v.want, js)
			}
		})
	}
}

// FuzzCanonicalize checks that no input panics, that accepted input yields
// valid JSON, and that canonical output is a fixed point.
func FuzzCanonicalize(f *testing.F) {
	for _, v := range canonVectors {
		f.Add([]byte(v.in))
	}
	f.Add([]byte(`{"a":[1,{"b":"\ud800"}],"0":-1.5e-9}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Canonicalize(in)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("Canonicalize(%q) = %q, not valid JSON", in, out)
		}
		again, err := Canonicalize(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not a fixed point: %q -> %q (%v)", out, again, err)
		}
	})
}
