package token

import (
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"authgate/internal/clock"
)

// TestTokensVerifyWithGoJose checks authgate's tokens and JWKS with a second,
// independent JOSE implementation, as Hasura will.
func TestTokensVerifyWithGoJose(t *testing.T) {
	keys := newTestKeys(t)
	for _, typ := range allTypes() {
		t.Run(typ, func(t *testing.T) {
			cfg := configFor(t, keys, typ, map[string]any{"issuer": fixtureIssuer, "audience": []string{"hasura", "reports"}})
			clk := clock.NewFake(startTime())
			tok, err := newTestIssuer(cfg, clk).Issue(sampleClaims())
			if err != nil {
				t.Fatal(err)
			}

			parsed, err := josejwt.ParseSigned(tok.Value, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(cfg.Algorithm())})
			if err != nil {
				t.Fatalf("go-jose ParseSigned: %v", err)
			}
			kid := parsed.Headers[0].KeyID
			var verifyKey any
			if cfg.Symmetric() {
				verifyKey = []byte(testSecret)
				if want := octThumbprint(t, []byte(testSecret)); kid != want {
					t.Errorf("HMAC kid = %s; want the RFC 7638 thumbprint %s", kid, want)
				}
			} else {
				var set jose.JSONWebKeySet
				if err := json.Unmarshal(cfg.JWKS(), &set); err != nil {
					t.Fatalf("go-jose reading JWKS: %v", err)
				}
				found := set.Key(kid)
				if len(found) != 1 {
					t.Fatalf("JWKS has %d keys with kid %s; want 1", len(found), kid)
				}
				jwk := found[0]
				if !jwk.Valid() || !jwk.IsPublic() || jwk.Use != "sig" || jwk.Algorithm != cfg.Algorithm() {
					t.Errorf("JWK valid %v public %v use %q alg %q; want a valid public sig key for %s",
						jwk.Valid(), jwk.IsPublic(), jwk.Use, jwk.Algorithm, cfg.Algorithm())
				}
				thumb, err := jwk.Thumbprint(crypto.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				if b64(thumb) != kid {
					t.Errorf("kid %s is not go-jose's thumbprint %s", kid, b64(thumb))
				}
				verifyKey = jwk.Key
			}

			var std josejwt.Claims
			var all map[string]any
			if err := parsed.Claims(verifyKey, &std, &all); err != nil {
				t.Fatalf("go-jose signature check: %v", err)
			}
			expected := josejwt.Expected{
				Issuer:      fixtureIssuer,
				AnyAudience: josejwt.Audience{"hasura"},
				Subject:     sampleClaims().UserID,
				ID:          tok.ID,
				Time:        clk.Now(),
			}
			if err := std.ValidateWithLeeway(expected, 0); err != nil {
				t.Errorf("go-jose claim check: %v", err)
			}
			if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: "https://other.example", Time: clk.Now()}, 0); err == nil {
				t.Error("go-jose accepted a different issuer; the check above proves nothing")
			}
			if err := std.ValidateWithLeeway(josejwt.Expected{AnyAudience: josejwt.Audience{"billing"}, Time: clk.Now()}, 0); err == nil {
				t.Error("go-jose accepted a different audience; the check above proves nothing")
			}
			namespace, _ := all[defaultNamespace].(map[string]any)
			if namespace["x-hasura-user-id"] != sampleClaims().UserID || namespace["x-hasura-default-role"] != "user" {
				t.Errorf("go-jose read namespace %v", namespace)
			}
		})
	}
}

func octThumbprint(t *testing.T, secret []byte) string {
	t.Helper()
	canonical, err := json.Marshal(map[string]string{"kty": "oct", "k": b64(secret)})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canonical)
	return b64(sum[:])
}

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
