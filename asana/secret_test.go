package asana

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const canary = "canary-5f3a9e-hook-secret"

// assertNoCanary fails if out holds the canary in clear, hex or HEX.
func assertNoCanary(t *testing.T, what, out string) {
	t.Helper()
	for _, form := range []string{canary, hex.EncodeToString([]byte(canary)), strings.ToUpper(hex.EncodeToString([]byte(canary))), "5f3a9e"} {
		if strings.Contains(out, form) {
			t.Errorf("%s leaks the secret (%q): %s", what, form, out)
		}
	}
}

type withExported struct {
	Name   string
	Secret Secret
	Ptr    *Secret
}

type withUnexported struct {
	name   string
	secret Secret
	ptr    *Secret
}

type nested struct {
	inner withUnexported
	Outer withExported
}

func TestSecretNeverPrinted(t *testing.T) {
	s := NewSecret(canary)
	values := []struct {
		name string
		v    any
		// redacted: the output must show Redacted (false where fmt prints the
		// field by reflection and shows an address instead).
		redacted bool
	}{
		{"value", s, true},
		{"pointer", &s, true},
		{"exported field", withExported{Name: "n", Secret: s, Ptr: &s}, true},
		{"pointer to struct", &withExported{Secret: s}, true},
		{"unexported field", withUnexported{name: "n", secret: s, ptr: &s}, false},
		{"pointer to unexported", &withUnexported{secret: s}, false},
		{"nested", nested{inner: withUnexported{secret: s}, Outer: withExported{Secret: s}}, true},
		{"slice", []Secret{s, s}, true},
		{"array", [1]Secret{s}, true},
		{"map value", map[string]Secret{"k": s}, true},
		{"map key", map[Secret]int{s: 1}, true},
		{"any slice", []any{s, 1}, true},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%p", "%t", "%e", "%c", "%U", "%o", "%b", "%10.3s", "%-20v", "%08x", "%T"}
	for _, v := range values {
		t.Run(v.name, func(t *testing.T) {
			for _, verb := range verbs {
				out := fmt.Sprintf(verb, v.v)
				assertNoCanary(t, verb, out)
				if v.redacted && verb != "%T" && verb != "%p" && !strings.Contains(out, Redacted) {
					t.Errorf("%s = %q, want it to show %s", verb, out, Redacted)
				}
			}
			assertNoCanary(t, "Sprint", fmt.Sprint(v.v))
			assertNoCanary(t, "Sprintln", fmt.Sprintln("x", v.v))
			assertNoCanary(t, "Errorf", fmt.Errorf("save %v: %+v", v.v, v.v).Error())
			assertNoCanary(t, "wrapped error", fmt.Errorf("outer: %w", errors.New(fmt.Sprint(v.v))).Error())
		})
	}
}

func TestSecretNeverLogged(t *testing.T) {
	s := NewSecret(canary)
	logs := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"attr", func(l *slog.Logger) { l.Info("m", slog.Any("secret", s)) }},
		{"key value", func(l *slog.Logger) { l.Info("m", "secret", s) }},
		{"pointer", func(l *slog.Logger) { l.Info("m", "secret", &s) }},
		{"group", func(l *slog.Logger) { l.Info("m", slog.Group("hook", slog.String("gid", "1"), slog.Any("secret", s))) }},
		{"with", func(l *slog.Logger) { l.With("secret", s).Info("m") }},
		{"with group", func(l *slog.Logger) { l.WithGroup("g").Info("m", "secret", s) }},
		{"struct", func(l *slog.Logger) { l.Info("m", slog.Any("hook", withExported{Name: "n", Secret: s, Ptr: &s})) }},
		{"struct unexported", func(l *slog.Logger) { l.Info("m", slog.Any("hook", withUnexported{secret: s, ptr: &s})) }},
		{"slice", func(l *slog.Logger) { l.Info("m", slog.Any("secrets", []Secret{s})) }},
		{"map", func(l *slog.Logger) { l.Info("m", slog.Any("secrets", map[string]Secret{"a": s})) }},
		{"message", func(l *slog.Logger) { l.Info(fmt.Sprint("got ", s)) }},
	}
	handlers := []struct {
		name string
		new  func(b *bytes.Buffer) slog.Handler
	}{
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
	}
	for _, h := range handlers {
		for _, lg := range logs {
			t.Run(h.name+"/"+lg.name, func(t *testing.T) {
				var b bytes.Buffer
				lg.log(slog.New(h.new(&b)))
				if b.Len() == 0 {
					t.Fatal("nothing logged")
				}
				assertNoCanary(t, "log", b.String())
			})
		}
	}
}

func TestSecretJSONAndXML(t *testing.T) {
	s := NewSecret(canary)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"alone", s, `"[REDACTED]"`},
		{"pointer", &s, `"[REDACTED]"`},
		{"field", withExported{Name: "n", Secret: s}, `{"Name":"n","Secret":"[REDACTED]","Ptr":null}`},
		{"unexported field", withUnexported{secret: s}, `{}`},
		{"slice", []Secret{s}, `["[REDACTED]"]`},
		{"map key", map[Secret]int{s: 1}, `{"[REDACTED]":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			if string(b) != tt.want {
				t.Errorf("json = %s, want %s", b, tt.want)
			}
			assertNoCanary(t, "json", string(b))
		})
	}
	b, err := xml.Marshal(struct {
		XMLName xml.Name `xml:"hook"`
		Secret  Secret   `xml:"secret"`
	}{Secret: s})
	if err != nil {
		t.Fatalf("xml.Marshal: %v", err)
	}
	assertNoCanary(t, "xml", string(b))
	if !strings.Contains(string(b), Redacted) {
		t.Errorf("xml = %s, want %s", b, Redacted)
	}
}

func TestSecretValue(t *testing.T) {
	s := NewSecret(canary)
	if got := s.Reveal(); got != canary {
		t.Errorf("Reveal = %q, want %q", got, canary)
	}
	if s.IsZero() {
		t.Error("IsZero of a set secret")
	}
	var zero Secret
	if !zero.IsZero() || zero.Reveal() != "" || !NewSecret("").IsZero() {
		t.Error("zero secret is not zero")
	}
	if zero != NewSecret("") {
		t.Error("zero Secret != NewSecret(\"\")")
	}
	if s != NewSecret(canary) || s == NewSecret(canary+"x") {
		t.Error("== does not compare values")
	}
	if !s.Equal(NewSecret(canary)) || s.Equal(zero) {
		t.Error("Equal does not compare values")
	}
	if diff := cmp.Diff(withExported{Secret: s}, withExported{Secret: NewSecret(canary)}); diff != "" {
		t.Errorf("cmp.Diff of equal secrets:\n%s", diff)
	}
	// go-cmp's report of a difference reads unexported fields by reflection
	// and may show the values: fine for test output, never for logs.
	if diff := cmp.Diff(withExported{Secret: s}, withExported{Secret: NewSecret("other")}); diff == "" {
		t.Error("cmp.Diff of different secrets is empty")
	}
}
