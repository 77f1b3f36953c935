package cli

import (
	"strings"
	"testing"
)

func TestOneLine(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "one line", in: "get webhook 1: asana: 404 Not Found", want: "get webhook 1: asana: 404 Not Found"},
		{name: "cause on the next line", in: "open postgres store db:5432/x: failed to connect to `user=u database=x`:\n\t127.0.0.1:1: dial error\n\t127.0.0.1:1: tls error\n",
			want: "open postgres store db:5432/x: failed to connect to `user=u database=x`: 127.0.0.1:1: dial error 127.0.0.1:1: tls error"},
		{name: "cobra suggestion", in: "unknown command \"versio\" for \"asana-webhooks\"\n\nDid you mean this?\n\tversion\n", want: `unknown command "versio" for "asana-webhooks"; did you mean "version"?`},
		{name: "two suggestions", in: "unknown command \"x\" for \"a\"\n\nDid you mean this?\n\tone\n\ttwo\n", want: `unknown command "x" for "a"; did you mean "one" or "two"?`},
		{name: "empty", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := oneLine(tt.in); got != tt.want {
				t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestUnknownCommandSuggests(t *testing.T) {
	res := run(t, invocation{args: []string{"versio"}})
	if res.code != ExitUsage {
		t.Errorf("exit code = %d, want %d", res.code, ExitUsage)
	}
	got := lines(res.stderr)
	if len(got) != 2 || !strings.Contains(got[0], `did you mean "version"?`) || !strings.Contains(got[1], "--help") {
		t.Errorf("stderr = %q, want the error with a suggestion, then a --help hint", res.stderr)
	}
}

// TestBadFlagValue checks that a flag value that does not parse is a usage
// error saying what the value should look like, not strconv's message.
func TestBadFlagValue(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"int", []string{"deliveries", "list", "--limit", "abc"}, `--limit "abc": want a whole number`},
		{"duration", []string{"events", "--interval", "banana"}, `--interval "banana": want a duration such as 500ms, 5s, 1m30s or 2h`},
		{"int list", []string{"bench", "--concurrency", "a,b"}, `--concurrency "a,b": want comma-separated whole numbers, such as 1,16,64`},
		{"bool", []string{"demo", "--once=perhaps"}, `--once "perhaps": want true, false, 1 or 0`},
		{"short flag", []string{"inspect", "-v=maybe"}, `--verbose "maybe": want true, false, 1 or 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, invocation{args: tt.args})
			if res.code != ExitUsage {
				t.Errorf("exit code = %d, want %d", res.code, ExitUsage)
			}
			got := lines(res.stderr)
			if len(got) != 2 || got[0] != "asana-webhooks: "+tt.want || !strings.Contains(got[1], "--help") {
				t.Errorf("stderr = %q, want %q and a --help hint", res.stderr, tt.want)
			}
			if strings.Contains(res.stderr, "strconv") || strings.Contains(res.stderr, "time:") {
				t.Errorf("stderr = %q leaks the parser's message", res.stderr)
			}
		})
	}
}
