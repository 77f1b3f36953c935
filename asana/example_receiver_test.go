package asana_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// A receiver answers the handshake by echoing X-Hook-Secret, keeps the
// secret, and checks X-Hook-Signature over the raw body before decoding it.
func Example_receiver() {
	var secret asana.Secret // one per webhook; store it, never log it
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := r.Header.Get(asana.HeaderSecret); s != "" {
			secret = asana.NewSecret(s)
			w.Header().Set(asana.HeaderSecret, s)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil || !asana.Verify(secret, body, r.Header.Get(asana.HeaderSignature)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Store the events, then answer 200 within Asana's deadline.
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()

	post := func(header, value, body string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set(header, value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := `{"events":[]}`
	fmt.Println(post(asana.HeaderSecret, "s3cr3t", ""))
	fmt.Println(post(asana.HeaderSignature, asana.Sign(asana.NewSecret("s3cr3t"), []byte(body)), body))
	fmt.Println(post(asana.HeaderSignature, asana.Sign(asana.NewSecret("forged"), []byte(body)), body))
	// Output:
	// 200
	// 200
	// 401
}
