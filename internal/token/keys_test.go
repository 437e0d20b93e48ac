package token

import (
	"crypto/rsa"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestThumbprintMatchesRFC7638Example(t *testing.T) {
	// RFC 7638 section 3.1.
	const (
		n    = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
		want = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	)
	if got := thumbprint(`{"e":"AQAB","kty":"RSA","n":"` + n + `"}`); got != want {
		t.Fatalf("thumbprint = %s; want %s", got, want)
	}
}

func TestJWKS(t *testing.T) {
	keys := newTestKeys(t)
	tests := []struct {
		name        string
		secret      string
		privateKeys string
		wantKeys    []string // kty of each published key, in order
	}{
		{"an HMAC secret is never published", `{"type":"HS256","key":"` + testSecret + `"}`, "", nil},
		{"one Ed25519 key", "", keys.ed, []string{"OKP"}},
		{"every rotation key is published, signing key first", "", keys.p521 + keys.rsa + keys.ed, []string{"EC", "RSA", "OKP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustConfig(t, tt.secret, tt.privateKeys)
			raw := cfg.JWKS()
			var doc struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Keys == nil || len(doc.Keys) != len(tt.wantKeys) {
				t.Fatalf("JWKS = %s; want %d keys", raw, len(tt.wantKeys))
			}
			for n, member := range doc.Keys {
				if member["kty"] != tt.wantKeys[n] || member["kid"] != cfg.keys[n].id || member["use"] != "sig" || member["alg"] != cfg.keys[n].alg {
					t.Errorf("key %d = %v", n, member)
				}
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := member[private]; ok {
						t.Errorf("key %d publishes private member %s", n, private)
					}
				}
			}
			raw[0] = 'X'
			if cfg.JWKS()[0] != '{' {
				t.Error("changing the returned JWKS changed the Config's")
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	tests := []struct {
		keyType string
		alg     string // what the key signs under the jwk_url form with this type
	}{
		{"Ed25519", "EdDSA"},
		{"RS256", "RS256"},
		{"RS384", "RS384"},
		{"RS512", "RS512"},
		{"ES256", "ES256"},
		{"ES384", "ES384"},
		{"ES512", "ES512"},
	}
	for _, tt := range tests {
		t.Run(tt.keyType+" key signs "+tt.alg, func(t *testing.T) {
			pemText, err := GenerateKey(tt.keyType, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(pemText, "-----BEGIN PRIVATE KEY-----\n") {
				t.Fatalf("GenerateKey = %q; want a PKCS#8 PEM block", pemText)
			}
			cfg := mustConfig(t, `{"type":"`+tt.keyType+`","jwk_url":"https://a.example/jwks"}`, pemText)
			if cfg.Algorithm() != tt.alg {
				t.Errorf("Algorithm = %s; want %s", cfg.Algorithm(), tt.alg)
			}
			if rsaKey, ok := cfg.keys[0].sign.(*rsa.PrivateKey); ok && rsaKey.N.BitLen() != 2048 {
				t.Errorf("RSA key has %d bits; want 2048", rsaKey.N.BitLen())
			}
		})
	}
}

func TestGenerateKeyEd25519UsesTheGivenRandomness(t *testing.T) {
	first, err := GenerateKey("Ed25519", &countingReader{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := GenerateKey("Ed25519", &countingReader{})
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatal("the same randomness made two different Ed25519 keys")
	}
}

func TestGenerateKeyRefusals(t *testing.T) {
	tests := []struct {
		name    string
		keyType string
		random  io.Reader
		want    string
	}{
		{"unknown key type is refused", "PS256", nil, `key type "PS256" is not one of`},
		{"Hasura's HMAC type is refused", "HS256", nil, `key type "HS256"`},
		{"failing randomness is reported", "Ed25519", failingReader{}, "entropy source broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := GenerateKey(tt.keyType, tt.random)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("GenerateKey error = %v; want %q", err, tt.want)
			}
		})
	}
}
