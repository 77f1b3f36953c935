package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
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

// TestRetryIsAnnounced checks that a wait before a retry is announced with
// its cause, so an API that does not answer shows progress, not silence.
func TestRetryIsAnnounced(t *testing.T) {
	var calls atomic.Int32
	fake := newFakeAsana(t, map[string]http.HandlerFunc{
		"GET /webhooks/123": func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				w.Header().Set("Retry-After", "1")
				writeAsanaError(w, http.StatusServiceUnavailable, "Asana is down for maintenance")
				return
			}
			getWebhookRoute(w, r)
		},
	})
	res := run(t, invocation{env: map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL}, args: []string{"webhooks", "get", "123"}})
	if res.code != ExitOK {
		t.Fatalf("exit code = %d, want 0; stderr %q", res.code, res.stderr)
	}
	want := "asana-webhooks: warning: GET " + fake.URL + "/webhooks/123: 503 Service Unavailable; retrying in 1s (Ctrl+C to stop)"
	if got := lines(res.stderr); len(got) != 1 || got[0] != want {
		t.Errorf("stderr = %q, want one line %q", res.stderr, want)
	}
	if !strings.Contains(res.stdout, "123") {
		t.Errorf("stdout = %q, want the webhook", res.stdout)
	}
}

// TestRefusedTokenIsExplained checks that a 401 names where the token came
// from and which server refused it, without printing the token.
func TestRefusedTokenIsExplained(t *testing.T) {
	fake := newFakeAsana(t, map[string]http.HandlerFunc{
		"GET /webhooks/123": func(w http.ResponseWriter, _ *http.Request) {
			writeAsanaError(w, http.StatusUnauthorized, "Not Authorized")
		},
	})
	tests := []struct {
		name, source string
		env          map[string]string
		args         []string
	}{
		{"environment", "ASANA_PAT", map[string]string{"ASANA_PAT": "secret-token-1", "ASANA_API_URL": fake.URL}, []string{"webhooks", "get", "123"}},
		{"legacy variable", "TEMP_PAT", map[string]string{"TEMP_PAT": "secret-token-1", "ASANA_API_URL": fake.URL}, []string{"webhooks", "get", "123"}},
		{"flag", "--token", map[string]string{"ASANA_API_URL": fake.URL}, []string{"webhooks", "get", "123", "--token", "secret-token-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, invocation{env: tt.env, args: tt.args})
			if res.code != ExitError {
				t.Errorf("exit code = %d, want %d", res.code, ExitError)
			}
			want := "asana-webhooks: get webhook 123: asana: 401 Unauthorized: Not Authorized (the token from " + tt.source + " was refused by " + fake.URL + ": check it)"
			if got := lines(res.stderr); len(got) != 1 || got[0] != want {
				t.Errorf("stderr = %q, want one line %q", res.stderr, want)
			}
			if strings.Contains(res.stderr+res.stdout, "secret-token-1") {
				t.Errorf("the token was printed: %q", res.stderr)
			}
		})
	}
}

func TestLoopbackHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true}, {"127.8.9.10", true}, {"::1", true}, {"localhost", true}, {"LOCALHOST", true},
		{"", false}, {"0.0.0.0", false}, {"::", false}, {"10.0.0.1", false}, {"2001:db8::1", false},
		{"my-laptop.lan", true}, // a name is resolved by the inspector itself
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got := loopbackHost(tt.host); got != tt.want {
				t.Errorf("loopbackHost(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

// TestAPIErrorWording checks the one line an API error becomes: the
// operation is named once, with the value the user gave.
func TestAPIErrorWording(t *testing.T) {
	fake := newFakeAsana(t, map[string]http.HandlerFunc{
		"GET /events": func(w http.ResponseWriter, _ *http.Request) {
			writeAsanaError(w, http.StatusBadRequest, "resource: Not a recognized ID: 77")
		},
		"GET /workspaces": func(w http.ResponseWriter, _ *http.Request) {
			writeAsanaError(w, http.StatusForbidden, "Forbidden")
		},
	})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"events", []string{"events", "--resource", "77"}, "asana-webhooks: resource 77: events: asana: 400 Bad Request: resource: Not a recognized ID: 77"},
		{"webhooks list without workspace", []string{"webhooks", "list"}, "asana-webhooks: no --workspace given: workspaces: asana: 403 Forbidden: Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, invocation{env: map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL, "ASANA_WEBHOOKS_DATA_DIR": t.TempDir()}, args: tt.args})
			if res.code != ExitError {
				t.Errorf("exit code = %d, want %d", res.code, ExitError)
			}
			got := lines(res.stderr)
			if len(got) == 0 || got[len(got)-1] != tt.want {
				t.Errorf("stderr = %q, want it to end with %q", res.stderr, tt.want)
			}
		})
	}
}

// TestHelpShowsOnlyUsedGlobals checks that a command's help offers only the
// global flags it uses.
func TestHelpShowsOnlyUsedGlobals(t *testing.T) {
	tests := []struct {
		args         []string
		want, absent []string
	}{
		{[]string{"version", "--help"}, nil, []string{"Global Flags", "--token", "--api-url"}},
		{[]string{"demo", "--help"}, []string{"--once"}, []string{"Global Flags", "--api-url", "--workspace"}},
		{[]string{"bench", "--help"}, []string{"--concurrency"}, []string{"Global Flags", "--token"}},
		{[]string{"emulate", "--help"}, []string{"--token stringArray"}, []string{"Global Flags", "--api-url", "(env ASANA_PAT"}},
		{[]string{"deliveries", "list", "--help"}, []string{"--data-dir", "--db"}, []string{"--token", "--api-url", "--project"}},
		{[]string{"deliveries", "--help"}, []string{"--data-dir"}, []string{"--token"}},
		{[]string{"webhooks", "get", "--help"}, []string{"--token", "--api-url"}, nil},
		{[]string{"inspect", "--help"}, []string{"--token", "--api-url", "--workspace", "--project", "--data-dir"}, nil},
		{[]string{"--help"}, []string{"--token", "--api-url", "--data-dir"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := run(t, invocation{args: tt.args})
			if res.code != ExitOK {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("help lacks %q", w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(res.stdout, a) {
					t.Errorf("help shows %q", a)
				}
			}
		})
	}
}

// TestInspectAddressInUse checks that a busy port names the flag that chose
// it.
func TestInspectAddressInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	env := map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": "http://127.0.0.1:1"}
	tests := []struct {
		name, listen, ui, want string
	}{
		{"receiver", busy.Addr().String(), freePort(t), "(is another inspector running? pick another --listen)"},
		{"web UI", freePort(t), busy.Addr().String(), "(is another inspector running? pick another --ui-listen)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env["ASANA_WEBHOOKS_DATA_DIR"] = t.TempDir()
			res := run(t, invocation{env: env, args: []string{"inspect", "--public-url", "http://" + tt.listen, "--listen", tt.listen,
				"--ui-listen", tt.ui, "--resource", "1200000000000002", "--skip-preflight"}})
			if res.code != ExitError {
				t.Errorf("exit code = %d, want %d", res.code, ExitError)
			}
			got := lines(res.stderr)
			if len(got) == 0 || !strings.Contains(got[len(got)-1], "address already in use") || !strings.HasSuffix(got[len(got)-1], tt.want) {
				t.Errorf("stderr = %q, want the last line to end with %q", res.stderr, tt.want)
			}
		})
	}
}

// TestVersionFlagAndHelpTopics checks --version (the same line as the
// version command) and that help on an unknown topic is a usage error.
func TestVersionFlagAndHelpTopics(t *testing.T) {
	version := run(t, invocation{args: []string{"version"}})
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout string // a prefix of stdout; "" for none at all
		wantStderr string
	}{
		{"--version", []string{"--version"}, ExitOK, version.stdout, ""},
		{"-v", []string{"-v"}, ExitOK, version.stdout, ""},
		{"help on a command", []string{"help", "webhooks", "create"}, ExitOK, "Create a webhook on a resource", ""},
		{"help alone", []string{"help"}, ExitOK, "asana-webhooks is a toolkit", ""},
		{"help on nothing known", []string{"help", "nope"}, ExitUsage, "", `asana-webhooks: unknown help topic "nope"`},
		{"help on a wrong subcommand", []string{"help", "webhooks", "nope"}, ExitUsage, "", `unknown help topic "webhooks nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, invocation{args: tt.args})
			if res.code != tt.code {
				t.Errorf("exit code = %d, want %d; stderr %q", res.code, tt.code, res.stderr)
			}
			if tt.wantStdout == "" && res.stdout != "" || !strings.HasPrefix(res.stdout, tt.wantStdout) {
				t.Errorf("stdout = %q, want it to start with %q", res.stdout, tt.wantStdout)
			}
			if tt.wantStderr == "" && res.stderr != "" || !strings.Contains(res.stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want %q", res.stderr, tt.wantStderr)
			}
		})
	}
	if !strings.HasPrefix(version.stdout, "asana-webhooks test (go") {
		t.Errorf("version = %q", version.stdout)
	}
}

// TestExitCodeAfterInterrupt checks that an interruption exits 130 only for
// the error it caused: a failure of the command's own (a cleanup that could
// not delete a webhook) is printed and exits 1.
func TestExitCodeAfterInterrupt(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name       string
		ctx        context.Context
		err        error
		code       int
		wantStderr string
	}{
		{"call cut short", cancelled, fmt.Errorf("get webhook 1: %w", &url.Error{Op: "Get", URL: "http://x", Err: context.Canceled}), ExitInterrupted, "asana-webhooks: interrupted\n"},
		{"bench cut short", cancelled, fmt.Errorf("bench: %w", context.Canceled), ExitInterrupted, "asana-webhooks: interrupted\n"},
		{"cleanup failed after Ctrl+C", cancelled, errors.New("clean up webhooks: delete webhook 12: connection refused"), ExitError,
			"asana-webhooks: clean up webhooks: delete webhook 12: connection refused\n"},
		{"no interruption", context.Background(), fmt.Errorf("x: %w", context.Canceled), ExitError, "asana-webhooks: x: context canceled\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			a := NewApp(Env{Stderr: &stderr})
			a.runStarted = true
			if code := a.exitCode(tt.ctx, nil, tt.err); code != tt.code {
				t.Errorf("exit code = %d, want %d", code, tt.code)
			}
			if stderr.String() != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestCheckGID(t *testing.T) {
	tests := []struct {
		gid  string
		want string // "" when valid
	}{
		{"1200000000000042", ""},
		{"7", ""},
		{"", "webhook: empty gid"},
		{"nope", `webhook "nope": not a gid (want digits, such as 1200000000000042)`},
		{"12a4", `webhook "12a4": not a gid`},
		{"-12", `webhook "-12": not a gid`},
		{"../12", `webhook "../12": not a gid`},
		{strings.Repeat("1", 65), "not a gid"},
	}
	for _, tt := range tests {
		t.Run(tt.gid, func(t *testing.T) {
			err := checkGID("webhook", tt.gid)
			if tt.want == "" {
				if err != nil {
					t.Errorf("checkGID(%q) = %v, want nil", tt.gid, err)
				}
				return
			}
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("checkGID(%q) = %v, want a usage error with %q", tt.gid, err, tt.want)
			}
		})
	}
	// End to end: a typo exits 2 before any request.
	res := run(t, invocation{env: map[string]string{"ASANA_PAT": "tok", "ASANA_API_URL": "http://127.0.0.1:1"}, args: []string{"webhooks", "get", "nope"}})
	if res.code != ExitUsage || strings.Contains(res.stderr, "retrying") {
		t.Errorf("webhooks get nope: exit %d, stderr %q; want 2 and no request", res.code, res.stderr)
	}
}
