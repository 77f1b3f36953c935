package emulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPanicBecomes500 registers a handler that panics and checks the answer
// is a 500 envelope with a phrase.
func TestPanicBecomes500(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	e.handle("GET /boom", func(*call) (*result, error) { panic("boom") })
	e.handle("GET /fails", func(*call) (*result, error) { return nil, errForTest })
	for _, path := range []string{"/api/1.0/boom", "/api/1.0/fails"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		rec := httptest.NewRecorder()
		e.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("%s: status %d", path, rec.Code)
		}
		var env errorEnvelope
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || len(env.Errors) != 1 {
			t.Fatalf("%s: body %q", path, rec.Body.Bytes())
		}
		if d := env.Errors[0]; d.Message != "Server Error" || d.Phrase == "" || d.Help == "" {
			t.Errorf("%s: %+v", path, d)
		}
	}
}

type testError struct{}

func (testError) Error() string { return "internal detail that must not leak" }

var errForTest error = testError{}
