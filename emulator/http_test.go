package emulator_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

func TestRateLimit(t *testing.T) {
	srv, clk := emulatortest.Start(t, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
		emulatortest.WithRateLimit(5), emulatortest.WithTokens("a", "b"))
	for i := range 5 {
		if r := call(t, srv, "a", "GET", "/users/me", nil); r.status != http.StatusOK {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := call(t, srv, "a", "GET", "/users/me", nil)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("6th request: %d %s", r.status, r.raw)
	}
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	if msg := r.errorMessage(t); !strings.Contains(msg, "rate limit") {
		t.Errorf("message %q", msg)
	}
	// Budgets are per token.
	if r := call(t, srv, "b", "GET", "/users/me", nil); r.status != http.StatusOK {
		t.Errorf("other token: %d", r.status)
	}
	// Rejected requests count: after 30 s the window still holds them.
	clk.Advance(30 * time.Second)
	if r := call(t, srv, "a", "GET", "/users/me", nil); r.status != http.StatusTooManyRequests {
		t.Errorf("after 30s: %d", r.status)
	}
	clk.Advance(61 * time.Second)
	if r := call(t, srv, "a", "GET", "/users/me", nil); r.status != http.StatusOK {
		t.Errorf("after the window: %d %s", r.status, r.raw)
	}
}

func TestOptFieldsAndPretty(t *testing.T) {
	srv := emulatortest.New(t)
	task, _ := srv.CreateTask("", srv.ProjectGID(), "Fields")
	tests := []struct {
		name, query string
		wantKeys    []string
	}{
		{"comma", "opt_fields=name,completed", []string{"completed", "gid", "name"}},
		{"repeated", "opt_fields=name&opt_fields=notes", []string{"gid", "name", "notes"}},
		{"dotted", "opt_fields=assignee.name,projects.name", []string{"assignee", "gid", "projects"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, srv, srv.Token(), "GET", "/tasks/"+task+"?"+tc.query, nil)
			d := r.data(t)
			var keys []string
			for k := range d {
				keys = append(keys, k)
			}
			if strings.Join(sorted(keys), ",") != strings.Join(tc.wantKeys, ",") {
				t.Errorf("keys %v, want %v", sorted(keys), tc.wantKeys)
			}
		})
	}
	r := call(t, srv, srv.Token(), "GET", "/tasks/"+task+"?opt_fields=projects.name", nil)
	p := r.data(t)["projects"].([]any)[0].(map[string]any)
	if len(p) != 2 || p["name"] != "Launch plan" || p["gid"] != srv.ProjectGID() {
		t.Errorf("dotted selection %v", p)
	}
	r = call(t, srv, srv.Token(), "GET", "/projects/"+srv.ProjectGID()+"/tasks?opt_fields=completed&limit=1", nil)
	if el := r.list(t)[0].(map[string]any); len(el) != 2 {
		t.Errorf("list with opt_fields %v", el)
	}
	r = call(t, srv, srv.Token(), "GET", "/users/me?opt_pretty", nil)
	if !strings.Contains(string(r.raw), "\n  \"data\"") {
		t.Errorf("opt_pretty not indented: %s", r.raw)
	}
	r = call(t, srv, srv.Token(), "PUT", "/tasks/"+task, map[string]any{"data": map[string]any{"name": "x"},
		"options": map[string]any{"pretty": true, "fields": []string{"name"}}})
	if d := r.data(t); len(d) != 2 || !strings.Contains(string(r.raw), "\n") {
		t.Errorf("options in body ignored: %s", r.raw)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestOptFieldsGroupExplosion checks that opt_fields whose group operators
// multiply out to too many paths are refused with a 400 before the handler
// runs (each "(a|b)" doubles the paths: 40 of them would be 2^40), and that a
// mutation carrying them is not applied.
func TestOptFieldsGroupExplosion(t *testing.T) {
	srv := emulatortest.New(t)
	bomb := strings.TrimSuffix(strings.Repeat("(name|notes).", 16), ".")
	tests := []struct {
		name, method, path string
		body               any
	}{
		{"GET query", "GET", "/users/me?opt_fields=" + bomb, nil},
		{"POST query", "POST", "/tasks?opt_fields=" + bomb,
			map[string]any{"data": map[string]any{"name": "bomb", "projects": []string{srv.ProjectGID()}}}},
		{"POST options", "POST", "/tasks",
			map[string]any{"data": map[string]any{"name": "bomb", "projects": []string{srv.ProjectGID()}},
				"options": map[string]any{"fields": []string{bomb}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.State().Tasks
			r := call(t, srv, srv.Token(), tc.method, tc.path, tc.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %.200s", r.status, r.raw)
			}
			if msg := r.errorMessage(t); !strings.Contains(msg, "opt_fields") {
				t.Errorf("message %q does not name opt_fields", msg)
			}
			if after := srv.State().Tasks; after != before {
				t.Errorf("tasks %d -> %d: the mutation ran despite the refused opt_fields", before, after)
			}
		})
	}
}
