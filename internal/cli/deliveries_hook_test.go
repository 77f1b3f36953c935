package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// TestDeliveriesListHookPrefix checks that --hook takes the short hook id
// that the HOOK column and the inspector's output show.
func TestDeliveriesListHookPrefix(t *testing.T) {
	ctx := t.Context()
	db := filepath.Join(t.TempDir(), "inspector.db")
	st, err := sqlite.Open(ctx, db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rn := inspector.Run{ID: inspector.NewHookID(), StartedAt: time.Now(), PublicURL: "https://example.test"}
	if err := st.CreateRun(ctx, rn); err != nil {
		t.Fatal(err)
	}
	// Two hooks sharing their first 4 characters, one delivery each.
	ids := []string{"abcd1111" + strings.Repeat("0", 24), "abcd2222" + strings.Repeat("0", 24)}
	delivery := map[string]int64{}
	for _, id := range ids {
		hook := inspector.Hook{ID: id, Resource: asana.Compact{GID: "1200000000000002"}, Target: "https://example.test/hooks/" + id, RunID: rn.ID}
		if err := st.CreateHook(ctx, hook); err != nil {
			t.Fatal(err)
		}
		res, err := st.RecordDelivery(ctx, inspector.Delivery{HookID: id, Kind: inspector.KindEvents, Body: []byte(`{"events":[]}`)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		delivery[id] = res.Delivery.ID
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, hook string
		code       int
		want       string // in stdout when code is 0, else in stderr
	}{
		{"whole id", ids[0], ExitOK, fmt.Sprintf(`"id":%d,`, delivery[ids[0]])},
		{"as the table shows it", "abcd2222", ExitOK, fmt.Sprintf(`"id":%d,`, delivery[ids[1]])},
		{"ambiguous", "abcd", ExitUsage, "--hook abcd matches 2 hooks"},
		{"unknown", "ffff0000", ExitError, "no hook ffff0000 in the inspector database"},
		{"too short", "abc", ExitUsage, "want a hook id"},
		{"not hexadecimal", "zzzz1111", ExitUsage, "want a hook id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, invocation{args: []string{"deliveries", "list", "--db", db, "--json", "--hook", tt.hook}})
			if res.code != tt.code {
				t.Fatalf("exit code = %d, want %d; stderr %q", res.code, tt.code, res.stderr)
			}
			if tt.code == ExitOK {
				if got := lines(res.stdout); len(got) != 1 || !strings.Contains(got[0], tt.want) {
					t.Errorf("stdout = %q, want one delivery with %q", res.stdout, tt.want)
				}
				return
			}
			if !strings.Contains(res.stderr, tt.want) {
				t.Errorf("stderr = %q, want %q", res.stderr, tt.want)
			}
		})
	}
}
