package asana_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

func ExampleVerify() {
	secret := asana.NewSecret("8f14e45fceea167a5a36dedd4bea2543")
	body := []byte(`{"events":[]}`)
	sig := asana.Sign(secret, body) // what Asana sends as X-Hook-Signature
	fmt.Println(asana.Verify(secret, body, sig))
	fmt.Println(asana.Verify(secret, []byte(`{"events":[ ]}`), sig))
	fmt.Println(secret) // a Secret never prints its value
	// Output:
	// true
	// false
	// [REDACTED]
}

func ExampleClient_Events() {
	// A stand-in for Asana: the first call has no token and gets a 412.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sync") == "" {
			w.WriteHeader(http.StatusPreconditionFailed)
			fmt.Fprint(w, `{"errors":[{"message":"Sync token invalid or too old."}],"sync":"tok1"}`)
			return
		}
		fmt.Fprint(w, `{"data":[],"sync":"tok2","has_more":false}`)
	}))
	defer srv.Close()
	c := asana.NewClient("token", asana.WithBaseURL(srv.URL))

	ctx := context.Background()
	_, err := c.Events(ctx, "1207749977080033", "")
	var se *asana.SyncError
	if errors.As(err, &se) && !se.HadToken {
		page, err := c.Events(ctx, "1207749977080033", se.Sync)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(len(page.Events), page.Sync, page.HasMore)
	}
	// Output: 0 tok2 false
}
