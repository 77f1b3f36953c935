package asana

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Header names of Asana's webhook protocol.
const (
	// HeaderSecret carries the handshake secret, on the handshake request
	// and on its echo.
	HeaderSecret = "X-Hook-Secret"
	// HeaderSignature carries the hex HMAC-SHA256 of a delivery's body.
	HeaderSignature = "X-Hook-Signature"
)

// Sign returns the X-Hook-Signature value for body: the lowercase hex
// HMAC-SHA256 of the exact bytes, keyed with the secret. It returns "" for an
// empty secret, which no Verify accepts.
func Sign(secret Secret, body []byte) string {
	if secret.IsZero() {
		return ""
	}
	mac := hmac.New(sha256.New, []byte(secret.Reveal()))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether header is the signature of body under secret. The
// comparison is constant-time and accepts the hex digits in either case. An
// empty secret or an empty header never verifies.
func Verify(secret Secret, body []byte, header string) bool {
	header = strings.TrimSpace(header)
	if secret.IsZero() || header == "" {
		return false
	}
	got, err := hex.DecodeString(strings.ToLower(header))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret.Reveal()))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
