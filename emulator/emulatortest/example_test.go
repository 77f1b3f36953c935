package emulatortest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/emulator/emulatortest"
)

// ExampleNew shows the start of a test of your own code against a local
// Asana. It is a function of a test (it needs t), so it is compiled here and
// run in full by TestReceiverAgainstEmulator below.
func ExampleNew() {
	_ = func(t *testing.T) {
		srv := emulatortest.New(t) // a free loopback port, closed when t ends
		client := asana.NewClient(srv.Token(), asana.WithBaseURL(srv.BaseURL()))
		if _, err := client.Me(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.CreateTask("", srv.ProjectGID(), "Write tests"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReceiverAgainstEmulator is what a test of a webhook receiver looks
// like: the emulator performs the handshake, then delivers a signed batch
// when a task is created, which the receiver verifies with asana.Verify.
func TestReceiverAgainstEmulator(t *testing.T) {
	srv := emulatortest.New(t)
	client := asana.NewClient(srv.Token(), asana.WithBaseURL(srv.BaseURL()))

	var mu sync.Mutex
	var secret asana.Secret
	events := make(chan asana.Event, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := r.Header.Get(asana.HeaderSecret); s != "" { // the handshake
			mu.Lock()
			secret = asana.NewSecret(s)
			mu.Unlock()
			w.Header().Set(asana.HeaderSecret, s)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		mu.Lock()
		ok := err == nil && asana.Verify(secret, body, r.Header.Get(asana.HeaderSignature))
		mu.Unlock()
		if !ok {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var batch struct{ Events []asana.Event }
		if err := json.Unmarshal(body, &batch); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		for _, e := range batch.Events {
			select {
			case events <- e:
			default:
			}
		}
	}))
	t.Cleanup(receiver.Close)

	ctx := context.Background()
	if _, err := client.CreateWebhook(ctx, asana.CreateWebhookRequest{
		Resource: srv.ProjectGID(), Target: receiver.URL + "/hook",
	}); err != nil {
		t.Fatalf("create webhook: %v", err)
	}
	task, err := srv.CreateTask("", srv.ProjectGID(), "Write tests")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Resource.GID == task && e.Action == "added" {
				return
			}
		case <-deadline:
			t.Fatalf("no verified delivery of task %s's creation", task)
		}
	}
}
