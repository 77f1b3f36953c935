package emulator_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator"
	"github.com/asana-webhooks/asana-webhooks/emulator/delivery"
)

// FuzzRequestDecoding sends random methods, paths, content types and
// bodies through the handler: it must never panic, and every error response
// must be Asana's envelope with a message.
func FuzzRequestDecoding(f *testing.F) {
	seeds := []struct{ method, path, ctype, body string }{
		{"POST", "/api/1.0/webhooks", "application/json", `{"data":{"resource":"1200000000000003","target":"http://127.0.0.1:1/"}}`},
		{"POST", "/api/1.0/webhooks", "application/json", `{"data":{"resource":"1200000000000003","target":"x","filters":[{"fields":["a"]}]}}`},
		{"PUT", "/api/1.0/webhooks/1200000000000003", "application/json", `{"data":{"filters":null}}`},
		{"POST", "/api/1.0/tasks", "application/x-www-form-urlencoded", "projects=1200000000000004&name=a&completed=true"},
		{"PUT", "/api/1.0/tasks/1200000000000010", "application/json", `{"data":{"completed":"x","assignee":null},"options":{"fields":["name"]}}`},
		{"GET", "/api/1.0/tasks/1200000000000010?opt_fields=this.(name|notes).x,projects.name&opt_pretty", "", ""},
		{"GET", "/api/1.0/events?resource=1200000000000004&sync=", "", ""},
		{"GET", "/api/1.0/webhooks?workspace=1200000000000003&limit=0&offset=%%%", "", ""},
		{"POST", "/api/1.0/tasks/1200000000000010/addFollowers", "application/json", `{"data":{"followers":[1,{}]}}`},
		{"DELETE", "/api/1.0/tasks/..%2f", "", "{"},
		{"POST", "/_emulator/events/emit", "application/json", `{"resource":"1200000000000004","count":2}`},
		{"PUT", "/_emulator/faults", "application/json", `{"drop_rate":2}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.ctype, []byte(s.body))
	}
	// Webhook creates dial their target: a short handshake timeout keeps
	// the fuzzer fast on whatever URL it invents.
	e, err := emulator.New(emulator.Config{Delivery: delivery.Config{HandshakeTimeout: 100 * time.Millisecond}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Close)
	h := e.Handler()
	f.Fuzz(func(t *testing.T, method, path, ctype string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://emulator"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.Header.Set("Authorization", "Bearer "+emulator.DefaultToken)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 400 {
			return
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s %s: error with Content-Type %q", method, path, ct)
		}
		var env struct {
			Errors []struct {
				Message string `json:"message"`
				Help    string `json:"help"`
				Phrase  string `json:"phrase"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || len(env.Errors) == 0 || env.Errors[0].Message == "" || env.Errors[0].Help == "" {
			t.Fatalf("%s %s: %d body is not an envelope: %q", method, path, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 500 {
			t.Fatalf("%s %s: server error %q", method, path, rec.Body.Bytes())
		}
	})
}
