package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer and a poller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEmulateStartsAndStops runs `emulate` in-process on a free port, calls
// the printed API with the printed token, then cancels it like Ctrl+C.
func TestEmulateStartsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	env := map[string]string{"ASANA_EMULATOR_TOKENS": "tok-one,tok-two"}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"emulate", "--addr", "127.0.0.1:0", "--rate-limit", "0"}, Env{
			Stdout: &stdout, Stderr: &stderr, WorkDir: t.TempDir(),
			Getenv: func(k string) string { return env[k] },
		})
	}()
	baseRE := regexp.MustCompile(`API base URL:\s+(http://127\.0\.0\.1:\d+/api/1\.0)`)
	var base string
	deadline := time.Now().Add(20 * time.Second)
	for base == "" {
		if m := baseRE.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no base URL printed; stdout %q stderr %q", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := stdout.String()
	for _, want := range []string{"tok-one", "tok-two", "workspace gid:", "project gid:", "/_emulator/"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	req, _ := http.NewRequest("GET", base+"/users/me", nil)
	req.Header.Set("Authorization", "Bearer tok-two")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"resource_type":"user"`) {
		t.Fatalf("users/me: %d %s", resp.StatusCode, body)
	}
	// The command's clock is a Shifted one: the admin API can advance it.
	adminURL := strings.TrimSuffix(base, "/api/1.0") + "/_emulator/clock/advance"
	resp, err = http.Post(adminURL, "application/json", strings.NewReader(`{"duration":"8h"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "advanceable") {
		t.Errorf("clock advance: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("exit code %d, stderr %q", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("emulate did not stop after cancel")
	}
}

func TestEmulateBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"emulate", "--addr", "nope"},
		{"emulate", "--rate-limit", "-5"},
		{"emulate", "--deadline", "0s"},
		{"emulate", "--seed", "/does/not/exist.yaml", "--addr", "127.0.0.1:0"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stderr syncBuffer
			code := Main(context.Background(), args, Env{Stderr: &stderr, WorkDir: t.TempDir()})
			if code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr %q", code, ExitUsage, stderr.String())
			}
		})
	}
}

// TestEmulateJSON checks that --json prints the start information as one
// JSON object whose API URL and token work.
func TestEmulateJSON(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"emulate", "--addr", "127.0.0.1:0", "--json", "--token", "tok-a", "--token", "tok-b"}, Env{
			Stdout: &stdout, Stderr: &stderr, WorkDir: t.TempDir(),
		})
	}()
	pollUntil(t, "the JSON line", func() bool { return strings.HasSuffix(stdout.String(), "\n") })
	var info emulatorInfo
	if err := json.Unmarshal([]byte(stdout.String()), &info); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	if !strings.HasPrefix(info.APIURL, info.URL) || info.AdminURL != info.URL+"/_emulator" || info.WorkspaceGID == "" || info.ProjectGID == "" {
		t.Errorf("info = %+v", info)
	}
	if len(info.Tokens) != 2 || info.Tokens[0].Token != "tok-a" || info.Tokens[1].Token != "tok-b" || info.Tokens[0].UserGID == "" || info.Tokens[0].UserGID == info.Tokens[1].UserGID {
		t.Errorf("tokens = %+v, want tok-a and tok-b, two users", info.Tokens)
	}
	req, _ := http.NewRequest("GET", info.APIURL+"/projects/"+info.ProjectGID, nil)
	req.Header.Set("Authorization", "Bearer "+info.Tokens[1].Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET the printed project with the printed token: %d", resp.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("exit code %d, stderr %q", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("emulate did not stop after cancel")
	}
	if got := lines(stdout.String()); len(got) != 1 {
		t.Errorf("stdout has %d lines, want the JSON line only: %q", len(got), stdout.String())
	}
}
