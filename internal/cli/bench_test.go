package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/internal/bench"
)

// TestBenchCommand runs a very short bench and checks the table and the JSON
// report; speed itself is the Go benchmark's business.
func TestBenchCommand(t *testing.T) {
	run := func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := Main(context.Background(), append([]string{"bench"}, args...), Env{
			Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }, WorkDir: t.TempDir(), Version: "test",
		})
		return code, out.String(), errOut.String()
	}
	t.Run("table", func(t *testing.T) {
		code, out, errOut := run(t, "--duration", "100ms", "--concurrency", "1,16", "--dir", t.TempDir())
		if code != ExitOK {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		for _, want := range []string{"CONCURRENCY", "DELIVERIES/S", "P99", "VS BARE", "\n1 ", "\n16 ", "bare", "receiver", "synchronous=FULL", "target at concurrency 16"} {
			if !strings.Contains(out, want) {
				t.Errorf("table lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		code, out, errOut := run(t, "--duration", "100ms", "--concurrency", "2", "--json")
		if code != ExitOK {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		var rep bench.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("stdout is not one JSON report: %v\n%s", err, out)
		}
		if len(rep.Results) != 2 || rep.Results[1].Handler != bench.HandlerReceiver || rep.Results[1].RatioToBare <= 0 {
			t.Errorf("report = %+v", rep)
		}
		if rep.TargetMet != nil {
			t.Errorf("target judged without concurrency 16: %v", *rep.TargetMet)
		}
	})
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"zero duration", []string{"--duration", "0s"}, "--duration"},
		{"zero concurrency", []string{"--concurrency", "0"}, "--concurrency 0"},
		{"not a number", []string{"--concurrency", "1,x"}, "concurrency"},
		{"argument", []string{"extra"}, "extra"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := run(t, tt.args...)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, ExitUsage, tt.want)
			}
		})
	}
}
