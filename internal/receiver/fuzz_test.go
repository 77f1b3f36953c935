package receiver

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/sqlite"
)

// FuzzReceiver sends random methods, paths, headers and bodies to the
// receiver over a real store. It must never panic, and never answer 2xx to a
// POST on a hook path unless the body is signed with that hook's secret (no
// handshake window is open, so no handshake may succeed either).
func FuzzReceiver(f *testing.F) {
	st, err := sqlite.Open(f.Context(), filepath.Join(f.TempDir(), "fuzz.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	run := inspector.Run{ID: inspector.NewHookID(), PublicURL: "http://127.0.0.1"}
	if err := st.CreateRun(f.Context(), run); err != nil {
		f.Fatal(err)
	}
	hookID := inspector.NewHookID()
	if err := st.CreateHook(f.Context(), inspector.Hook{ID: hookID, Resource: asana.Compact{GID: "1"}, Target: "t", RunID: run.ID}); err != nil {
		f.Fatal(err)
	}
	if err := st.SaveHandshake(f.Context(), hookID, asana.NewSecret(activeSecret)); err != nil {
		f.Fatal(err)
	}
	bare := inspector.NewHookID() // a hook with no secret
	if err := st.CreateHook(f.Context(), inspector.Hook{ID: bare, Resource: asana.Compact{GID: "2"}, Target: "t", RunID: run.ID}); err != nil {
		f.Fatal(err)
	}
	h, err := New(Config{Store: st, Windows: &inspector.HandshakeWindows{}, MaxBodyBytes: 64 << 10,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	handler := LimitInFlight(h, 8, 0, nil)

	signed := body(eventJSON("1", "completed"))
	for _, seed := range []struct {
		method   string
		target   uint8
		tail     string
		secret   string
		sig      string
		hasExtra bool
		body     []byte
	}{
		{"POST", 0, "", "", sign(activeSecret, signed), false, signed},
		{"POST", 0, "", "", sign(activeSecret, []byte(`{"events":[]}`)), false, []byte(`{"events":[]}`)},
		{"POST", 0, "", "", sign(activeSecret, []byte(`nope`)), false, []byte(`nope`)},
		{"POST", 0, "", "", strings.ToUpper(sign(activeSecret, signed)), true, signed},
		{"POST", 0, "", "s3cret", "", false, nil},
		{"POST", 1, "", "", sign("", signed), false, signed},
		{"POST", 2, "", "", sign(activeSecret, signed), false, signed},
		{"POST", 3, "../" + hookID, "", "", false, signed},
		{"GET", 4, "nonce", "", "", false, nil},
		{"DELETE", 0, "", "", "", false, nil},
		{"POST", 5, "/hooks/" + strings.ToUpper(hookID), "", sign(activeSecret, signed), false, signed},
	} {
		f.Add(seed.method, seed.target, seed.tail, seed.secret, seed.sig, seed.hasExtra, seed.body)
	}

	f.Fuzz(func(t *testing.T, method string, target uint8, tail, secret, sig string, hasExtra bool, b []byte) {
		var path string
		switch target % 6 {
		case 0:
			path = HookPath(hookID)
		case 1:
			path = HookPath(bare)
		case 2:
			path = HookPath(inspector.NewHookID())
		case 3:
			path = "/hooks/" + tail
		case 4:
			path = "/_preflight/" + tail
		default:
			path = "/" + strings.TrimPrefix(tail, "/")
		}
		req := &http.Request{
			Method:        method,
			URL:           &url.URL{Path: path, RawQuery: "project=1"},
			RequestURI:    path + "?project=1",
			Proto:         "HTTP/1.1",
			ProtoMajor:    1,
			ProtoMinor:    1,
			Header:        http.Header{},
			Body:          io.NopCloser(bytes.NewReader(b)),
			ContentLength: int64(len(b)),
			Host:          "example.test",
			RemoteAddr:    "192.0.2.1:1234",
		}
		req = req.WithContext(t.Context())
		if secret != "" || target%2 == 1 && hasExtra {
			req.Header[asana.HeaderSecret] = []string{secret}
		}
		if sig != "" || hasExtra {
			req.Header[asana.HeaderSignature] = []string{sig}
		}
		if hasExtra {
			req.Header["Authorization"] = []string{"Bearer " + tail}
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code < 200 || rec.Code > 299 {
			return
		}
		if (method == http.MethodGet || method == http.MethodHead) && strings.HasPrefix(path, "/_preflight/") {
			return
		}
		_, isHandshake := req.Header[asana.HeaderSecret]
		if isHandshake {
			t.Fatalf("handshake with no open window got %d", rec.Code)
		}
		if path != HookPath(hookID) {
			t.Fatalf("POST %s got %d", path, rec.Code)
		}
		if !asana.Verify(asana.NewSecret(activeSecret), b, sig) {
			t.Fatalf("unsigned or wrongly signed delivery got %d (sig %q)", rec.Code, sig)
		}
		if strings.Contains(rec.Body.String(), activeSecret) {
			t.Fatal("response contains the secret")
		}
	})
}
