package emulator_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

// admin calls the admin API and decodes its JSON answer.
func admin(t *testing.T, srv *emulator.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.AdminURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, path, raw)
	}
	return resp.StatusCode, out
}

func TestAdminAPI(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	srv, _ := emulatortest.Start(t, start)
	rc := newReceiver(t)
	gid, secret := createWebhook(t, srv, srv.Token(), srv.ProjectGID(), rc.URL, nil)
	rc.waitFor(t, "heartbeat", func(ds []delivered) bool { return len(ds) >= 1 })

	t.Run("clock", func(t *testing.T) {
		code, out := admin(t, srv, "POST", "/clock/advance", `{"duration":"8h"}`)
		if code != 200 || !strings.HasPrefix(out["now"].(string), "2026-05-01T20:00:00") {
			t.Fatalf("%d %v", code, out)
		}
		if code, _ := admin(t, srv, "POST", "/clock/advance", `{"duration":"soon"}`); code != 400 {
			t.Errorf("bad duration: %d", code)
		}
		if code, out := admin(t, srv, "GET", "/clock", ""); code != 200 || out["kind"] != "advanceable" {
			t.Errorf("%d %v", code, out)
		}
	})
	t.Run("heartbeat", func(t *testing.T) {
		before := len(rc.deliveries())
		code, out := admin(t, srv, "POST", "/heartbeat", `{"webhook":"`+gid+`"}`)
		if code != 200 || out["triggered"] != float64(1) {
			t.Fatalf("%d %v", code, out)
		}
		rc.waitFor(t, "forced heartbeat", func(ds []delivered) bool { return len(ds) > before })
	})
	t.Run("emit", func(t *testing.T) {
		before := len(deliveredEvents(t, rc.deliveries()))
		code, out := admin(t, srv, "POST", "/events/emit", `{"resource":"`+srv.ProjectGID()+`","count":7}`)
		if code != 200 || out["emitted"] != float64(7) {
			t.Fatalf("%d %v", code, out)
		}
		rc.waitFor(t, "emitted events", func(ds []delivered) bool { return len(deliveredEvents(t, ds)) >= before+7 })
		if code, _ := admin(t, srv, "POST", "/events/emit", `{"resource":"1","count":1}`); code != 404 {
			t.Errorf("unknown resource: %d", code)
		}
		if code, _ := admin(t, srv, "POST", "/events/emit", `{"resource":"`+srv.ProjectGID()+`","count":0}`); code != 400 {
			t.Errorf("count 0: %d", code)
		}
	})
	t.Run("inject", func(t *testing.T) {
		ev := `{"user":{"gid":"1","resource_type":"user"},"created_at":"2026-05-01T12:00:00.000Z","action":"changed","resource":{"gid":"2","resource_type":"task","resource_subtype":"default_task"},"parent":null,"change":{"field":"name","action":"changed","new_value":"<a & b> / é \u2028"}}`
		code, out := admin(t, srv, "POST", "/events/inject", `{"resource":"`+srv.ProjectGID()+`","events":[`+ev+`]}`)
		if code != 200 || out["webhooks"] != float64(1) {
			t.Fatalf("%d %v", code, out)
		}
		ds := rc.waitFor(t, "injected event", func(ds []delivered) bool {
			for _, d := range ds {
				if bytes.Contains(d.body, []byte("<a & b>")) {
					return true
				}
			}
			return false
		})
		for _, d := range ds {
			if bytes.Contains(d.body, []byte("<a & b>")) && !asana.Verify(asana.NewSecret(secret), d.body, d.signature) {
				t.Error("injected delivery not signed")
			}
		}
		if code, _ := admin(t, srv, "POST", "/events/inject", `{"resource":"`+srv.ProjectGID()+`","events":[{"a":]}`); code != 400 {
			t.Errorf("bad event: %d", code)
		}
	})
	t.Run("deliveries", func(t *testing.T) {
		code, out := admin(t, srv, "GET", "/deliveries?webhook="+gid, "")
		if code != 200 {
			t.Fatal(code)
		}
		list := out["deliveries"].([]any)
		if len(list) < 3 {
			t.Fatalf("%d deliveries", len(list))
		}
		first := list[0].(map[string]any)
		if first["kind"] != "handshake" {
			t.Errorf("first record %v", first["kind"])
		}
		for _, x := range list[1:] {
			d := x.(map[string]any)
			raw, err := base64.StdEncoding.DecodeString(d["body_base64"].(string))
			if err != nil || string(raw) != d["body"] {
				t.Errorf("body and body_base64 differ: %v", d)
			}
			if d["webhook"] != gid || d["status"] != float64(200) {
				t.Errorf("record %v", d)
			}
		}
	})
	t.Run("settings and faults", func(t *testing.T) {
		code, out := admin(t, srv, "PUT", "/settings", `{"strict":true,"rate_limit":150,"delivery":{"batch_window":"2s"}}`)
		if code != 200 || out["strict"] != true || out["rate_limit"] != float64(150) || out["delivery"].(map[string]any)["batch_window"] != "2s" {
			t.Fatalf("%d %v", code, out)
		}
		r := call(t, srv, srv.Token(), "POST", "/webhooks", map[string]any{"data": map[string]any{"resource": srv.ProjectGID(), "target": rc.URL + "/strict"}})
		if r.status != http.StatusForbidden {
			t.Errorf("strict after settings: %d", r.status)
		}
		if code, _ := admin(t, srv, "PUT", "/settings", `{"delivery":{"deadline":"x"}}`); code != 400 {
			t.Errorf("bad deadline: %d", code)
		}
		code, out = admin(t, srv, "PUT", "/faults", `{"drop_rate":0.5,"delay":"10ms"}`)
		if code != 200 || out["drop_rate"] != 0.5 || out["delay"] != "10ms" {
			t.Fatalf("%d %v", code, out)
		}
		if code, _ := admin(t, srv, "PUT", "/faults", `{"drop_rate":2}`); code != 400 {
			t.Errorf("rate 2: %d", code)
		}
	})
	t.Run("state and reset", func(t *testing.T) {
		code, out := admin(t, srv, "GET", "/state", "")
		if code != 200 || out["webhooks"] != float64(1) || out["tasks"] != float64(5) {
			t.Fatalf("%d %v", code, out)
		}
		code, out = admin(t, srv, "POST", "/reset", "")
		if code != 200 || out["webhooks"] != float64(0) || out["deliveries"] != float64(0) || out["events"] != float64(0) {
			t.Fatalf("%d %v", code, out)
		}
		if r := call(t, srv, srv.Token(), "GET", "/webhooks/"+gid, nil); r.status != 404 {
			t.Errorf("webhook after reset: %d", r.status)
		}
	})
	t.Run("unknown admin route", func(t *testing.T) {
		code, out := admin(t, srv, "GET", "/nope", "")
		if code != 404 || out["errors"] == nil {
			t.Errorf("%d %v", code, out)
		}
	})
}

func TestAdvanceRealClockFails(t *testing.T) {
	srv := emulatortest.New(t)
	if err := srv.AdvanceClock(time.Hour); err == nil {
		t.Error("advancing the real clock succeeded")
	}
	if code, _ := admin(t, srv, "POST", "/clock/advance", `{"duration":"1h"}`); code != 400 {
		t.Errorf("admin advance on the real clock: %d", code)
	}
}
