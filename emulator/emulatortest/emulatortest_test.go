package emulatortest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

func TestNewServesAndCloses(t *testing.T) {
	var base string
	t.Run("inner", func(t *testing.T) {
		srv := emulatortest.New(t, emulatortest.WithTokens("only"))
		base = srv.BaseURL()
		req, _ := http.NewRequest("GET", base+"/users/me", nil)
		req.Header.Set("Authorization", "Bearer only")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	// The inner test's cleanup closed the server.
	if resp, err := http.Get(base + "/users/me"); err == nil {
		resp.Body.Close()
		t.Fatal("server still answering after its test ended")
	}
}

func TestStartWithFakeClock(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv, clk := emulatortest.Start(t, start)
	if !srv.Clock().Now().Equal(start) {
		t.Fatalf("clock %v", srv.Clock().Now())
	}
	if err := srv.AdvanceClock(time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := clk.Now(); !got.Equal(start.Add(time.Hour)) {
		t.Errorf("after advance %v", got)
	}
}
