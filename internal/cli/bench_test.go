package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

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
		if want := "measuring the receiver and a bare handler for 100ms each at concurrency 1, 16: about 400ms (Ctrl+C to stop)...\n"; errOut != want {
			t.Errorf("stderr = %q, want the progress line %q", errOut, want)
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
	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errOut syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- Main(ctx, []string{"bench", "--duration", "30s", "--concurrency", "1"}, Env{
				Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }, WorkDir: t.TempDir(), Version: "test",
			})
		}()
		pollUntil(t, "the bench to start", func() bool { return strings.Contains(errOut.String(), "measuring") })
		cancel()
		select {
		case code := <-done:
			if code != ExitInterrupted {
				t.Errorf("exit %d, want %d; stderr %q", code, ExitInterrupted, errOut.String())
			}
			if out.String() != "" {
				t.Errorf("stdout = %q, want no report", out.String())
			}
			if !strings.HasSuffix(errOut.String(), "asana-webhooks: interrupted\n") {
				t.Errorf("stderr = %q, want it to end with the interruption", errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("bench did not stop within 30s of its interruption")
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
