package asana

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// vector is one entry of testdata/signatures.json, computed by OpenSSL (see
// testdata/gen-vectors.sh).
type vector struct {
	Name      string `json:"name"`
	Secret    string `json:"secret"`
	BodyHex   string `json:"body_hex"`
	Signature string `json:"signature"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/signatures.json")
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatalf("decode vectors: %v", err)
	}
	if len(vs) < 5 {
		t.Fatalf("only %d vectors", len(vs))
	}
	return vs
}

func (v vector) body(t *testing.T) []byte {
	t.Helper()
	b, err := hex.DecodeString(v.BodyHex)
	if err != nil {
		t.Fatalf("vector %q body: %v", v.Name, err)
	}
	return b
}

func TestSignMatchesOpenSSL(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			if got := Sign(NewSecret(v.Secret), v.body(t)); got != v.Signature {
				t.Errorf("Sign = %s, openssl says %s", got, v.Signature)
			}
		})
	}
}

func TestVerifyVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		body := v.body(t)
		s := NewSecret(v.Secret)
		flipped := []byte(v.Signature)
		if flipped[10] == '0' {
			flipped[10] = '1'
		} else {
			flipped[10] = '0'
		}
		tests := []struct {
			name   string
			secret Secret
			body   []byte
			header string
			want   bool
		}{
			{"lowercase", s, body, v.Signature, true},
			{"uppercase", s, body, strings.ToUpper(v.Signature), true},
			{"surrounding spaces", s, body, " " + v.Signature + "\t", true},
			{"empty secret", Secret{}, body, v.Signature, false},
			{"empty header", s, body, "", false},
			{"blank header", s, body, "   ", false},
			{"too short", s, body, v.Signature[:62], false},
			{"too long", s, body, v.Signature + "00", false},
			{"odd length", s, body, v.Signature[:63], false},
			{"non-hex", s, body, "zz" + v.Signature[2:], false},
			{"sha256= prefix", s, body, "sha256=" + v.Signature, false},
			{"flipped hex digit", s, body, string(flipped), false},
			{"wrong secret", NewSecret(v.Secret + "x"), body, v.Signature, false},
			{"body with an extra byte", s, append(append([]byte(nil), body...), ' '), v.Signature, false},
		}
		for _, tt := range tests {
			t.Run(v.Name+"/"+tt.name, func(t *testing.T) {
				if got := Verify(tt.secret, tt.body, tt.header); got != tt.want {
					t.Errorf("Verify = %v, want %v", got, tt.want)
				}
			})
		}
		t.Run(v.Name+"/flipped body byte", func(t *testing.T) {
			if len(body) == 0 {
				t.Skip("empty body has no byte to flip")
			}
			for i := range body {
				b := append([]byte(nil), body...)
				b[i] ^= 0x01
				if Verify(s, b, v.Signature) {
					t.Fatalf("flipping byte %d still verifies", i)
				}
			}
		})
	}
}

func TestSignEmptySecret(t *testing.T) {
	if got := Sign(Secret{}, []byte("body")); got != "" {
		t.Errorf("Sign with empty secret = %q, want \"\"", got)
	}
	if Verify(Secret{}, []byte("body"), Sign(Secret{}, []byte("body"))) {
		t.Error("empty secret verified")
	}
}

// FuzzSignVerify checks that a signature verifies its own body and that
// changing any one byte of the body or of the signature breaks it.
func FuzzSignVerify(f *testing.F) {
	f.Add("3b9d7a1c0e2f4a6b", []byte(`{"events":[]}`), uint(0))
	f.Add("k", []byte{}, uint(7))
	f.Add("clé", []byte("Größe ✓ 日本語"), uint(3))
	f.Fuzz(func(t *testing.T, secret string, body []byte, pos uint) {
		if secret == "" {
			if Sign(NewSecret(secret), body) != "" || Verify(NewSecret(secret), body, Sign(NewSecret(secret), body)) {
				t.Fatal("empty secret signs or verifies")
			}
			return
		}
		s := NewSecret(secret)
		sig := Sign(s, body)
		if len(sig) != 64 || sig != strings.ToLower(sig) {
			t.Fatalf("signature %q is not 64 lowercase hex digits", sig)
		}
		if !Verify(s, body, sig) {
			t.Fatal("own signature does not verify")
		}
		if !Verify(s, body, strings.ToUpper(sig)) {
			t.Fatal("uppercase signature does not verify")
		}
		if len(body) > 0 {
			b := append([]byte(nil), body...)
			b[pos%uint(len(b))] ^= 0x80
			if Verify(s, b, sig) {
				t.Fatalf("body with byte %d flipped verifies", pos%uint(len(b)))
			}
		}
		bs := []byte(sig)
		i := pos % uint(len(bs))
		// Replace the digit by a different hex digit (the same in another
		// case would be equal).
		if bs[i] == '0' {
			bs[i] = 'f'
		} else {
			bs[i] = '0'
		}
		if Verify(s, body, string(bs)) {
			t.Fatalf("signature with digit %d changed verifies", i)
		}
		bs[i] = 'g'
		if Verify(s, body, string(bs)) {
			t.Fatal("non-hex signature verifies")
		}
	})
}
