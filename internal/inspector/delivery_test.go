package inspector

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// parseBodies are delivery bodies the one-pass reading must read exactly as
// the several-pass one, or leave to it.
var parseBodies = []string{
	`{"events":[]}`,
	` { "events" : [ ] } `,
	`{"events":[{"action":"changed","resource":{"gid":"1","resource_type":"task"},"user":{"gid":"2"}}]}`,
	`{"events":[{"action":"added","resource":{"gid":"1","resource_type":"task"}}, {"resource":{"resource_type":"story","gid":"9"},"action":"removed"}]}`,
	`{"x":1,"events":[{"a":1}],"y":[1,2,{"z":null}]}`,
	`{"events":[{"action":1,"resource":"x"}]}`,
	`{"events":[{"action":"a","resource":{"gid":5,"resource_type":null}}]}`,
	`{"events":[{"action":"\u0061\n","resource":{"gid":"\u00e9","resource_type":"t\"q"}}]}`,
	`{"events":[{"ACTION":"upper","Resource":{"gid":"1"}}]}`,
	`{"events":[{"action":"a","action":"b"}]}`,
	`{"events":[{"action":"a","resource":{"gid":"1","gid":"2"}}]}`,
	`{"events":[],"events":[{"a":1}]}`,
	`{"ev\u0065nts":[{"action":"escaped name"}]}`,
	`{"Events":[]}`,
	`{}`,
	`[]`,
	`{"events":{}}`,
	`{"events":[1]}`,
	`{"events":[{"n":1e400}]}`,
	`{"events":[{"s":"\ud800"}]}`,
	`{"events":[{"a":1}]} trailing`,
	`{"events":[{"a":1},]}`,
	`{"events":[{"a":1}]`,
	``,
	`{"events":[{"nested":{"action":"inner","resource":{"gid":"inner"}}}]}`,
	`{"events":[{"action":"added","created_at":"2026-12-04T16:00:00.123Z","resource":{"gid":"1"}}]}`,
	`{"events":[{"created_at":1733328000}, {"created_at":null}, {"created_at":{"t":"x"}}]}`,
	`{"events":[{"created\u005fat":"2026-12-04T16:00:00.1\u0032Z"}, {"Created_At":"case differs"}]}`,
	`{"events":[{"created_at":"` + strings.Repeat("9", MaxEventCreatedAt) + `"}, {"created_at":"` + strings.Repeat("9", MaxEventCreatedAt+1) + `"}]}`,
	`{"events":[{"created_at":"a","created_at":"b"}]}`,
}

func TestParseDeliveryBodyOnePass(t *testing.T) {
	for _, body := range parseBodies {
		t.Run(body, func(t *testing.T) {
			checkParse(t, []byte(body))
		})
	}
	t.Run("created_at is read exactly, and only when it is a short string", func(t *testing.T) {
		got := ParseDeliveryBody([]byte(`{"events":[` +
			`{"created_at":"2026-12-04T16:00:00.123Z"},{"created\u005fat":"x\u0079"},{"created_at":7},{"Created_At":"no"},` +
			`{"created_at":"` + strings.Repeat("9", MaxEventCreatedAt) + `"},{"created_at":"` + strings.Repeat("9", MaxEventCreatedAt+1) + `"}]}`))
		if _, ok := parseDeliveryBodyFast([]byte(parseBodies[len(parseBodies)-5])); !ok {
			t.Error("the one-pass reading gave up on an ordinary event with created_at")
		}
		want := []string{"2026-12-04T16:00:00.123Z", "xy", "", "", strings.Repeat("9", MaxEventCreatedAt), ""}
		if len(got.Events) != len(want) {
			t.Fatalf("read %d events, want %d: %+v", len(got.Events), len(want), got)
		}
		for i, w := range want {
			if got.Events[i].CreatedAt != w {
				t.Errorf("event %d: CreatedAt %q, want %q", i, got.Events[i].CreatedAt, w)
			}
		}
	})
	t.Run("the one pass reads an ordinary delivery", func(t *testing.T) {
		body := []byte(parseBodies[3])
		got, ok := parseDeliveryBodyFast(body)
		if !ok {
			t.Fatal("the one-pass reading gave up on an ordinary delivery")
		}
		if got.Kind != KindEvents || len(got.Events) != 2 || got.Events[1].Action != "removed" ||
			got.Events[1].ResourceType != "story" || got.Events[1].ResourceGID != "9" {
			t.Errorf("read as %+v", got)
		}
	})
}

// checkParse compares ParseDeliveryBody and NewIncomingEvent with their
// several-pass versions on body.
func checkParse(t *testing.T, body []byte) {
	t.Helper()
	want := parseDeliveryBodySlow(body)
	if got := ParseDeliveryBody(body); !cmp.Equal(got, want) {
		t.Errorf("ParseDeliveryBody(%q) differs from the several-pass reading (-got +want):\n%s", body, cmp.Diff(got, want))
	}
	gotEv, gotErr := NewIncomingEvent(json.RawMessage(body))
	wantEv, wantErr := newIncomingEventSlow(json.RawMessage(body))
	if (gotErr == nil) != (wantErr == nil) || !cmp.Equal(gotEv, wantEv) {
		t.Errorf("NewIncomingEvent(%q) = %+v, %v; several passes: %+v, %v", body, gotEv, gotErr, wantEv, wantErr)
	}
}

func FuzzParseDeliveryBody(f *testing.F) {
	for _, body := range parseBodies {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParse(t, body)
	})
}
